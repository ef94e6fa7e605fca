"""Checkpoints that are written atomically, load without running code, and are checked before use.

A checkpoint is a folder ``step_0000100/``::

    model.safetensors     the weights
    trainer.safetensors   the optimizer's tensors and the RNG states
    trainer.json          the step, the optimizer's hyperparameters, the logging window, ...
    config.json           the profile it was trained with (its model is rebuilt from here)
    manifest.json         what it was made from (see ttl.manifest), with the weights' sha256

Nothing is pickled: safetensors and JSON cannot execute code, so a run folder downloaded from
anywhere is safe to resume, evaluate or export. The folder is built in a hidden temporary
folder beside it, fsync'd and renamed when complete (:func:`ttl.io.atomic_dir`), then the file
``latest`` is replaced atomically: a crash at any moment leaves the previous checkpoint or the
new one, never a half-written one that looks valid. A checkpoint damaged later (a truncated
copy, a disk error) is detected by its sha256 and skipped for the newest intact one, with a
warning that names it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ttl.io import atomic_dir, atomic_write_json, atomic_write_text
from ttl.manifest import digest_file, read_manifest, write_manifest

LATEST = "latest"
STEP_PATTERN = re.compile(r"step_\d{7}")
TRAINER_TENSORS = "trainer.safetensors"
TRAINER_STATE = "trainer.json"
REQUIRED_FILES = ("model.safetensors", TRAINER_TENSORS, TRAINER_STATE)


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped because it is damaged; the message names it and says which was used."""


def _step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:07d}"


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.split("_")[1])


# --------------------------------------------------------------------------- state without pickle

