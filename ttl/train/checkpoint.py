"""Checkpoints written atomically, and found again for resuming.

A checkpoint is a folder ``step_0000100/`` with ``model.safetensors``,
``trainer.pt`` (optimizer, step, RNG states) and ``config.json``. It is built in a
hidden temporary folder beside it, fsync'd and renamed when complete
(:func:`ttl.io.atomic_dir`), then the file ``latest`` is replaced atomically: a crash
at any moment leaves either the previous checkpoint or the new one, never a
half-written one that looks valid.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ttl.io import atomic_dir, atomic_write_text
from ttl.manifest import digest_file, write_manifest

LATEST = "latest"


def _step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:07d}"


def save_checkpoint(root: str | os.PathLike, step: int, model, optimizer, extra: dict,
                    keep_last: int | None = 3, manifest: dict | None = None) -> Path:
    """Save step ``step``; ``manifest`` (inputs, config, profile) goes into its manifest.json,
    written inside the folder before it is swapped in, so a checkpoint never lacks one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = _step_dir(root, step)
    for pattern in (".step_???????.tmp-*", "step_???????.tmp", "step_???????.old-*"):
        for stale in root.glob(pattern):  # leftovers of a crash while saving
            shutil.rmtree(stale, ignore_errors=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # Tied embeddings share storage; safetensors refuses shared tensors, so clone them apart.
    seen: dict[int, str] = {}
    for k, v in state.items():
        if v.data_ptr() in seen:
            state[k] = v.clone()
        seen[state[k].data_ptr()] = k
    with atomic_dir(final) as tmp:
        save_file(state, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "step": step,
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    **extra}, tmp / "trainer.pt")
        (tmp / "config.json").write_text(json.dumps(extra.get("config", {}), indent=2, default=str),
                                         encoding="utf-8")
        write_manifest(tmp, "checkpoint", digest=digest_file(tmp / "model.safetensors"), step=step,
                       **(manifest or {}))
    atomic_write_text(root / LATEST, final.name)
    if keep_last:
        for old in sorted(root.glob("step_???????"))[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    root = Path(root)
    marker = root / LATEST
    if marker.is_file():
        path = root / marker.read_text(encoding="utf-8").strip()
        if (path / "model.safetensors").is_file() and (path / "trainer.pt").is_file():
            return path
    done = [p for p in sorted(root.glob("step_???????")) if (p / "trainer.pt").is_file()]
    return done[-1] if done else None


def load_model_weights(model, ckpt_dir: str | os.PathLike) -> None:
    state = load_file(str(Path(ckpt_dir) / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied weights may be stored twice or once; anything else is a real mismatch.
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise ValueError(f"checkpoint {ckpt_dir} does not fit this model: missing {real_missing}, "
                         f"unexpected {unexpected}; was it trained with another profile?")


def load_trainer_state(ckpt_dir: str | os.PathLike) -> dict:
    return torch.load(Path(ckpt_dir) / "trainer.pt", map_location="cpu", weights_only=False)
