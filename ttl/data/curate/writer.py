"""Writer: the curated corpus as sharded JSONL and/or parquet, each shard written atomically.

Each shard goes through :func:`ttl.io.atomic_write_bytes` (a temporary file in the
same folder, fsync'd, then renamed over its final name), so a crash or a ``stop`` on
bad input never leaves a half-written shard, and shards finished earlier stay intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ttl.config import ConfigError
from ttl.io import atomic_write_bytes

SHARD_PATTERNS = ("shard-*.jsonl", "shard-*.parquet")
REPORT_NAME = "report.json"


def prepare_out_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse to mix with an earlier curated corpus there unless ``overwrite``."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    previous = [p for pattern in SHARD_PATTERNS for p in out.glob(pattern)]
    if (out / REPORT_NAME).exists():
        previous.append(out / REPORT_NAME)
    if previous:
        if not overwrite:
            raise ConfigError(f"{out} already holds a curated corpus ({len(previous)} files such as "
                              f"{previous[0].name}); choose an empty folder, or pass overwrite=True "
                              "(ttl curate --overwrite) to replace it")
        for p in previous:  # only our own files: shards and the report
            p.unlink()
    return out


class ShardWriter:
    """Collect documents and write them ``shard_size`` at a time to ``shard-NNNNN.<format>``."""

    def __init__(self, out_dir: Path, formats: list[str], shard_size: int = 10_000):
        bad = sorted(set(formats) - {"jsonl", "parquet"})
        if bad or not formats:
            raise ConfigError(f"writer.formats must be a non-empty list of 'jsonl' and/or 'parquet', got {formats}")
        if shard_size <= 0:
            raise ConfigError(f"writer.shard_size must be positive, got {shard_size}")
        self.out_dir, self.formats, self.shard_size = Path(out_dir), list(formats), shard_size
        self.buffer: list[dict[str, str]] = []
        self.files: list[str] = []
        self.docs_written = 0

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
