"""Artifacts flow one way through the run folder; each stage's manifest says what made it, a
stale artifact is never reused, a builder sets it aside (never deletes it), and a command that
only reads never moves anything."""

import dataclasses
import json

import pytest

from helpers import copy_run, listing, small_profile, write_jsonl
from ttl import pipeline
from ttl.cli import main
from ttl.manifest import MANIFEST, StaleError, read_manifest


def test_every_stage_writes_a_manifest_that_chains_to_its_inputs(small_run):
    profile, run = small_run
    corpus, tok, tokens = (read_manifest(d) for d in (run.corpus_dir, run.tokenizer_dir, run.tokens_dir))
    ckpt = read_manifest(run.checkpoints_dir / "step_0000004")
    export = read_manifest(run.hf_model_dir)
    assert [m["stage"] for m in (corpus, tok, tokens, ckpt, export)] == [
        "corpus", "tokenizer", "tokens", "checkpoint", "export"]
    assert tok["inputs"] == {"corpus": corpus["digest"]}
    assert tokens["inputs"] == {"corpus": corpus["digest"], "tokenizer": tok["digest"]}
    assert ckpt["inputs"] == {"tokens": tokens["digest"], "tokenizer": tok["digest"]}
    assert export["inputs"]["checkpoint"] == ckpt["digest"]
    assert ckpt["config"]["model"] == dataclasses.asdict(profile.model) and ckpt["step"] == 4
    assert tok["config"]["vocab_size"] == profile.tokenizer.vocab_size
    for manifest in (corpus, tok, tokens, ckpt, export):
        assert set(manifest["versions"]) >= {"ttl", "torch", "transformers"} and manifest["profile"] == profile.name
    # The tokenizer fingerprint is no longer patched into meta.json: the manifest is its one place.
    assert "tokenizer" not in json.loads((run.tokens_dir / "meta.json").read_text())


def test_finished_stages_are_reused(small_run, monkeypatch):
    profile, run = small_run
    import ttl.train

    monkeypatch.setattr(ttl.train, "pretrain", lambda *a, **k: pytest.fail("retrained a finished run"))
    before = listing(run.root)
    model = pipeline.ensure_checkpoint(profile, run, quiet=True)
    assert model.config.vocab_size == profile.model.vocab_size
    assert listing(run.root) == before
    assert all(row["state"] == "fresh" for row in pipeline.run_status(profile, run))


def test_curated_corpus_is_the_chapter_one_crawl(small_run):
    """Without chapter 1, the pipeline curates the same labelled crawl the chapter makes."""
    from ttl.data.crawl import make_raw_crawl
    from ttl.data.loaders import load_corpus

    profile, run = small_run
    crawl = make_raw_crawl(load_corpus(max_documents=60), seed=profile.train.seed, language=profile.data.language)
    report = json.loads((run.corpus_dir / "report.json").read_text())
    assert report["docs_in"] == len(crawl)


def test_corpus_of_another_source_is_set_aside_and_the_profiles_source_curated(small_run, tmp_path):
    """A run folder whose corpus was curated from the sample is not reused by a profile that names
    another corpus (chapter 2 of a colab run could otherwise train on the sample)."""
    profile, run = small_run
    copy = copy_run(run, tmp_path)
    from ttl.data.readers import corpus_texts

    texts = list(corpus_texts(max_documents=140))[100:]  # documents the sample run did not read
    write_jsonl(tmp_path / "mine.jsonl", [{"text": t, "metadata": "{}"} for t in texts])
    mine = dataclasses.replace(profile, data=dataclasses.replace(profile.data, corpus=str(tmp_path / "mine.jsonl")))
    stale = {row["stage"]: row for row in pipeline.run_status(mine, copy)}
    assert stale["corpus"]["state"] == "stale" and any("input source" in w for w in stale["corpus"]["why"])
    assert stale["tokenizer"]["state"] == "stale"  # built on a stale corpus
    pipeline.ensure_corpus(mine, copy, quiet=True)
    assert (copy.root / "corpus.stale-1" / "report.json").is_file()   # kept, under another name
    assert read_manifest(copy.corpus_dir)["config"]["source"] == str(tmp_path / "mine.jsonl")


def test_checkpoint_of_another_tokenizer_is_set_aside_by_a_builder(small_run, tmp_path):
    profile, run = small_run
    copy = copy_run(run, tmp_path)
    # Another tokenizer config (as if chapter 2 were rerun with another vocabulary size).
    other = dataclasses.replace(profile, tokenizer=dataclasses.replace(profile.tokenizer, vocab_size=300))
    status = {row["stage"]: row for row in pipeline.run_status(other, copy)}
    assert status["tokenizer"]["state"] == "stale"
    assert "config vocab_size: 512 then, 300 now" in status["tokenizer"]["why"]
    model = pipeline.ensure_checkpoint(other, copy, quiet=True)
    assert (copy.root / "checkpoints.stale-1" / "latest").is_file()
    assert (copy.root / "tokenizer.stale-1" / "tokenizer.json").is_file()
    assert read_manifest(copy.tokens_dir)["inputs"]["tokenizer"] == read_manifest(copy.tokenizer_dir)["digest"]
    assert model is not None


