"""Packing documents into token files for pretraining.

Every document becomes ``<s> tokens </s>`` and the documents are concatenated
into one long stream, written as a flat binary file (``uint16`` when the
vocabulary fits, else ``uint32``) that training reads through ``np.memmap``.

Two mistakes of the original TeenyTinyLlama code are fixed here, and tested:

* it put no end-of-document token between documents, so the model never
  learned where a text ends and attended across unrelated documents without
  a boundary; we write ``</s>`` after every document;
* it cut blocks of ``seq_len`` tokens and shifted inputs and targets inside
  each block, so one token per block was never a target; our blocks are
  ``seq_len + 1`` tokens long and overlap by one token, so every token of the
  stream (after the first) is predicted exactly once per epoch.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ttl.io import atomic_open, atomic_write_json
from ttl.manifest import digest_tokenizer, digest_tree, write_manifest

META_FILE = "meta.json"


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def _is_validation(doc_index: int, val_fraction: float, seed: int) -> bool:
    # A stable hash of the document index, so the split does not move when
    # the corpus grows or the order of processing changes.
    h = zlib.crc32(f"{seed}:{doc_index}".encode()) / 0xFFFFFFFF
    return h < val_fraction


def pack_documents(texts: Iterable[str], tokenizer, out_dir: str | os.PathLike, *,
                   val_fraction: float = 0.05, seed: int = 0, batch_size: int = 256,
                   show_progress: bool = True, total: int | None = None, manifest: dict | None = None) -> dict:
    """Tokenize ``texts`` and write ``train.bin``, ``val.bin`` and ``meta.json`` into ``out_dir``.

    Each file is streamed into a temporary file, fsync'd and renamed into place only once
    the whole corpus is packed (:func:`ttl.io.atomic_open`), so an interrupted run never
    leaves a half-written token file that looks complete.

    A ``manifest.json`` records the tokenizer the blocks were made with (its digest), so a
    checkpoint can never be resumed on ids of another vocabulary; ``manifest`` adds the
    caller's inputs (the corpus), config and profile to it.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is None or eos is None:
        raise ValueError("the tokenizer needs bos and eos tokens (<s>, </s>) to pack documents; "
                         "train it with ttl.tokenizer.train_tokenizer")
    vocab_size = len(tokenizer)
    dtype = _dtype_for(vocab_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    docs = {"train": 0, "val": 0}
    with contextlib.ExitStack() as stack:
        handles = {split: stack.enter_context(atomic_open(out / f"{split}.bin", "wb"))
                   for split in ("train", "val")}
        batch: list[tuple[int, str]] = []

        def flush() -> None:
            enc = tokenizer([t for _, t in batch], add_special_tokens=False)["input_ids"]
            for (index, _), ids in zip(batch, enc):
                split = "val" if _is_validation(index, val_fraction, seed) else "train"
                arr = np.asarray([bos, *ids, eos], dtype=dtype)
                handles[split].write(arr.tobytes())
                counts[split] += arr.size
                docs[split] += 1
            batch.clear()

        for index, text in enumerate(tqdm(texts, total=total, desc="packing", unit="doc",
                                          disable=not show_progress)):
            if not isinstance(text, str):
                raise TypeError(f"document {index} is {type(text).__name__}, expected str")
            if not text.strip():
                continue  # an empty document carries no tokens to learn from
            batch.append((index, text))
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if counts["train"] == 0:  # raised inside the block: neither token file is written
            raise ValueError("the corpus gave no tokens to pack: it is empty or every document is blank; "
                             "check the corpus path and its text column")
    meta = {"dtype": dtype.name, "vocab_size": vocab_size, "bos_token_id": bos, "eos_token_id": eos,
            "tokens": counts, "documents": docs, "val_fraction": val_fraction, "seed": seed}
    atomic_write_json(out / META_FILE, meta)
    extra = dict(manifest or {})
    write_manifest(out, "tokens", digest=digest_tree(out),
                   inputs={"tokenizer": digest_tokenizer(tokenizer), **extra.pop("inputs", {})},
                   config=extra.pop("config", {"val_fraction": val_fraction, "seed": seed}), **extra)
    return meta


def read_meta(tokens_dir: str | os.PathLike) -> dict:
    path = Path(tokens_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no packed tokens in {tokens_dir} ({META_FILE} missing); "
                                f"run `ttl pretrain` or ttl.data.packing.pack_documents first")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class TokenBlocks:
    """Blocks of ``seq_len + 1`` tokens from a packed token file, overlapping by one token.

    Block ``i`` covers ``tokens[i*seq_len : i*seq_len + seq_len + 1]``; inputs are its first
    ``seq_len`` tokens and targets its last ``seq_len``.
    """

    path: Path
    seq_len: int
    dtype: str = "uint16"

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"token file {self.path} does not exist")
        self.tokens = np.memmap(self.path, dtype=self.dtype, mode="r")
        if len(self.tokens) < self.seq_len + 1:
            raise ValueError(f"{self.path} holds {len(self.tokens)} tokens, fewer than one block of "
                             f"{self.seq_len + 1}; use a larger corpus or a shorter train.seq_len")

    def __len__(self) -> int:
        return (len(self.tokens) - 1) // self.seq_len

    def block(self, i: int) -> np.ndarray:
        start = i * self.seq_len
        return np.asarray(self.tokens[start:start + self.seq_len + 1], dtype=np.int64)

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = torch.from_numpy(np.stack([self.block(int(i)) for i in indices]))
        return blocks[:, :-1].contiguous(), blocks[:, 1:].contiguous()

    def indices_for_step(self, step: int, batch_size: int, seed: int) -> list[int]:
        """The block indices of micro-batch ``step`` of ``batch_size`` blocks (one process)."""
        return self.indices_of(step * batch_size, batch_size, seed)

    def indices_of(self, start: int, count: int, seed: int) -> list[int]:
        """Blocks at positions ``start .. start+count-1`` of the seeded order: a fresh permutation
        of all blocks each epoch. A pure function of its arguments, so a resumed run (with any
        number of processes) sees exactly the batches it would have."""
        n = len(self)
        out = []
        for k in range(start, start + count):
            epoch, pos = divmod(k, n)
            out.append(int(_epoch_permutation(n, seed, epoch)[pos]))
        return out


@lru_cache(maxsize=4)
def _epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen).numpy()


def open_blocks(tokens_dir: str | os.PathLike, split: str, seq_len: int) -> TokenBlocks:
    meta = read_meta(tokens_dir)
    return TokenBlocks(Path(tokens_dir) / f"{split}.bin", seq_len, meta["dtype"])
