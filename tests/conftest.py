"""Shared fixtures: a tiny profile, a tokenizer and packed tokens built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")

import pytest
import torch

# Triton fixes its interpreter mode when triton.language is first imported, and transformers
# imports it: a test module that loads transformers before tests/test_kernels.py switches the
# interpreter on leaves the kernels unable to run ("Cannot call @triton.jit'd outside of the
# scope of a kernel"). Without a GPU they can only run interpreted, so switch it on first.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from helpers import small_profile, tiny_profile
from ttl.runs import RunDir


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


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A finished small run (corpus, tokenizer, tokens, checkpoint, export) shared by the tests
    that read one; tests that change it work on ``copy_run``."""
    from ttl import pipeline

    profile = small_profile()
    run = RunDir(tmp_path_factory.mktemp("pipe") / "run").ensure()
    pipeline.ensure_hf_model(profile, run, quiet=True)
    return profile, run
