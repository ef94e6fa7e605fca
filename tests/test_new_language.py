"""Into a new language from the command line (issue 15): `ttl tokenizer extend` keeps every id
and Portuguese tokenization, `ttl continue` grows the model and trains its two stages, resumably."""

import json

import pytest
import torch

from helpers import copy_run
from ttl.cli import main
from ttl.data.loaders import corpus_sample_file, corpus_texts, load_corpus
from ttl.manifest import read_manifest
from ttl.model.resize import extend_embeddings, new_token_pieces
from ttl.tokenizer import load_tokenizer
from ttl.train.checkpoint import latest_checkpoint, load_checkpoint_model

PROFILE = """extends: smoke
train: {seq_len: 32, micro_batch_size: 4, grad_accum_steps: 1, save_every: 2, log_every: 1,
        eval_every: 2, eval_batches: 1}
continual:
  stage_1: {steps: 4, lr: 1.0e-3, warmup_steps: 1, schedule: constant, mix: {new: 0.85, replay: 0.15}}
  stage_2: {steps: 3, lr: 1.0e-3, warmup_steps: 0, schedule: cosine, mix: {new: 0.7, replay: 0.3}}
"""


@pytest.fixture(scope="module")
def spanish():
    return list(corpus_texts(load_corpus(language="es")))


def _fertility(tok, texts):
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts) / sum(len(t.split()) for t in texts)


def test_extend_then_continue_from_the_command_line(small_run, tmp_path, spanish, capsys):
    _, base = small_run
    run = copy_run(base, tmp_path)
    ext = tmp_path / "tok-es"
    # The Portuguese text the filter checks: new merges that would fire on it are left out.
    portuguese = list(corpus_texts(load_corpus(), max_documents=60))
    old_file = tmp_path / "pt.jsonl"
    old_file.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in portuguese))
    assert main(["tokenizer", "extend", "--base", str(run.tokenizer_dir), "--input", str(corpus_sample_file("es")),
                 "--add", "200", "--old-input", str(old_file), "--out", str(ext)]) == 0
    report = json.loads(capsys.readouterr().out)
    old, new = load_tokenizer(run.tokenizer_dir), load_tokenizer(ext)
    assert report["added"] == len(new) - len(old) >= 50
    # Every old id is the same token, and the Portuguese text is tokenized exactly as before.
    assert new.convert_ids_to_tokens(list(range(len(old)))) == old.convert_ids_to_tokens(list(range(len(old))))
    assert [new(t)["input_ids"] for t in portuguese] == [old(t)["input_ids"] for t in portuguese]
    # Spanish costs fewer tokens per word, and decodes back to itself.
    assert _fertility(new, spanish) < 0.97 * _fertility(old, spanish)
    assert report["fertility_new_after"] < report["fertility_new_before"]
    assert report["fertility_old_after"] == report["fertility_old_before"]
    assert new.decode(new(spanish[0])["input_ids"], skip_special_tokens=True) == spanish[0]
    assert read_manifest(ext)["stage"] == "tokenizer"

    profile = tmp_path / "continue.yaml"
    profile.write_text(PROFILE)
    args = ["continue", "--from", str(run.root), "--tokenizer", str(ext), "--profile", str(profile)]
    assert main(args + ["--stop-after", "2"]) == 0          # stopped mid stage 1, as a crash would
    capsys.readouterr()
    assert main(args) == 0                                   # resumes it, then runs stage 2
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"stage_1", "stage_2"}
    for stage, steps in (("stage_1", 4), ("stage_2", 3)):
        ckpt = latest_checkpoint(run.root / "continual" / stage / "checkpoints", warn=False)
        assert ckpt is not None and ckpt.name.endswith(str(steps))
    model = load_checkpoint_model(ckpt)
    assert model.config.vocab_size == len(new)
    rows = [json.loads(line) for line in
            (run.root / "continual" / "stage_1" / "checkpoints" / "metrics.jsonl").read_text().splitlines()]
    shares = [r["share_new"] for r in rows if "share_new" in r]
    assert shares and all(0.6 <= s <= 1 for s in shares)


def test_new_embeddings_are_the_mean_of_the_old_pieces(small_run, tmp_path, spanish):
    from ttl.tokenizer.extend import extend_tokenizer

    _, run = small_run
    old = load_tokenizer(run.tokenizer_dir)
    model = load_checkpoint_model(latest_checkpoint(run.root / "checkpoints", warn=False))
    new, _ = extend_tokenizer(old, spanish, 60)
    grown = extend_embeddings(model, old, new)
    pieces = new_token_pieces(old, new)
    assert len(pieces) == len(new) - len(old) and grown.config.vocab_size == len(new)
    for new_id, ids in list(pieces.items())[:20]:
        # The pieces spell the new token, and its two rows are their mean.
        assert "".join(old.convert_ids_to_tokens(ids)) == new.convert_ids_to_tokens(new_id)
        for name in ("embed", "lm_head"):
            table, base_table = getattr(grown, name).weight, getattr(model, name).weight
            assert torch.allclose(table[new_id], base_table[ids].mean(0), atol=1e-6)
    # On old ids the grown model computes what the base model did (the old logits unchanged).
    x = torch.tensor([old(spanish[0])["input_ids"][:48]])
    with torch.no_grad():
        a, b = model(x).logits, grown(x).logits
    assert torch.allclose(a, b[..., :model.config.vocab_size], atol=1e-5)
    assert model.config.vocab_size == len(old)               # the base model was not touched
    with pytest.raises(Exception, match="order"):
        new_token_pieces(new, old)


def test_without_the_old_text_filter_more_tokens_are_added_and_portuguese_changes(small_run, spanish):
    # Why --old-input exists: an appended merge fires on old text whenever its two pieces meet there.
    from ttl.tokenizer.extend import extend_tokenizer

    _, run = small_run
    old = load_tokenizer(run.tokenizer_dir)
    portuguese = list(corpus_texts(load_corpus(), max_documents=60))
    free, free_report = extend_tokenizer(old, spanish, 200)
    kept, kept_report = extend_tokenizer(old, spanish, 200, old_texts=portuguese)
    assert free_report["added"] == 200 > kept_report["added"] and kept_report["dropped"] > 0
    assert free_report["fertility_new_after"] < kept_report["fertility_new_after"]
    changed = sum(free(t)["input_ids"] != old(t)["input_ids"] for t in portuguese)
    assert changed > 0
    assert all(kept(t)["input_ids"] == old(t)["input_ids"] for t in portuguese)
