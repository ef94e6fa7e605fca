"""MinHash and locality-sensitive hashing (LSH), vectorized with numpy, for near-duplicate removal.

The idea in three lines:

1. a document becomes a *set* of shingles (word n-grams, :func:`ttl.data.text.shingles`,
   hashed to 32 bits);
2. a MinHash signature keeps, for each of ``num_perm`` random hash functions
   ``h(x) = (a*x + b) mod p``, the minimum over the set; two signatures agree
   in a given position with probability equal to the Jaccard similarity of the sets;
3. LSH cuts the signature into ``bands`` of ``rows`` values; two documents become
   *candidates* when one whole band matches, which happens with probability
   ``1 - (1 - J**rows)**bands``: an S-curve that jumps near the chosen threshold.

``datasketch`` does the same job one document at a time; the tests check that our
signatures equal datasketch's for the same permutations and shingle hashes, and
that both find the same candidate pairs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ttl.config import ConfigError
from ttl.data.text import jaccard, shingles, words  # noqa: F401  (jaccard, shingles: importable from here)

from .base import Step

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
# Odd 64-bit multipliers that mix the word hashes of an n-gram into one value.
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                 0x85EBCA77C2B2AE63, 0xD6E8FEB86659FD93], dtype=np.uint64)


# Words repeat a lot (Zipf), so a dictionary lookup beats re-hashing each occurrence.
_WORD_HASHES: dict[str, int] = {}
_WORD_CACHE_SIZE = 1 << 20


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """32-bit hashes of the word n-grams of ``text``, as uint64 (one per n-gram position).

    Each word is hashed once (CRC-32, fast and stable across processes), and the
    n-gram hash mixes its words' hashes with fixed odd multipliers, so the cost is
    one C call per word plus a few vector operations, not one digest per n-gram.
    """
    if ngram > len(_MIX):
        raise ConfigError(f"near_dedup.ngram must be at most {len(_MIX)}, got {ngram}")
    tokens = words(text)
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    cache = _WORD_HASHES
    if len(cache) > _WORD_CACHE_SIZE:  # bounded memory: start over rather than grow without limit
        cache.clear()
    hashes = []
    for w in tokens:
        h = cache.get(w)
        if h is None:
            h = cache[w] = zlib.crc32(w.encode("utf-8"))
        hashes.append(h)
    word_hash = np.array(hashes, dtype=np.uint64)
    n = min(ngram, len(tokens))
    count = len(tokens) - n + 1
    mixed = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around multiplication modulo 2**64 is intended
        for i in range(n):
            mixed = mixed * np.uint64(31) + word_hash[i:i + count] * _MIX[i]
        mixed ^= mixed >> np.uint64(29)
        mixed *= _MIX[0]
    return (mixed >> np.uint64(32)) & MAX_HASH


def make_permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (a, b) of ``num_perm`` hash functions (a*x + b) mod (2**61 - 1).

    a and b stay below 2**32 so that a*x + b never overflows 64 bits for 32-bit x:
    the arithmetic is exact, in numpy and in datasketch alike.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a, b


def _permute(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``((a*x + b) mod (2**61 - 1)) & (2**32 - 1)`` for every x (rows) and hash function (columns).

    ``% p`` on uint64 is a slow division; for the Mersenne prime p = 2**61 - 1,
    ``v mod p`` equals ``(v & p) + (v >> 61)`` minus p once if that reaches p,
    which is three cheap vector operations. The result is bit-for-bit the same.
    """
    v = np.multiply.outer(x, a)
    v += b
    high = v >> np.uint64(61)
    v &= MERSENNE_PRIME
    v += high
    np.subtract(v, MERSENNE_PRIME, out=v, where=v >= MERSENNE_PRIME)
    v &= MAX_HASH
    return v


