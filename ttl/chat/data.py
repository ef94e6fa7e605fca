"""Chat data: conversations for SFT and preference triples for DPO, from the sample, a local copy or the Hub.

Two kinds of rows, each normalised to one shape whatever the layout it came in:

* a **conversation**: ``{"messages": [{"role", "content"}, ...], "kind": str}``; read from a
  ``messages`` column (UltraChat-200k, smol-smoltalk, the sample), a ShareGPT ``conversations``
  column (``{"from": "human" | "gpt" | "system", "value"}``), or ``prompt``/``completion`` text;
* a **preference triple**: ``{"prompt": [messages ending with a user turn], "chosen": str,
  "rejected": str, "kind": str}``; read from ``prompt``/``chosen``/``rejected`` in any of the
  three common layouts: all three text (Anthropic-HH style after splitting), ``prompt`` as text
  and ``chosen``/``rejected`` as whole conversations that repeat it (UltraFeedback-binarized),
  or TRL's conversational layout (``prompt`` a list of messages, ``chosen``/``rejected`` lists
  holding the assistant message; the sample's).

``source``: None for the embedded sample (``data/chat/``), a local file or folder (split names
from the file names: ``train``, ``validation``/``dev``, ``test``, and the Hub's ``train_sft``,
``test_sft``, ``train_prefs``, ``test_prefs``), or a Hub name (``hub:owner/name``). Everything
that cannot be read stops with a :class:`~ttl.data.readers.DataError` naming the file, the row
and what to fix.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..data.readers import DataError, ReadError, local_files, read_rows, resolve_source
from .template import ChatFormatError, check_messages, instruction_to_messages

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {"train_sft": "train", "test_sft": "test", "train_prefs": "train", "test_prefs": "test",
                 "dev": "validation", "valid": "validation", "val": "validation", "train_gen": None,
                 "test_gen": None}
SAMPLE = {"sft": "sft_{split}.jsonl", "preferences": "preferences_{split}.jsonl"}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


def chat_sample_dir() -> Path:
    """``data/chat/`` of the embedded sample (found as the other sample files are)."""
    from ..data.loaders import data_dir

    folder = data_dir() / "chat"
    if not folder.is_dir():
        raise DataError(f"{folder} is missing from the embedded sample; rebuild it with "
                        "`python tools/build_chat_sample.py`")
    return folder


# --------------------------------------------------------------------------- normalising one row

def conversation_from_row(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One row of any supported SFT layout as ``{"messages": [...], "kind": ...}``."""
    kind = str(row.get("kind", "conversation"))
    if "messages" in row:
        messages = row["messages"]
    elif "conversations" in row:
        turns = row["conversations"]
        if not isinstance(turns, list):
            raise DataError(f"{where}: 'conversations' must be a list of {{'from', 'value'}} turns")
        messages = []
        for turn in turns:
            if not isinstance(turn, Mapping) or turn.get("from") not in SHAREGPT_ROLES:
                raise DataError(f"{where}: a ShareGPT turn needs 'from' in {sorted(SHAREGPT_ROLES)} and 'value'; "
                                f"got {turn!r}")
            messages.append({"role": SHAREGPT_ROLES[turn["from"]], "content": turn.get("value")})
    elif "prompt" in row and "completion" in row and isinstance(row["prompt"], str):
        messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    elif "text" in row and isinstance(row["text"], str) and instruction_to_messages(row["text"]):
        messages, kind = instruction_to_messages(row["text"]), "instruction"
    else:
        raise DataError(f"{where}: no conversation found; give a 'messages' column (a list of "
                        f"{{'role', 'content'}}), ShareGPT 'conversations', or 'prompt' and 'completion' "
                        f"(the row has {sorted(row)})")
    try:
        messages = check_messages(messages, where=where)
    except ChatFormatError as exc:
        raise DataError(str(exc)) from None
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: the conversation has no assistant message, so SFT has nothing to learn from it")
    return {"messages": messages, "kind": kind}


