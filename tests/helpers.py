"""Helpers the tests import by name (fixtures live in conftest.py, which pytest loads itself)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ttl.config import load_profile


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


def write_jsonl(path: Path, rows) -> Path:
    """Write rows as JSON Lines (creating the folder): local data shaped like the Hub's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def small_profile(**train):
    """The tiny profile on 60 documents and 4 steps: a whole run (curation to export) in seconds."""
    profile = tiny_profile(**{"max_steps": 4, "save_every": 4, **train})
    profile.data.max_documents = 60
    return profile


def listing(root: Path) -> list[str]:
    """Every path under ``root``: two listings are equal when nothing was moved, added or deleted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def copy_run(run, tmp_path: Path):
    """A copy of a run folder that a test may change without touching the shared one."""
    import shutil

    from ttl.runs import RunDir

    copy = RunDir(tmp_path / "copy")
    shutil.copytree(run.root, copy.root)
    return copy


def load_script(relative_path: str, module_name: str):
    """Import a script of the repository that is not part of the package (a benchmark, a tool)
    by its path, as ``module_name``; the caller removes it from ``sys.modules`` when done."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / relative_path
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