def minhash_signature(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature (uint64 of 32-bit values, length len(a)) of one set of shingle hashes."""
    if hashes.size == 0:
        return np.full(a.shape, MAX_HASH, dtype=np.uint64)
    return _permute(hashes, a, b).min(axis=0)  # a repeated shingle cannot change a minimum


def minhash_signatures(hash_sets: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray,
                       chunk_elements: int = 1 << 16) -> np.ndarray:
    """Signatures of many documents at once, shape (len(hash_sets), len(a)).

    All shingles of a batch go through the hash functions in one matrix
    operation, then ``np.minimum.reduceat`` takes the per-document minimum;
    batches are cut so no intermediate matrix exceeds ``chunk_elements`` values
    (65,536 uint64 = 512 kB, which stays in the CPU cache: measured about twice as fast
    as 32 MB chunks in benchmarks/curation.py's setting).
    """
    num_perm = len(a)
    out = np.full((len(hash_sets), num_perm), MAX_HASH, dtype=np.uint64)
    per_chunk = max(1, chunk_elements // num_perm)
    start = 0
    while start < len(hash_sets):
        # Take documents until the chunk holds about per_chunk shingles.
        stop, total = start, 0
        while stop < len(hash_sets) and (total == 0 or total + len(hash_sets[stop]) <= per_chunk):
            total += len(hash_sets[stop])
            stop += 1
        group = hash_sets[start:stop]  # repeated shingles are harmless to a minimum: no need to dedupe
        sizes = np.array([len(h) for h in group])
        nonempty = np.flatnonzero(sizes)
        if nonempty.size:
            flat = np.concatenate([group[i] for i in nonempty])
            values = _permute(flat, a, b)
            offsets = np.concatenate([[0], np.cumsum(sizes[nonempty])[:-1]])
            out[start + nonempty] = np.minimum.reduceat(values, offsets, axis=0)
        start = stop
    return out


def estimated_jaccard(sig1: np.ndarray, sig2: np.ndarray) -> float:
    """Share of positions where two signatures agree: an unbiased estimate of the Jaccard similarity."""
    return float(np.mean(sig1 == sig2))


def _false_positive_area(threshold: float, bands: int, rows: int) -> float:
    x = np.linspace(0.0, threshold, 201)
    return float(np.trapezoid(1 - (1 - x ** rows) ** bands, x))


def _false_negative_area(threshold: float, bands: int, rows: int) -> float:
    x = np.linspace(threshold, 1.0, 201)
    return float(np.trapezoid((1 - x ** rows) ** bands, x))


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """Bands and rows (bands * rows <= num_perm) whose S-curve best separates pairs at ``threshold``.

    Minimizes the weighted areas of false positives (pairs below the threshold that
    become candidates) and false negatives (pairs above it that do not).
    """
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"near_dedup.threshold must be between 0 and 1 (exclusive), got {threshold}")
    best, best_error = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = (fp_weight * _false_positive_area(threshold, bands, rows)
                     + fn_weight * _false_negative_area(threshold, bands, rows))
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


class LSHIndex:
    """Banded LSH over MinHash signatures: one dictionary per band, from a band's hash to document keys.

    A band of ``rows`` values is stored as one 64-bit hash of its bytes, not the bytes themselves,
    which keeps the index near ``bands`` small ints per document (a collision of two different bands
    at 64 bits only adds a candidate, which ``verify`` in NearDedup then rejects).
    """

    def __init__(self, bands: int, rows: int):
        self.bands, self.rows = bands, rows
        self.tables: list[dict[int, list[Any]]] = [dict() for _ in range(bands)]

    def _band_keys(self, signature: np.ndarray) -> list[int]:
        sig = np.ascontiguousarray(signature[: self.bands * self.rows], dtype=np.uint64)
        return [hash(sig[i * self.rows:(i + 1) * self.rows].tobytes()) for i in range(self.bands)]

    def query(self, signature: np.ndarray) -> set:
        """Keys of indexed documents that share at least one band with ``signature``."""
        found: set = set()
        for table, key in zip(self.tables, self._band_keys(signature)):
            found.update(table.get(key, ()))
        return found

    def insert(self, key: Any, signature: np.ndarray) -> None:
        for table, band in zip(self.tables, self._band_keys(signature)):
            table.setdefault(band, []).append(key)


@dataclass
class NearDedup(Step):
    """Remove documents whose MinHash signature says they nearly repeat an earlier one (keep the first)."""

    threshold: float = 0.7
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    bands: int | None = None
    rows: int | None = None
    # Confirm LSH candidates with the signatures' estimated Jaccard (costs num_perm*4 bytes per kept document).
    verify: bool = True

    name = "near_dedup"
    stateful = True

    def __post_init__(self) -> None:
        if self.num_perm <= 0:
            raise ConfigError(f"near_dedup.num_perm must be positive, got {self.num_perm}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("near_dedup: give both bands and rows, or neither (they follow from threshold)")
        if self.bands is None:
            self.bands, self.rows = optimal_bands_rows(self.threshold, self.num_perm)
        elif self.bands * self.rows > self.num_perm:
            raise ConfigError(f"near_dedup: bands*rows ({self.bands}*{self.rows}) exceeds num_perm ({self.num_perm})")
        self.a, self.b = make_permutations(self.num_perm, self.seed)
        self.index = LSHIndex(self.bands, self.rows)
        self.signatures: dict[Any, np.ndarray] = {}
        self._pending: dict[Any, np.ndarray] = {}

    def prepare(self, docs: Sequence[dict[str, Any]]) -> None:
        """Compute the signatures of a batch in one vectorized pass (called by the pipeline)."""
        hashes = [shingle_hashes(d["text"], self.ngram) for d in docs]
        sigs = minhash_signatures(hashes, self.a, self.b)
        self._pending = {d["id"]: s for d, s in zip(docs, sigs)}

    def process(self, doc: dict[str, Any]) -> str | None:
        sig = self._pending.pop(doc["id"], None)
        if sig is None:
            sig = minhash_signature(shingle_hashes(doc["text"], self.ngram), self.a, self.b)
        candidates = self.index.query(sig)
        if self.verify:
            candidates = {c for c in candidates if estimated_jaccard(sig, self.signatures[c]) >= self.threshold}
        if candidates:
            doc["duplicate_of"] = min(candidates, key=str)
            return "near_duplicate"
        self.index.insert(doc["id"], sig)
        if self.verify:  # values fit in 32 bits: half the memory of the uint64 working copy
            self.signatures[doc["id"]] = sig.astype(np.uint32)
        return None
