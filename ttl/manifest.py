"""``manifest.json``: what each artifact of a run was made from, so a stale one is never reused.

Every stage (corpus, tokenizer, tokens, checkpoint, export, classifier, ...) writes one into
its folder through :func:`write_manifest`::

    {"stage": "tokens",
     "digest": "3f0c...",                          # hash of what the stage wrote
     "inputs": {"corpus": "9ab1...", "tokenizer": "77de..."},   # digests of what it read
     "config": {"val_fraction": 0.05, "seed": 1234},           # the part of the profile it used
     "profile": "smoke", "versions": {"ttl": "0.1.0", "torch": "2.13.0", ...},
     "created": "2026-12-01T21:40:00+00:00"}

A stage is *fresh* when its manifest's inputs are the digests of the artifacts it would read
now and its config is the part of the profile it would use now; :func:`differences` says, in
words, what changed. Inputs chain: the tokens' manifest names the tokenizer's digest, the
checkpoint names the tokens', and so on, so a change anywhere upstream shows downstream.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .io import atomic_write_json

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


class StaleError(RuntimeError):
    """An artifact that does not match what the command would use; the message says what to run."""


# --------------------------------------------------------------------------- digests

def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _tree_files(folder: Path, exclude: Iterable[str]) -> list[Path]:
    skip = set(exclude)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def digest_tree(folder: str | os.PathLike, exclude: Iterable[str] = (MANIFEST,)) -> str:
    """sha256 over every file of a folder (relative name and content), hidden files skipped."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in _tree_files(folder, exclude):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + digest_file(path).encode() + b"\0")
    return h.hexdigest()


def digest_stat(path: str | os.PathLike) -> str:
    """A cheap signature of a (possibly huge) local source: each file's name, size and mtime.

    Used for a user's own corpus, which may be tens of GB: hashing it at every command would
    take minutes, and a file replaced or edited changes its size or its modification time.
    """
    path = Path(path)
    files = [path] if path.is_file() else _tree_files(path, ())
    h = hashlib.sha256()
    for file in files:
        st = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def digest_data(obj: Any) -> str:
    """sha256 of a JSON-able object in canonical form (sorted keys)."""
    return digest_bytes(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode())


def digest_tokenizer(tokenizer) -> str:
    """sha256 of a tokenizer's full definition (vocabulary, merges, normalizer, special tokens).

    The same whether the tokenizer was just trained or loaded from its folder, so packing
    (which holds the object) and the pipeline (which holds the folder) agree.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    return digest_bytes(backend.to_str().encode("utf-8"))


def digest_rows(rows: Iterable[Mapping]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(dict(row), sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n")
    return h.hexdigest()


def digest_dataset(dsd: Mapping) -> str:
    """sha256 of every row of every split of a DatasetDict (a labelled set is thousands of rows)."""
    return digest_data({split: digest_rows(ds) for split, ds in sorted(dsd.items())})


# --------------------------------------------------------------------------- manifests

def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("ttl", "torch", "transformers", "tokenizers", "datasets"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def make_manifest(stage: str, *, digest: str, inputs: Mapping[str, str] | None = None,
                  config: Mapping[str, Any] | None = None, profile: str | None = None,
                  **extra: Any) -> dict[str, Any]:
    return {"format": FORMAT, "stage": stage, "digest": digest, "inputs": dict(inputs or {}),
            "config": json.loads(json.dumps(dict(config or {}), default=str)), "profile": profile,
            "versions": versions(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **extra}


def write_manifest(folder: str | os.PathLike, stage: str, **fields: Any) -> dict[str, Any]:
    """Write ``folder/manifest.json`` atomically and return it (see :func:`make_manifest`)."""
    manifest = make_manifest(stage, **fields)
    atomic_write_json(Path(folder) / MANIFEST, manifest)
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of ``folder``, or None when there is none or it cannot be read."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "digest" in data else None


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}


def _short(value: Any) -> str:
    text = repr(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        text = value[:12]  # a digest: the first 12 hex digits are enough to tell two apart
    return text if len(text) <= 60 else text[:57] + "..."


def differences(found: Mapping[str, Any] | None, *, inputs: Mapping[str, str] | None = None,
                config: Mapping[str, Any] | None = None) -> list[str]:
    """What differs between a manifest and the inputs and config a command would use, in words."""
    if found is None:
        return ["it has no manifest.json (built by an older ttl, by hand, or interrupted)"]
    out = []
    for key, now in sorted((inputs or {}).items()):
        then = found.get("inputs", {}).get(key)
        if then != now:
            out.append(f"input {key}: built from {_short(then)}, now {_short(now)}")
    then_cfg = _flatten(found.get("config", {}))
    now_cfg = _flatten(json.loads(json.dumps(dict(config or {}), default=str)))
    for key in sorted(set(then_cfg) | set(now_cfg)):
        if then_cfg.get(key, "<absent>") != now_cfg.get(key, "<absent>"):
            out.append(f"config {key}: {_short(then_cfg.get(key, '<absent>'))} then, "
                       f"{_short(now_cfg.get(key, '<absent>'))} now")
    return out
