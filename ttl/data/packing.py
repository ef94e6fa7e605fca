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

Packing can run in ``num_proc`` processes (:func:`pack_documents`): the documents are cut
into chunks in input order, each worker tokenizes a chunk and writes it as one *shard* per
split, and the shards, read in order, are byte for byte the stream one process writes (the
same tokens, the same train/validation decision for every document). The shards live in one
folder whose name is a digest of their content, listed in ``meta.json``; writing ``meta.json``
(atomically) is the moment the new token files replace the old ones, so a packing killed at
any point leaves the previous token files, complete, and no half of the new ones.
:class:`TokenBlocks` reads one file or the shards alike: the blocks are those of the
concatenated stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import zlib
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from ttl.data.processes import fork_is_safe as _fork_is_safe
from ttl.data.processes import start_pool
from ttl.io import atomic_open, atomic_write_json
from ttl.manifest import digest_tokenizer, digest_tree, write_manifest

if TYPE_CHECKING:
    import torch

META_FILE = "meta.json"
SPLITS = ("train", "val")
#: Characters of text per chunk of parallel packing (about 0.5M tokens): small enough to keep
#: every worker busy to the end on a small corpus, large enough that a 6B-token corpus makes
#: a few thousand shards (the reader opens them lazily).
CHUNK_CHARS = 2_000_000
_STAGING = re.compile(r"^\.staging-(\d+)-[0-9a-f]+$")
_SHARD_DIR = re.compile(r"^shards-[0-9a-f]{16}$")


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def _is_validation(doc_index: int, val_fraction: float, seed: int) -> bool:
    # A stable hash of the document index, so the split does not move when
    # the corpus grows or the order of processing changes.
    h = zlib.crc32(f"{seed}:{doc_index}".encode()) / 0xFFFFFFFF
    return h < val_fraction


class _Encoder:
    """Texts to token ids, as ``tokenizer(texts, add_special_tokens=False)["input_ids"]``.

    For a fast tokenizer it calls the Rust tokenizer behind it directly (the same encodings,
    without the wrapper), on a copy set as the wrapper sets it for that call (no truncation,
    no padding, special tokens in the text matched as such). That copy is all a worker process needs: it unpickles in milliseconds,
    where the transformers tokenizer first imports transformers (about a second a worker).
    """

    def __init__(self, tokenizer):
        self.bos, self.eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "encode_batch"):
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(backend.to_str())
            backend.no_truncation()
            backend.no_padding()
            backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
            self.backend, self.tokenizer = backend, None
        else:  # a slow (Python) tokenizer: call it as it is
            self.backend, self.tokenizer = None, tokenizer

    def __call__(self, texts: list[str]) -> list[list[int]]:
        if self.backend is not None:
            return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]


def _encode(encoder: _Encoder, items: list[tuple[int, str]], dtype: np.dtype, val_fraction: float, seed: int,
            batch_size: int) -> dict[str, list[np.ndarray]]:
    """``<s> ids </s>`` of each document of ``items`` ((index, text) pairs), grouped by split, in order.

    The one tokenizing routine of both the serial and the parallel packer, so the two write
    the same bytes.
    """
    bos, eos = encoder.bos, encoder.eos
    out: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for i in range(0, len(items), batch_size):
        batch = items[i:i + batch_size]
        enc = encoder([t for _, t in batch])
        for (index, _), ids in zip(batch, enc):
            split = "val" if _is_validation(index, val_fraction, seed) else "train"
            out[split].append(np.asarray([bos, *ids, eos], dtype=dtype))
    return out


def _documents(texts: Iterable[str], total: int | None, show_progress: bool) -> Iterator[tuple[int, str]]:
    """(index, text) of every non-blank document; the index counts blank ones too (it fixes the split)."""
    # No bar at all without progress: tqdm starts a monitor thread with its first bar, even a
    # disabled one, and a process with a second thread no longer forks its workers.
    if show_progress:
        texts = tqdm(texts, total=total, desc="packing", unit="doc")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"document {index} is {type(text).__name__}, expected str")
        if not text.strip():
            continue  # an empty document carries no tokens to learn from
        yield index, text


def _empty_corpus_error() -> ValueError:
    return ValueError("the corpus gave no tokens to pack: it is empty or every document is blank; "
                      "check the corpus path and its text column")


