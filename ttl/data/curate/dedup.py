"""Exact deduplication: a hash of the normalized text, kept in a set (the first copy wins).

Near duplicates (small edits) are the job of :mod:`ttl.data.curate.minhash`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .base import Step


def normalized_text_hash(text: str) -> bytes:
    """A 16-byte digest of the text with case and whitespace folded (what counts as 'the same')."""
    folded = " ".join(text.casefold().split())
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=16).digest()


@dataclass
class ExactDedup(Step):
    """Remove documents whose normalized text was already seen (keeps the first copy)."""

    name = "exact_dedup"
    stateful = True

    def __post_init__(self) -> None:
        self.seen: set[bytes] = set()

    def process(self, doc: dict[str, Any]) -> str | None:
        digest = normalized_text_hash(doc["text"])
        if digest in self.seen:
            return "exact_duplicate"
        self.seen.add(digest)
        return None