def _encode(obj: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON for ``obj``, with every tensor moved to ``tensors`` under a key that says where it was."""
    if torch.is_tensor(obj):
        tensors[name] = obj.detach().contiguous().cpu()
        return {"__tensor__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode(v, f"{name}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, _encode(v, f"{name}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot save {type(obj).__name__} at {name} in a checkpoint (only tensors, numbers, "
                    "strings, lists and dicts)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__items__"]}
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


# --------------------------------------------------------------------------- saving

def save_checkpoint(root: str | os.PathLike, step: int, model, optimizer, extra: dict,
                    keep_last: int | None = 3, manifest: dict | None = None, model_state: dict | None = None,
                    optimizer_state: dict | None = None) -> Path:
    """Save step ``step``; ``manifest`` (inputs, config, profile) goes into its manifest.json,
    written inside the folder before it is swapped in, so a checkpoint never lacks one.

    ``extra`` (JSON-able, tensors allowed) is stored with the trainer state; ``extra["config"]``
    (the profile as a dict) is also written as config.json. Older checkpoints of this folder
    beyond the newest ``keep_last`` are removed; the one just written never is.
    ``model_state`` / ``optimizer_state`` replace ``model.state_dict()`` / ``optimizer.state_dict()``
    (a sharded model's full state, gathered beforehand).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = _step_dir(root, step)
    for pattern in (".step_???????.tmp-*", "step_???????.tmp", "step_???????.old-*"):
        for stale in root.glob(pattern):  # leftovers of a crash while saving
            shutil.rmtree(stale, ignore_errors=True)
    state = {k: v.detach().contiguous().cpu() for k, v in (model_state or model.state_dict()).items()}
    # Tied embeddings share storage; safetensors refuses shared tensors, so clone them apart.
    seen: dict[int, str] = {}
    for k, v in state.items():
        if v.data_ptr() in seen:
            state[k] = v.clone()
        seen[state[k].data_ptr()] = k
    tensors: dict[str, torch.Tensor] = {}
    trainer = _encode({"step": step, "optimizer": optimizer_state or optimizer.state_dict(),
                       "rng_cpu": torch.get_rng_state(),
                       "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                       **extra}, "trainer", tensors)
    with atomic_dir(final) as tmp:
        save_file(state, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / TRAINER_TENSORS))
        atomic_write_json(tmp / TRAINER_STATE, trainer)
        atomic_write_json(tmp / "config.json", extra.get("config", {}))
        write_manifest(tmp, "checkpoint", digest=digest_file(tmp / "model.safetensors"), step=step,
                       **(manifest or {}))
    atomic_write_text(root / LATEST, final.name)
    if keep_last:
        for old in sorted(root.glob("step_???????"), key=step_of)[:-keep_last]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


# --------------------------------------------------------------------------- checking and finding

_verified: dict[tuple[str, int, int], str | None] = {}


def checkpoint_problem(checkpoint: str | os.PathLike) -> str | None:
    """Why ``checkpoint`` cannot be used (a missing or damaged file), or None when it is intact.

    The weights are checked against the sha256 in the manifest (computed once per file version
    in a process), the trainer state is parsed; nothing is executed.
    """
    ckpt = Path(checkpoint)
    missing = [name for name in REQUIRED_FILES if not (ckpt / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    weights = ckpt / "model.safetensors"
    st = weights.stat()
    key = (str(weights.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        manifest = read_manifest(ckpt)
        problem = None
        if manifest is not None and digest_file(weights) != manifest["digest"]:
            problem = "model.safetensors does not match its sha256 in manifest.json (truncated or damaged)"
        else:
            problem = _readable(weights) or _readable(ckpt / TRAINER_TENSORS)
        if problem is None:
            try:
                json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problem = f"{TRAINER_STATE} cannot be read ({exc})"
        _verified[key] = problem
    return _verified[key]


def _readable(path: Path) -> str | None:
    try:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                handle.get_slice(name)
    except Exception as exc:  # safetensors raises its own error types for a broken header or size
        return f"{path.name} cannot be read ({exc})"
    return None


def latest_checkpoint(root: str | os.PathLike, *, warn: bool = True) -> Path | None:
    """The newest intact checkpoint of ``root`` (the one ``latest`` names when it is intact).

    ``latest`` is only a hint: it must name a ``step_NNNNNNN`` folder of ``root`` itself, never a
    path elsewhere. A damaged checkpoint is skipped with a :class:`CheckpointWarning`.
    """
    root = Path(root)
    if not root.is_dir():
        return None
    steps = sorted((p for p in root.iterdir() if p.is_dir() and STEP_PATTERN.fullmatch(p.name)),
                   key=step_of, reverse=True)
    marker = root / LATEST
    named = marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""
    if STEP_PATTERN.fullmatch(named) and (root / named) in steps:
        steps.remove(root / named)
        steps.insert(0, root / named)
    skipped = []
    for candidate in steps:
        problem = checkpoint_problem(candidate)
        if problem is None:
            if skipped and warn:
                warnings.warn(f"skipped damaged checkpoint(s) {'; '.join(skipped)}; using {candidate}",
                              CheckpointWarning, stacklevel=2)
            return candidate
        skipped.append(f"{candidate} ({problem})")
    if skipped and warn:
        warnings.warn(f"no intact checkpoint in {root}: {'; '.join(skipped)}", CheckpointWarning, stacklevel=2)
    return None


# --------------------------------------------------------------------------- loading

def load_model_weights(model, ckpt_dir: str | os.PathLike) -> None:
    state = load_file(str(Path(ckpt_dir) / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied weights may be stored twice or once; anything else is a real mismatch.
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise ValueError(f"checkpoint {ckpt_dir} does not fit this model: missing {real_missing}, "
                         f"unexpected {unexpected}; was it trained with another profile?")


def load_trainer_state(ckpt_dir: str | os.PathLike) -> dict:
    """Step, optimizer state, RNG states and the extras of a checkpoint (safetensors + JSON only)."""
    ckpt = Path(ckpt_dir)
    tensors = load_file(str(ckpt / TRAINER_TENSORS))
    return _decode(json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8")), tensors)


def checkpoint_step(ckpt_dir: str | os.PathLike) -> int:
    """The step of a checkpoint, read from its JSON state (no tensors loaded)."""
    return int(json.loads((Path(ckpt_dir) / TRAINER_STATE).read_text(encoding="utf-8"))["step"])


def load_checkpoint_model(ckpt_dir: str | os.PathLike):
    """The model of a checkpoint, rebuilt from the config it saved (not from the caller's profile)."""
    from ..config import ModelConfig
    from ..model import Llama

    ckpt = Path(ckpt_dir)
    config = json.loads((ckpt / "config.json").read_text(encoding="utf-8")).get("model")
    if not config:
        raise ValueError(f"{ckpt / 'config.json'} has no model section; the checkpoint cannot be rebuilt")
    model = Llama(ModelConfig(**config))
    load_model_weights(model, ckpt)
    return model.eval()
