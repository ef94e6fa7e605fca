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
    assert "unknown task 'sst2'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", "--task", "assin2_sts"])
    assert "not a classification task" in capsys.readouterr().err
    assert main(["eval", "--tasks", "corpus", "--out", str(tmp_path)]) == 2
    assert "no few-shot prompt" in capsys.readouterr().err
    assert main(["pretrain", "--data", "hatebr", "--out", str(tmp_path)]) == 2
    assert "NAME=SOURCE" in capsys.readouterr().err
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
    clf = AutoModelForSequenceClassification.from_pretrained(summary["classifiers"]["assin2_rte"]["path"])
    assert clf.config.num_labels == 2
    for part in ("corpus", "tokenizer", "tokens", "checkpoints"):
        assert (out / part).exists()


def test_tokenizer_command_writes_into_the_run_folder_never_over_it(tmp_path, monkeypatch):
    """`ttl tokenizer train --out RUN` puts the tokenizer in RUN/tokenizer and keeps RUN's other files."""
    from ttl.manifest import read_manifest

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "keep.txt").write_text("training results")
    profile = tmp_path / "few.yaml"
    profile.write_text("name: few\ndata: {max_documents: 40}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["tokenizer", "train", "--profile", str(profile), "--out", "run", "--vocab-size", "300"]) == 0
    assert (run / "tokenizer" / "tokenizer.json").is_file()
    assert (run / "checkpoints" / "keep.txt").read_text() == "training results"
    manifest = read_manifest(run / "tokenizer")
    assert manifest["config"]["vocab_size"] == 300
    assert manifest["inputs"]["corpus"] == read_manifest(run / "corpus")["digest"]
    # A corpus file in, a tokenizer folder out, with the file's signature as its input.
    (tmp_path / "c.jsonl").write_text("".join(f'{{"text": "frase número {i} do corpus."}}\n' for i in range(50)))
    assert main(["tokenizer", "train", "--input", "c.jsonl", "--out", "tok", "--vocab-size", "300"]) == 0
    assert read_manifest(tmp_path / "tok")["stage"] == "tokenizer"


def test_sft_and_dpo_run_from_a_run_folder(small_run, tmp_path, monkeypatch, capsys):
    from helpers import copy_run
    from ttl.manifest import read_manifest

    profile, run = small_run
    copy = copy_run(run, tmp_path)
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    assert main(["sft", "--out", str(copy.root), "--steps", "2"]) == 0
    assert main(["dpo", "--out", str(copy.root), "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "instruction-tuned model in" in out and "preference-tuned model in" in out
    assert read_manifest(copy.root / "chat" / "sft")["stage"] == "sft"
    assert read_manifest(copy.root / "chat" / "dpo")["inputs"]
