"""Exact deduplication: a hash of the normalized text, kept in a set (the first copy wins).

Near duplicates (small edits) are the job of :mod:`ttl.data.curate.minhash`.
``index: disk`` keeps the hashes in an SQLite file instead of a set (see
:mod:`ttl.data.curate.store`), for corpora whose hashes do not fit in memory.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttl.config import ConfigError

from .base import Step
from .store import Store, close_index, index_folder

_SCHEMA = "CREATE TABLE IF NOT EXISTS exact (digest BLOB PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID;"


def normalized_text_hash(text: str) -> bytes:
    """A 16-byte digest of the text with case and whitespace folded (what counts as 'the same')."""
    folded = " ".join(text.casefold().split())
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).digest()


@dataclass
class ExactDedup(Step):
    """Remove documents whose normalized text was already seen (keeps the first copy)."""

    index: str = "memory"          # memory | disk (an SQLite file, for more documents than memory holds)
    index_dir: str | None = None   # where a disk index lives (default: the run's state folder, or a temp folder)

    name = "exact_dedup"
    stateful = True

    def __post_init__(self) -> None:
        if self.index not in ("memory", "disk"):
            raise ConfigError(f"exact_dedup.index must be 'memory' or 'disk', got {self.index!r}")
        self.seen: set[bytes] = set()
        self._store: Store | None = None
        self._journal: list[bytes] | None = None  # digests added since the last checkpoint (memory index)
        self._tmp: tempfile.TemporaryDirectory | None = None
        # Digests first seen since the pipeline last took them (None: not collected). The
        # pipeline passes them to its workers, which then skip the later copies' signatures.
        self.fresh: list[bytes] | None = None

    def __getstate__(self):  # to a worker process: the settings, not what was seen
        state = dict(self.__dict__)
        state.update(seen=set(), _store=None, _journal=None, _tmp=None, fresh=None)
        return state

    # --- state -------------------------------------------------------------------------------

    def open_state(self, folder: Path | None, checkpoint: int = 0) -> None:
        folder = index_folder(self, folder)
        if folder is None:
            return
        self._store = Store(Path(folder) / "exact_dedup.sqlite", _SCHEMA)
        self._store.restore(["exact"], checkpoint)
        if self.index == "memory":
            self.seen = {row[0] for row in self._store.db.execute("SELECT digest FROM exact")}
            self._journal = []

    def checkpoint(self, number: int) -> None:
        if self._store is None:
            return
        if self._journal:
            self._store.db.executemany("INSERT OR IGNORE INTO exact VALUES (?, ?)",
                                       ((d, self._store.gen) for d in self._journal))
            self._journal = []
        self._store.checkpoint(number)

    def close_state(self) -> None:
        close_index(self)

    # --- work --------------------------------------------------------------------------------

    def precompute(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            doc["_exact_hash"] = normalized_text_hash(doc["text"])

    def process(self, doc: dict[str, Any]) -> str | None:
        digest = doc.pop("_exact_hash", None) or normalized_text_hash(doc["text"])
        if self.index == "disk":
            if self._store is None:
                self.open_state(None)
            db = self._store.db
            if db.execute("SELECT 1 FROM exact WHERE digest = ?", (digest,)).fetchone():
                return "exact_duplicate"
            db.execute("INSERT INTO exact VALUES (?, ?)", (digest, self._store.gen))
            self._store.inserted(1)
        else:
            if digest in self.seen:
                return "exact_duplicate"
            self.seen.add(digest)
            if self._journal is not None:
                self._journal.append(digest)
        if self.fresh is not None:
            self.fresh.append(digest)
        return None