def pack_documents(texts: Iterable[str], tokenizer, out_dir: str | os.PathLike, *,
                   val_fraction: float = 0.05, seed: int = 0, batch_size: int = 256,
                   show_progress: bool = True, total: int | None = None, manifest: dict | None = None,
                   num_proc: int = 1, chunk_chars: int = CHUNK_CHARS) -> dict:
    """Tokenize ``texts`` and write the token files and ``meta.json`` into ``out_dir``.

    With ``num_proc=1``: ``train.bin`` and ``val.bin``, each streamed into a temporary file,
    fsync'd and renamed into place only once the whole corpus is packed
    (:func:`ttl.io.atomic_open`), so an interrupted run never leaves a half-written token
    file that looks complete.

    With ``num_proc > 1``: ``num_proc`` worker processes tokenize chunks of about
    ``chunk_chars`` characters and write them as shards (``shards-<digest>/train-000000.bin``,
    ...), listed in order in ``meta.json``; concatenated, they are byte for byte ``train.bin``
    and ``val.bin`` of one process. They are written in a hidden staging folder and become
    the token files only when ``meta.json`` is replaced (atomically), after every shard is
    on disk; the previous token files are then removed.

    A ``manifest.json`` records the tokenizer the blocks were made with (its digest), so a
    checkpoint can never be resumed on ids of another vocabulary; ``manifest`` adds the
    caller's inputs (the corpus), config and profile to it.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is None or eos is None:
        raise ValueError("the tokenizer needs bos and eos tokens (<s>, </s>) to pack documents; "
                         "train it with ttl.tokenizer.train_tokenizer")
    if int(num_proc) < 1:
        raise ValueError(f"num_proc must be a positive number of processes, got {num_proc}")
    vocab_size = len(tokenizer)
    dtype = _dtype_for(vocab_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(out)
    docs = _documents(texts, total, show_progress)
    shards = None
    encoder = _Encoder(tokenizer)
    if num_proc > 1:
        counts, ndocs, shards = _pack_parallel(docs, encoder, out, dtype, val_fraction, seed, batch_size,
                                               int(num_proc), int(chunk_chars))
    else:
        counts, ndocs = _pack_serial(docs, encoder, out, dtype, val_fraction, seed, batch_size)
    meta = {"dtype": dtype.name, "vocab_size": vocab_size, "bos_token_id": bos, "eos_token_id": eos,
            "tokens": counts, "documents": ndocs, "val_fraction": val_fraction, "seed": seed}
    if shards is not None:
        meta["shards"] = shards
    atomic_write_json(out / META_FILE, meta)  # the commit: from here on the new files are the token files
    _remove_unreferenced(out, meta)
    extra = dict(manifest or {})
    write_manifest(out, "tokens", digest=digest_tree(out),
                   inputs={"tokenizer": digest_tokenizer(tokenizer), **extra.pop("inputs", {})},
                   config=extra.pop("config", {"val_fraction": val_fraction, "seed": seed}), **extra)
    return meta


def _pack_serial(docs, encoder: _Encoder, out: Path, dtype, val_fraction, seed, batch_size):
    counts = {"train": 0, "val": 0}
    ndocs = {"train": 0, "val": 0}
    with contextlib.ExitStack() as stack:
        handles = {split: stack.enter_context(atomic_open(out / f"{split}.bin", "wb")) for split in SPLITS}
        batch: list[tuple[int, str]] = []

        def flush() -> None:
            for split, arrays in _encode(encoder, batch, dtype, val_fraction, seed, batch_size).items():
                for arr in arrays:
                    handles[split].write(arr.tobytes())
                    counts[split] += arr.size
                    ndocs[split] += 1
            batch.clear()

        for item in docs:
            batch.append(item)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if counts["train"] == 0:  # raised inside the block: neither token file is written
            raise _empty_corpus_error()
    return counts, ndocs


# --- parallel packing ------------------------------------------------------------------------

_WORKER: dict = {}


def _init_packer(encoder: _Encoder, dtype: str, staging: str, val_fraction: float, seed: int, batch_size: int) -> None:
    # One tokenizer thread per process: the processes are the parallelism.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER.update(encoder=encoder, dtype=np.dtype(dtype), staging=Path(staging), val_fraction=val_fraction,
                   seed=seed, batch_size=batch_size)


def _pack_chunk(job: tuple[int, list[tuple[int, str]]]) -> dict:
    """Tokenize one chunk and write its shards (``<split>-<chunk>.bin``, fsync'd) into the staging folder."""
    chunk, items = job
    w = _WORKER
    encoded = _encode(w["encoder"], items, w["dtype"], w["val_fraction"], w["seed"], w["batch_size"])
    result = {"chunk": chunk, "tokens": {}, "documents": {}, "digests": {}}
    for split, arrays in encoded.items():
        result["documents"][split] = len(arrays)
        data = np.concatenate(arrays).tobytes() if arrays else b""
        result["tokens"][split] = len(data) // w["dtype"].itemsize
        result["digests"][split] = hashlib.blake2b(data, digest_size=16).hexdigest()
        if data:
            with open(w["staging"] / f"{split}-{chunk:06d}.bin", "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    return result


def _chunks(docs: Iterator[tuple[int, str]], chunk_chars: int) -> Iterator[list[tuple[int, str]]]:
    chunk, size = [], 0
    for item in docs:
        chunk.append(item)
        size += len(item[1])
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


@contextlib.contextmanager
def _pool(num_proc: int, initargs: tuple):
    """The worker processes: forked where that is safe (:mod:`ttl.data.processes`), else spawned
    (safe with threads anywhere). The Rust tokenizer's own threads are no obstacle to the fork: a
    worker never uses them (``TOKENIZERS_PARALLELISM`` is false there, set before the fork)."""
    import multiprocessing

    if not _fork_is_safe():
        with multiprocessing.get_context("spawn").Pool(num_proc, _init_packer, initargs) as pool:
            yield pool
        return
    # Said before the fork, so the children's tokenizer knows its threads are off and says nothing.
    previous = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        pool = start_pool(multiprocessing.get_context("fork"), num_proc, _init_packer, initargs)
    finally:
        if previous is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = previous
    with pool:
        yield pool


def _pack_parallel(docs, encoder: _Encoder, out: Path, dtype, val_fraction, seed, batch_size, num_proc, chunk_chars):
    staging = out / f".staging-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        results = []
        initargs = (encoder, dtype.str, str(staging), val_fraction, seed, batch_size)
        with _pool(num_proc, initargs) as pool:
            pending: deque = deque()
            for job in enumerate(_chunks(docs, chunk_chars)):
                pending.append(pool.apply_async(_pack_chunk, (job,)))
                while len(pending) >= 2 * num_proc:  # bounded: never more than this many chunks in memory
                    results.append(pending.popleft().get())
            while pending:
                results.append(pending.popleft().get())
        counts = {split: sum(r["tokens"][split] for r in results) for split in SPLITS}
        ndocs = {split: sum(r["documents"][split] for r in results) for split in SPLITS}
        if counts["train"] == 0:
            raise _empty_corpus_error()
        # The folder is named after its content, so packing the same corpus twice gives the same
        # names (and the same manifest digest).
        h = hashlib.blake2b(digest_size=8)
        for r in results:
            h.update(f"{r['chunk']}:{r['digests']['train']}:{r['digests']['val']};".encode())
        name = f"shards-{h.hexdigest()}"
        shards = {split: [f"{name}/{split}-{r['chunk']:06d}.bin" for r in results if r["tokens"][split]]
                  for split in SPLITS}
        _fsync_dir(staging)
        final = out / name
        if final.exists() and name in _shard_dirs_in_use(out):
            shutil.rmtree(staging)  # the same content is already the token files: keep those
        else:
            if final.exists():  # a leftover of a packing killed before its commit (maybe half removed)
                shutil.rmtree(final)
            os.replace(staging, final)
            _fsync_dir(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts, ndocs, shards


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_dead_staging(out: Path) -> None:
    """Staging folders of packings that were killed (their process is gone): never complete, never used."""
    for entry in out.iterdir():
        m = _STAGING.match(entry.name)
        if m and entry.is_dir() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _shard_dirs_in_use(out: Path) -> set[str]:
    """The shard folders the current ``meta.json`` of ``out`` reads from."""
    try:
        meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {p.split("/", 1)[0] for split in SPLITS for p in (meta.get("shards") or {}).get(split, [])}


def _remove_unreferenced(out: Path, meta: dict) -> None:
    """After a commit, the token files of the previous packing (single files or shard folders) go."""
    shards = meta.get("shards")
    used = {p.split("/", 1)[0] for split in SPLITS for p in (shards or {}).get(split, [])}
    for entry in out.iterdir():
        if _SHARD_DIR.match(entry.name) and entry.is_dir() and entry.name not in used:
            shutil.rmtree(entry, ignore_errors=True)
    if shards is not None:
        for split in SPLITS:
            (out / f"{split}.bin").unlink(missing_ok=True)


def read_meta(tokens_dir: str | os.PathLike) -> dict:
    path = Path(tokens_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no packed tokens in {tokens_dir} ({META_FILE} missing); "
                                f"run `ttl pretrain` or ttl.data.packing.pack_documents first")
    return json.loads(path.read_text(encoding="utf-8"))


def token_files(tokens_dir: str | os.PathLike, split: str, meta: dict | None = None) -> list[Path]:
    """The files that hold the ``split`` stream, in order: ``<split>.bin``, or the shards ``meta.json`` lists."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    meta = read_meta(tokens_dir) if meta is None else meta
    shards = meta.get("shards")
    if shards is None:  # one file per split (one process, and every run made before sharding)
        return [Path(tokens_dir) / f"{split}.bin"]
    return [Path(tokens_dir) / name for name in shards[split]]


def read_tokens(tokens_dir: str | os.PathLike, split: str) -> np.ndarray:
    """The whole ``split`` stream as one array: a memory map for one file, a copy for shards."""
    meta = read_meta(tokens_dir)
    files = token_files(tokens_dir, split, meta)
    if len(files) == 1:
        return np.memmap(files[0], dtype=meta["dtype"], mode="r")
    if not files:
        return np.zeros(0, dtype=meta["dtype"])
    return np.concatenate([np.fromfile(f, dtype=meta["dtype"]) for f in files])


class ShardedTokens:
    """Several token files seen as one stream: ``len`` and slices across file boundaries.

    Shards are memory-mapped when first touched, and at most ``max_open`` stay mapped (each
    map holds a file descriptor; a big corpus has thousands of shards).
    """

    def __init__(self, paths: Sequence[Path], dtype: str, max_open: int = 64):
        self.paths, self.dtype, self.max_open = [Path(p) for p in paths], np.dtype(dtype), max_open
        sizes = []
        for p in self.paths:
            if not p.is_file():
                raise FileNotFoundError(f"token shard {p} does not exist; pack the corpus again")
            size = p.stat().st_size
            if size % self.dtype.itemsize:
                raise ValueError(f"{p} is {size} bytes, not a whole number of {self.dtype.name} tokens")
            sizes.append(size // self.dtype.itemsize)
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._maps: OrderedDict[int, np.memmap] = OrderedDict()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _map(self, k: int) -> np.memmap:
        arr = self._maps.get(k)
        if arr is None:
            arr = self._maps[k] = np.memmap(self.paths[k], dtype=self.dtype, mode="r")
            if len(self._maps) > self.max_open:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(k)
        return arr

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("sharded tokens take contiguous slices only, e.g. tokens[a:b]")
        start, stop, _ = index.indices(len(self))
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        k, pos = first, start
        while pos < stop:
            lo, hi = int(self.starts[k]), int(self.starts[k + 1])
            if hi > lo:
                pieces.append(self._map(k)[pos - lo:min(stop, hi) - lo])
            pos = hi
            k += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


@dataclass
class TokenBlocks:
    """Blocks of ``seq_len + 1`` tokens from packed token files, overlapping by one token.

    Block ``i`` covers ``tokens[i*seq_len : i*seq_len + seq_len + 1]`` of the stream; inputs
    are its first ``seq_len`` tokens and targets its last ``seq_len``. ``path`` is one file,
    or a list of shards read as their concatenation (the same blocks as one file).
    """

    path: Path | Sequence[Path]
    seq_len: int
    dtype: str = "uint16"

    def __post_init__(self) -> None:
        if isinstance(self.path, (str, os.PathLike)):
            self.paths = [Path(self.path)]
        else:
            self.paths = [Path(p) for p in self.path]
        if not self.paths:
            raise ValueError("no token files: this split holds no document (pack with a larger corpus, "
                             "or a larger val_fraction for a validation split)")
        self.path = self.paths[0]
        if len(self.paths) == 1:
            if not self.path.is_file():
                raise FileNotFoundError(f"token file {self.path} does not exist")
            self.tokens = np.memmap(self.path, dtype=self.dtype, mode="r")
        else:
            self.tokens = ShardedTokens(self.paths, self.dtype)
        if len(self.tokens) < self.seq_len + 1:
            where = self.path if len(self.paths) == 1 else f"{self.path.parent} ({len(self.paths)} shards)"
            raise ValueError(f"{where} holds {len(self.tokens)} tokens, fewer than one block of "
                             f"{self.seq_len + 1}; use a larger corpus or a shorter train.seq_len")

    def __len__(self) -> int:
        return (len(self.tokens) - 1) // self.seq_len

    def block(self, i: int) -> np.ndarray:
        start = i * self.seq_len
        return np.asarray(self.tokens[start:start + self.seq_len + 1], dtype=np.int64)

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        import torch  # here, not at the top: the packing workers need no torch

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
    import torch

    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen).numpy()


def open_blocks(tokens_dir: str | os.PathLike, split: str, seq_len: int) -> TokenBlocks:
    """The blocks of one split of a packed folder, one file or shards alike."""
    meta = read_meta(tokens_dir)
    files = token_files(tokens_dir, split, meta)
    return TokenBlocks(files[0] if len(files) == 1 else files, seq_len, meta["dtype"])
