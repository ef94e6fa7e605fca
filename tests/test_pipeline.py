"""Artifacts flow through the run folder, and stale ones are never reused (nor deleted)."""

import json

import pytest

from conftest import tiny_profile
from ttl import pipeline
from ttl.runs import RunDir


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    profile = tiny_profile(max_steps=4, save_every=4)
    profile.data.max_documents = 60
    run = RunDir(tmp_path_factory.mktemp("pipe") / "run").ensure()
    pipeline.ensure_checkpoint(profile, run, quiet=True)
    return profile, run


def test_each_stage_leaves_its_artifact(small_run):
    profile, run = small_run
    report = json.loads((run.corpus_dir / "report.json").read_text())
    assert report["status"] == "complete" and report["docs_out"] > 0
    assert (run.tokenizer_dir / "tokenizer.json").is_file()
    meta = json.loads((run.tokens_dir / "meta.json").read_text())
    assert meta["tokenizer"] == pipeline._fingerprint(run.tokenizer_dir / "tokenizer.json")
    assert (run.checkpoints_dir / "latest").read_text() == "step_0000004"


def test_finished_stages_are_reused(small_run, monkeypatch):
    profile, run = small_run
    import ttl.train

    monkeypatch.setattr(ttl.train, "pretrain", lambda *a, **k: pytest.fail("retrained a finished run"))
    model = pipeline.ensure_checkpoint(profile, run, quiet=True)
    assert model.config.vocab_size == profile.model.vocab_size


def test_curated_corpus_is_the_chapter_one_crawl(small_run):
    """Without chapter 1, the pipeline curates the same labelled crawl the chapter makes."""
    from ttl.data.crawl import make_raw_crawl, sample_documents

    profile, run = small_run
    crawl = make_raw_crawl(sample_documents(60), seed=profile.train.seed, language=profile.data.language)
    report = json.loads((run.corpus_dir / "report.json").read_text())
    assert report["docs_in"] == len(crawl)


def test_checkpoint_of_another_tokenizer_is_set_aside_not_reused(small_run, tmp_path):
    profile, run = small_run
    import shutil

    copy = RunDir(tmp_path / "copy")
    shutil.copytree(run.root, copy.root)
    # A different tokenizer (as if chapter 2 were rerun with another vocabulary size).
    from ttl.tokenizer import train_tokenizer

    train_tokenizer(["Outro texto para outro vocabulário, bem diferente."] * 50, 300, copy.tokenizer_dir,
                    show_progress=False)
    model = pipeline.ensure_checkpoint(profile, copy, quiet=True)
    assert (copy.root / "checkpoints.stale-1" / "latest").is_file()  # kept, under another name
    state = json.loads((copy.tokens_dir / "meta.json").read_text())
    assert state["tokenizer"] == pipeline._fingerprint(copy.tokenizer_dir / "tokenizer.json")
    assert model is not None
