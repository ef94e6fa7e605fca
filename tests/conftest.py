"""Shared fixtures: a tiny profile, a tokenizer and packed tokens built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")

import pytest
import torch

from ttl.config import load_profile
from ttl.runs import RunDir


def tiny_profile(**train):
    """The smoke profile shrunk further so that a unit test trains in a second or two."""
    return load_profile(
        "smoke",
        model={"vocab_size": 512, "hidden_size": 64, "intermediate_size": 160, "num_layers": 2,
               "num_heads": 4, "num_kv_heads": 2, "max_seq_len": 64},
        tokenizer={"vocab_size": 512},
        train={"seq_len": 32, "micro_batch_size": 4, "max_steps": 8, "warmup_steps": 2, "eval_every": 4,
               "save_every": 4, "log_every": 2, "eval_batches": 2, "lr": 3e-3, **train},
        finetune={"epochs": 1, "batch_size": 8, "lr": 1e-3, "max_length": 48, "max_train_examples": 48},
        eval={"max_eval_examples": 6, "num_fewshot": 1},
    )


def assert_close_scaled(actual, expected, rtol: float, atol: float, scale: float = 1.0) -> None:
    """assert_close in float32, both tolerances times ``scale``; atol also grows with max |expected|
    (the kernel tests' rule: an error of 1e-5 means little next to values in the thousands)."""
    expected = expected.float()
    atol = atol * scale * max(1.0, expected.abs().max().item() if expected.numel() else 1.0)
    torch.testing.assert_close(actual.float(), expected, rtol=rtol * scale, atol=atol)


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    from ttl.data.loaders import corpus_texts, load_corpus

    return list(corpus_texts(load_corpus(), max_documents=120))


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory, sample_texts):
    from ttl.tokenizer import train_tokenizer

    return train_tokenizer(sample_texts, 512, tmp_path_factory.mktemp("tok"), show_progress=False)


@pytest.fixture(scope="session")
def tiny_tokens(tmp_path_factory, sample_texts, tiny_tokenizer):
    from ttl.data.packing import pack_documents

    out = tmp_path_factory.mktemp("tokens")
    pack_documents(sample_texts, tiny_tokenizer, out, val_fraction=0.1, seed=0, show_progress=False)
    return out


@pytest.fixture()
def tiny_model():
    from ttl.model import Llama

    torch.manual_seed(0)
    return Llama(tiny_profile().model).eval()


@pytest.fixture()
def tmp_run(tmp_path) -> RunDir:
    return RunDir(tmp_path / "run").ensure()
