"""Writer: the curated corpus as sharded JSONL and/or parquet, each shard written atomically.

Each shard goes through :func:`ttl.io.atomic_write_bytes` (a temporary file in the
same folder, fsync'd, then renamed over its final name), so a crash or a ``stop`` on
bad input never leaves a half-written shard, and shards finished earlier stay intact.

Beside the shards: ``report.json`` (what each step did), ``modifications.ndjson`` (every
repair, with its reason and the text before and after, up to a bound set in the config)
and, while a run is unfinished, the hidden folder ``.curation-state/`` from which an
interrupted run resumes (:mod:`ttl.data.curate.pipeline`). None of them has a data
file's suffix, so a reader of the folder (``corpus_texts``) sees only the shards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ttl.config import ConfigError
from ttl.io import atomic_write_bytes

SHARD_PATTERNS = ("shard-*.jsonl", "shard-*.parquet")
REPORT_NAME = "report.json"
MODIFICATIONS_NAME = "modifications.ndjson"
STATE_DIR = ".curation-state"


def _previous_files(out: Path) -> list[Path]:
    previous = [p for pattern in SHARD_PATTERNS for p in out.glob(pattern)]
    previous += [out / name for name in (REPORT_NAME, MODIFICATIONS_NAME) if (out / name).exists()]
    return previous


def prepare_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse to mix with an earlier curated corpus there unless ``overwrite``."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_files(out)
    state = out / STATE_DIR
    if previous or state.exists():
        if not overwrite:
            if state.exists():
                raise ConfigError(f"{out} holds an interrupted curation; pass resume=True (ttl curate --resume) "
                                  "to continue it from its last complete shard, or overwrite=True "
                                  "(ttl curate --overwrite) to start again")
            raise ConfigError(f"{out} already holds a curated corpus ({len(previous)} files such as "
                              f"{previous[0].name}); choose an empty folder, or pass overwrite=True "
                              "(ttl curate --overwrite) to replace it")
        for p in previous:  # only our own files: shards, the report, the modifications, the state
            p.unlink()
        if state.exists():
            shutil.rmtree(state)
    return out


def remove_stale_shards(out: Path, keep: list[str]) -> None:
    """Delete shard files that are not in ``keep`` (written after a resumed run's last checkpoint)."""
    kept = set(keep)
    for pattern in SHARD_PATTERNS:
        for p in out.glob(pattern):
            if p.name not in kept:
                p.unlink()


class ShardWriter:
    """Collect documents and write them ``shard_size`` at a time to ``shard-NNNNN.<format>``."""

    def __init__(self, out_dir: Path, formats: list[str], shard_size: int = 10_000,
                 files: list[str] | None = None, docs_written: int = 0,
                 buffer: list[dict[str, str]] | None = None):
        bad = sorted(set(formats) - {"jsonl", "parquet"})
        if bad or not formats:
            raise ConfigError(f"writer.formats must be a non-empty list of 'jsonl' and/or 'parquet', got {formats}")
        if shard_size <= 0:
            raise ConfigError(f"writer.shard_size must be positive, got {shard_size}")
        self.out_dir, self.formats, self.shard_size = Path(out_dir), list(formats), shard_size
        # A resumed run starts from the files, count and unwritten buffer of its last checkpoint.
        self.buffer: list[dict[str, str]] = list(buffer or [])
        self.files: list[str] = list(files or [])
        self.docs_written = docs_written

    @property
    def shards(self) -> int:
        """Complete shards written so far."""
        return len(self.files) // len(self.formats)

    def add(self, doc: dict[str, Any]) -> None:
        self.buffer.append({"text": doc["text"], "metadata": doc["metadata"]})
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        index = len(self.files) // len(self.formats)
        for fmt in self.formats:
            path = self.out_dir / f"shard-{index:05d}.{fmt}"
            if fmt == "jsonl":
                data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in self.buffer).encode("utf-8")
                atomic_write_bytes(path, data)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq
                table = pa.Table.from_pylist(self.buffer, schema=pa.schema([("text", pa.string()),
                                                                             ("metadata", pa.string())]))
                sink = pa.BufferOutputStream()
                pq.write_table(table, sink)
                atomic_write_bytes(path, sink.getvalue().to_pybytes())
            self.files.append(path.name)
        self.docs_written += len(self.buffer)
        self.buffer = []
