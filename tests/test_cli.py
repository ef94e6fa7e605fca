"""The command line, and the whole chain end to end (the issue's acceptance check)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from ttl.cli import main


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for stage in ("curate", "tokenizer", "pretrain", "generate", "eval", "finetune", "export", "pipeline"):
        assert stage in out


def test_wrong_arguments_give_clear_messages(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["finetune", "--task", "sst2"])
    assert "invalid choice" in capsys.readouterr().err
    assert main(["pretrain", "--profile", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["curate", "--input", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["generate", "--model", str(tmp_path), "--prompt", "Oi"]) == 2
    assert "not a Hugging Face model folder" in capsys.readouterr().err


def test_profiles_command(capsys):
    assert main(["profiles"]) == 0
    assert "ttl-160m" in capsys.readouterr().out


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path):
    """`ttl pipeline` leaves a loadable Hugging Face model and a fine-tuned classifier."""
    profile = tmp_path / "tiny.yaml"
    profile.write_text(
        "name: tiny\n"
        "model: {vocab_size: 1024, hidden_size: 64, intermediate_size: 160, num_layers: 2, num_heads: 4,"
        " num_kv_heads: 2, max_seq_len: 64}\n"
        "tokenizer: {vocab_size: 1024}\n"
        "data: {max_documents: 300}\n"
        "train: {seq_len: 64, micro_batch_size: 8, max_steps: 20, warmup_steps: 4, lr: 3.0e-3,"
        " eval_every: 10, save_every: 10, log_every: 5}\n"
        "finetune: {epochs: 1, batch_size: 16, lr: 1.0e-3, max_length: 64, max_train_examples: 64}\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ttl.cli", "pipeline", "--profile", str(profile), "--out", str(out),
                           "--tasks", "assin2"], capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "pipeline.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(summary["hf_model"])
    tokenizer = AutoTokenizer.from_pretrained(summary["hf_model"])
    assert type(tokenizer).__name__ in ("LlamaTokenizerFast", "LlamaTokenizer", "TokenizersBackend",
                                        "PreTrainedTokenizerFast")
    ids = tokenizer("O rio corre para o mar.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert model(ids).logits.shape == (1, ids.size(1), 1024)
    clf = AutoModelForSequenceClassification.from_pretrained(summary["classifiers"]["assin2"]["path"])
    assert clf.config.num_labels == 2
    for part in ("corpus", "tokenizer", "tokens", "checkpoints"):
        assert (out / part).exists()


def test_tokenizer_command_writes_into_the_run_folder_never_over_it(tmp_path, monkeypatch):
    """`ttl tokenizer train --out RUN` puts the tokenizer in RUN/tokenizer and keeps RUN's other files."""
    import ttl.pipeline

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "keep.txt").write_text("training results")
    texts = ["Um texto curto em português, com acentos e números: 2024."] * 40
    monkeypatch.setattr(ttl.pipeline, "corpus_texts", lambda profile, run_dir, **kw: iter(texts))
    monkeypatch.chdir(tmp_path)
    assert main(["tokenizer", "train", "--out", "run", "--vocab-size", "300"]) == 0
    assert (run / "tokenizer" / "tokenizer.json").is_file()
    assert (run / "checkpoints" / "keep.txt").read_text() == "training results"
