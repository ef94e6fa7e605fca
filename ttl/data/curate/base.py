"""Shared pieces of the curation steps: the document record, the step interface, statistics.

A document travelling through the pipeline is a plain dict, so that it pickles
cheaply to worker processes::

    {"id": "crawl.jsonl:17", "text": "...", "metadata": "{...json...}"}

A step looks at one document at a time. It may rewrite ``doc["text"]`` (a
*repair*: normalization, line cleanup, PII masking) and it returns ``None`` to
keep the document or a short *reason code* (``"too_few_words"``) to remove it.
Stateful steps (the two deduplicators) remember what they have seen, so they
always run in the main process; stateless steps may run in a pool of workers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ttl.config import ConfigError

# How many removed documents each step keeps as examples for the report.
MAX_EXAMPLES = 3
EXAMPLE_CHARS = 300


class CurationInputError(ValueError):
    """Input the pipeline cannot read; the message names the file, the line and the fix."""


class Step:
    """One curation step. Subclasses set ``name`` and implement :meth:`process`."""

    name: ClassVar[str] = "step"
    #: True for steps that remember earlier documents (dedup): they run in the main process.
    stateful: ClassVar[bool] = False

    def process(self, doc: dict[str, Any]) -> str | None:
        """Repair ``doc["text"]`` in place if needed; return a removal reason, or None to keep."""
        raise NotImplementedError

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"{type(self).__name__}()"


@dataclass
class StepStats:
    """What one step saw and did: documents and UTF-8 bytes in and out, and why documents left."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    docs_modified: int = 0
    seconds: float = 0.0
    removed: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add_example(self, reason: str, text: str) -> None:
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < MAX_EXAMPLES:
            snippet = text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " [...]"
            bucket.append(snippet)

    def merge(self, other: "StepStats") -> None:
        """Add the counts of ``other`` (the same step, run on another chunk) to these."""
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.docs_modified += other.docs_modified
        self.seconds += other.seconds
        self.removed.update(other.removed)
        for reason, texts in other.examples.items():
            for text in texts:
                self.add_example(reason, text)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "docs_in": self.docs_in, "docs_out": self.docs_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "docs_modified": self.docs_modified, "seconds": round(self.seconds, 4),
                "removed": dict(self.removed.most_common()), "examples": self.examples}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "StepStats":
        raw = dict(raw)
        raw["removed"] = Counter(raw.get("removed", {}))
        return cls(**raw)


def check_keys(section: str, given: dict[str, Any], allowed: set[str]) -> None:
    """Raise a ConfigError naming any unknown key, so a typo never silently disables a filter."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in curation step '{section}'; "
                          f"known keys: {sorted(allowed)}")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))