def _answer(value: Any, prompt: list[dict], where: str, column: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        messages = check_messages(value, where=f"{where} ({column})")
        # UltraFeedback-binarized repeats the prompt in chosen/rejected: keep what follows it.
        if len(messages) > 1 and messages[:len(prompt)] == prompt:
            messages = messages[len(prompt):]
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise DataError(f"{where}: '{column}' must end the prompt with exactly one assistant message; "
                            f"got roles {[m['role'] for m in messages]}")
        return messages[0]["content"]
    raise DataError(f"{where}: '{column}' must be a text or a list of messages, got {type(value).__name__}")


def triple_from_row(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One row of any supported preference layout as ``{"prompt", "chosen", "rejected", "kind"}``."""
    missing = [c for c in ("prompt", "chosen", "rejected") if c not in row]
    if missing:
        raise DataError(f"{where}: a preference row needs 'prompt', 'chosen' and 'rejected'; missing {missing} "
                        f"(the row has {sorted(row)})")
    prompt = row["prompt"]
    try:
        prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else check_messages(
            prompt, where=f"{where} (prompt)")
        if prompt[-1]["role"] != "user":
            raise DataError(f"{where}: the prompt must end with a user message, ends with {prompt[-1]['role']!r}")
        chosen = _answer(row["chosen"], prompt, where, "chosen")
        rejected = _answer(row["rejected"], prompt, where, "rejected")
    except ChatFormatError as exc:
        raise DataError(str(exc)) from None
    if chosen == rejected:
        raise DataError(f"{where}: 'chosen' and 'rejected' are the same answer; the pair teaches nothing")
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "kind": str(row.get("kind", "preference"))}


# --------------------------------------------------------------------------- reading sources

def _rows_of(path: Path) -> Iterable[tuple[str, Mapping]]:
    for item in read_rows(path):
        if isinstance(item, ReadError):
            raise DataError(str(item))
        line, row = item
        if not isinstance(row, Mapping):
            raise DataError(f"{path}, row {line}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}, row {line}", row


def _split_name(path: Path) -> str | None:
    """The split a file holds, from its name: ``train.jsonl``, ``sft_test.jsonl``,
    ``train_sft-00000-of-00003.parquet`` (a Hub shard), ``dev.csv``...; None when it names none."""
    stem = re.sub(r"-\d+(-of-\d+)?$", "", path.name.split(".")[0].lower())
    for name in (stem, stem.split("-")[0], stem.rsplit("_", 1)[-1]):
        if name in SPLITS:
            return name
        if SPLIT_ALIASES.get(name):
            return SPLIT_ALIASES[name]
    return None


def _read(source, what: str, normalise, hub_kwargs: dict, seed: int) -> dict[str, list[dict]]:
    if source is None:
        folder = chat_sample_dir()
        files = {split: [folder / SAMPLE[what].format(split=split)] for split in SPLITS}
    else:
        kind, location = resolve_source(source)
        if kind == "hub":
            from ..data.loaders import load_from_hub

            dsd = load_from_hub(str(location), **hub_kwargs)
            out: dict[str, list[dict]] = {}
            for split, ds in (dsd.items() if hasattr(dsd, "items") else [("train", dsd)]):
                name = split if split in SPLITS else SPLIT_ALIASES.get(split)
                if name is not None:
                    out.setdefault(name, []).extend(normalise(r, f"{location} ({split}), row {i + 1}")
                                                    for i, r in enumerate(ds))
            return _with_splits(out, str(location), seed)
        paths = local_files(location)
        files = {}
        for path in paths:
            split = _split_name(path) if len(paths) > 1 or Path(location).is_dir() else "train"
            if split is not None:
                files.setdefault(split, []).append(path)
        if not files:
            raise DataError(f"{location}: no file is named after a split ({', '.join(SPLITS)}, train_sft, ...)")
    out = {split: [normalise(row, where) for path in paths for where, row in _rows_of(path)]
           for split, paths in files.items()}
    return _with_splits(out, str(source or "the embedded chat sample"), seed)


def _with_splits(out: dict[str, list[dict]], where: str, seed: int) -> dict[str, list[dict]]:
    """Every split present: a missing validation or test split is cut from train (10% each, seeded)."""
    if not out.get("train"):
        raise DataError(f"{where} has no training rows (splits found: {sorted(out) or 'none'})")
    train = list(out["train"])
    missing = [s for s in ("validation", "test") if not out.get(s)]
    if missing:
        random.Random(seed).shuffle(train)
        n = max(1, len(train) // 10)
        for split in missing:
            out[split], train = train[:n], train[n:]
        if not train:
            raise DataError(f"{where} has too few rows to cut {' and '.join(missing)} from train; give those splits")
        out["train"] = train
    return {split: out[split] for split in SPLITS}


def load_chat_sft(source: str | os.PathLike | None = None, *, seed: int = 42, **hub_kwargs: Any
                  ) -> dict[str, list[dict]]:
    """Conversations for SFT by split (train/validation/test), normalised (see the module doc)."""
    return _read(source, "sft", conversation_from_row, hub_kwargs, seed)


def load_chat_preferences(source: str | os.PathLike | None = None, *, seed: int = 42, **hub_kwargs: Any
                          ) -> dict[str, list[dict]]:
    """Preference triples for DPO by split (train/validation/test), normalised (see the module doc)."""
    return _read(source, "preferences", triple_from_row, hub_kwargs, seed)


def corpus_instructions(texts: Iterable[str]) -> list[dict]:
    """The corpus's ``<instruction>request</instruction>answer`` documents as conversations."""
    out = []
    for text in texts:
        messages = instruction_to_messages(text)
        if messages is not None:
            out.append({"messages": messages, "kind": "instruction"})
    return out


def digest_rows(rows: list[dict]) -> str:
    from ..manifest import digest_bytes

    return digest_bytes("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode())
