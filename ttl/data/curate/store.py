"""What the deduplicators remember, kept on disk: an SQLite file per step.

Two uses, one format:

* ``index: memory`` (the default): the step's sets and LSH tables live in memory, and at
  each checkpoint (a complete output shard) the entries added since the last one are
  appended here, so that a killed run can resume with exactly the memory it had;
* ``index: disk``: the tables themselves live here and every lookup is a query, so the
  number of documents is bounded by the disk, not the memory (SQLite keeps only a page
  cache in memory, ``cache_mb``).

Every row carries the number of the checkpoint it belongs to (``gen``); restoring
checkpoint ``c`` deletes the rows of later ones, which a crash may have left behind.
Commits happen at checkpoints (and, for a disk index, every ``COMMIT_EVERY`` inserts, so
the journal stays small): SQLite's commit is atomic and durable, so a kill never leaves
a half-written table.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

COMMIT_EVERY = 50_000


class Store:
    """One SQLite file: ``execute`` plus the checkpoint bookkeeping."""

    def __init__(self, path: str | Path, schema: str, cache_mb: int = 64):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level="DEFERRED")
        self.db.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")
        self.db.executescript(schema)
        self.db.commit()
        self.gen = 1        # checkpoint that rows inserted now belong to
        self._uncommitted = 0

    def restore(self, tables: list[str], checkpoint: int) -> None:
        """Forget rows written after ``checkpoint`` (by a run killed before its next one)."""
        for table in tables:
            self.db.execute(f"DELETE FROM {table} WHERE gen > ?", (checkpoint,))
        self.db.commit()
        self.gen = checkpoint + 1

    def inserted(self, rows: int) -> None:
        self._uncommitted += rows
        if self._uncommitted >= COMMIT_EVERY:
            self.db.commit()
            self._uncommitted = 0

    def checkpoint(self, number: int) -> None:
        self.db.commit()
        self._uncommitted = 0
        self.gen = number + 1

    def close(self) -> None:
        try:
            self.db.commit()
            self.db.close()
        except sqlite3.Error:
            pass


def index_folder(step, folder: Path | None) -> Path | None:
    """Where a deduplicator's SQLite file goes: ``index_dir`` for a disk index when set (the
    user's choice, a larger disk, run or no run), else the run's state folder, else (a disk
    index outside a run) a temporary folder that ``close_index`` removes; None when there is
    nothing to keep (a memory index outside a run)."""
    if step.index == "disk" and step.index_dir is not None:
        return Path(step.index_dir)
    if folder is not None:
        return Path(folder)
    if step.index != "disk":
        return None
    step._tmp = tempfile.TemporaryDirectory(prefix=f"ttl-{step.name}-")
    return Path(step._tmp.name)


def close_index(step) -> None:
    """Commit and close a deduplicator's store, and remove its temporary folder if it has one."""
    if step._store is not None:
        step._store.close()
        step._store = None
    if step._tmp is not None:
        step._tmp.cleanup()
        step._tmp = None