def test_pretrain_refuses_to_resume_a_checkpoint_of_another_tokenizer(small_run, tmp_path):
    from ttl.data.packing import pack_documents
    from ttl.data.readers import corpus_texts
    from ttl.tokenizer import train_tokenizer
    from ttl.train import pretrain

    profile, run = small_run
    copy = copy_run(run, tmp_path)
    texts = list(corpus_texts(copy.corpus_dir))
    other_tok = train_tokenizer(texts[::-1], 400, tmp_path / "tok", show_progress=False)
    pack_documents(texts, other_tok, tmp_path / "tokens", val_fraction=0.1, show_progress=False)
    before = listing(copy.root)
    longer = small_profile(max_steps=6)
    with pytest.raises(StaleError, match="will not resume .*input tokenizer"):
        pretrain(longer, copy, tokens_dir=tmp_path / "tokens", show_progress=False)
    assert listing(copy.root) == before


def test_read_only_commands_never_move_anything(small_run, tmp_path, capsys):
    """`ttl generate` with a profile of another model shape used to rename the checkpoints aside."""
    profile, run = small_run
    copy = copy_run(run, tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("name: other\nmodel: {vocab_size: 512, hidden_size: 32, intermediate_size: 64, num_layers: 1,"
                     " num_heads: 2, num_kv_heads: 2, max_seq_len: 64}\ntokenizer: {vocab_size: 512}\n")
    before = listing(copy.root)
    for argv in (["generate", "--prompt", "Oi", "--max-new-tokens", "2"], ["eval", "--tasks", "hatebr"],
                 ["export"]):
        assert main([*argv, "--profile", str(other), "--out", str(copy.root)]) == 2
        err = capsys.readouterr().err
        assert "does not match this profile" in err and "model.hidden_size: 64 then, 32 now" in err
        assert listing(copy.root) == before
    assert main(["generate", "--prompt", "Oi", "--profile", str(other), "--out", str(tmp_path / "none")]) == 2
    assert "no run folder" in capsys.readouterr().err and not (tmp_path / "none").exists()


def test_export_to_a_folder_of_other_files_is_refused(small_run, tmp_path, capsys, monkeypatch):
    profile, run = small_run
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["export", "--out", str(run.root), "--to", str(tmp_path / "mine")]) == 2
    assert "not a ttl export" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["export", "--out", str(run.root), "--to", str(tmp_path / "exp")]) == 0
    assert read_manifest(tmp_path / "exp")["stage"] == "export"
    assert main(["export", "--out", str(run.root), "--to", str(tmp_path / "exp")]) == 0  # an export: replaced


def test_status_command_on_a_finished_run(small_run, capsys, monkeypatch):
    profile, run = small_run
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    assert main(["status", "--out", str(run.root)]) == 0
    out = capsys.readouterr().out
    for stage in ("corpus", "tokenizer", "tokens", "checkpoint", "hf_model"):
        assert any(line.split()[:2] == [stage, "fresh"] for line in out.splitlines()), (stage, out)
    assert main(["status", "--out", str(run.root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["state"] for r in rows} == {"fresh"}


def test_classifier_is_stale_when_its_dataset_changed(small_run, tmp_path, monkeypatch):
    """`ttl finetune` on new data used to return the classifier fine-tuned on the sample."""
    from ttl.data.loaders import load_hatebr

    profile, run = small_run
    profile = dataclasses.replace(profile, finetune=dataclasses.replace(profile.finetune, epochs=1,
                                                                        max_train_examples=16))
    copy = copy_run(run, tmp_path)
    calls = []
    import ttl.finetune

    real = ttl.finetune.finetune_classifier
    monkeypatch.setattr(ttl.finetune, "finetune_classifier", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    first = pipeline.ensure_classifier(profile, copy, "hatebr", quiet=True)
    again = pipeline.ensure_classifier(profile, copy, "hatebr", quiet=True)
    assert len(calls) == 1 and again["test_accuracy"] == first["test_accuracy"]
    # The same task from a local folder with other rows: fine-tuned again, the old one kept aside.
    sample = load_hatebr()
    folder = tmp_path / "hatebr"
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
        rows = [{"instagram_comments": r["instagram_comments"] + " !", "offensive_language": r["offensive_language"]}
                for r in sample[split]]
        write_jsonl(folder / f"{name}.jsonl", rows)
    mine = dataclasses.replace(profile, data=dataclasses.replace(profile.data, tasks={"hatebr": str(folder)}))
    pipeline.ensure_classifier(mine, copy, "hatebr", quiet=True)
    assert len(calls) == 2
    assert (copy.root / "classifiers" / "hatebr.stale-1" / "metrics.json").is_file()
    manifest = read_manifest(copy.classifier_dir("hatebr"))
    assert manifest["config"]["data_source"] == str(folder) and (copy.classifier_dir("hatebr") / MANIFEST).is_file()


def test_a_profile_names_its_curation_config(small_run, tmp_path):
    profile, run = small_run
    copy = copy_run(run, tmp_path)
    config = tmp_path / "light.yaml"
    config.write_text("steps:\n  - name: normalize\n  - name: exact_dedup\n", encoding="utf-8")
    light = dataclasses.replace(profile, data=dataclasses.replace(profile.data, curation=str(config)))
    status = {row["stage"]: row for row in pipeline.run_status(light, copy)}
    assert status["corpus"]["state"] == "stale" and any("curation" in w for w in status["corpus"]["why"])
    pipeline.ensure_corpus(light, copy, quiet=True)
    report = json.loads((copy.corpus_dir / "report.json").read_text())
    assert [step["name"] for step in report["steps"]] == ["normalize", "exact_dedup"]
