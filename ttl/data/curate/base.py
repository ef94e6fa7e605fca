"""Shared pieces of the curation steps: the document record, the step interface, statistics.

A document travelling through the pipeline is a plain dict, so that it pickles
cheaply to worker processes::

    {"id": "crawl.jsonl:17", "text": "...", "metadata": "{...json...}"}

A step looks at one document at a time. It may rewrite ``doc["text"]`` (a
*repair*: normalization, line cleanup, toxic-term and PII masking) and it returns
``None`` to keep the document or a short *reason code* (``"too_few_words"``) to
remove it. Stateful steps (the two deduplicators) remember what they have seen, so
they always run in the main process; stateless steps may run in a pool of workers.

When the pipeline keeps a log of modifications, it gives each document an ``"edits"``
list, and a step that repairs the text appends one entry per repair with
:func:`record_edit` (its reason, and the text around it before and after), so that a
reader can audit every change curation made. Called without that list (a step used
on its own), a step records nothing and costs nothing extra.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ttl.config import ConfigError

# How many removed documents each step keeps as examples for the report.
MAX_EXAMPLES = 3
EXAMPLE_CHARS = 300
# Characters of context kept on each side of a repair in the log of modifications.
EDIT_CONTEXT = 60


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

    def prepare(self, docs: list[dict[str, Any]]) -> None:
        """Optional batch work on ``docs`` just before :meth:`process` sees each of them, in order
        (what is faster done for many documents at once); :meth:`process` must decide the same
        with or without it. The pipeline calls it; a no-op here."""

    # --- optional hooks of stateful steps, used by the pipeline (all no-ops here) -------------

    def precompute(self, docs: list[dict[str, Any]]) -> None:
        """Work on ``docs`` that needs no memory of other documents (hashes, signatures),
        stored in each document; the pipeline runs it in the worker processes."""

    def open_state(self, folder: "Path", checkpoint: int) -> None:
        """Keep what the step remembers under ``folder``; when ``checkpoint`` > 0, first
        restore it as it was at that checkpoint (a resumed run)."""

    def checkpoint(self, number: int) -> None:
        """Make what the step remembers so far durable, as checkpoint ``number``."""

    def close_state(self) -> None:
        """Release files opened by :meth:`open_state`."""

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
    #: repairs made, by reason (one document may count several, e.g. two masked phone numbers)
    modifications: Counter = field(default_factory=Counter)

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
        self.modifications.update(other.modifications)
        for reason, texts in other.examples.items():
            for text in texts:
                self.add_example(reason, text)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "docs_in": self.docs_in, "docs_out": self.docs_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "docs_modified": self.docs_modified, "seconds": round(self.seconds, 4),
                "removed": dict(self.removed.most_common()), "examples": self.examples,
                "modifications": dict(sorted(self.modifications.items(), key=lambda kv: (-kv[1], kv[0])))}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "StepStats":
        raw = dict(raw)
        raw["removed"] = Counter(raw.get("removed", {}))
        raw["modifications"] = Counter(raw.get("modifications", {}))
        return cls(**raw)


def check_keys(section: str, given: dict[str, Any], allowed: set[str]) -> None:
    """Raise a ConfigError naming any unknown key, so a typo never silently disables a filter."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in curation step '{section}'; "
                          f"known keys: {sorted(allowed)}")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def record_edit(doc: dict[str, Any], step: str, reason: str, before: str, after: str) -> None:
    """Log one repair of ``doc`` (when the pipeline asked for a log): why, and the text before and after."""
    edits = doc.get("edits")
    if edits is not None:
        edits.append({"step": step, "reason": reason, "before": before, "after": after})


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings (binary search over C-speed slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def changed_span(before: str, after: str, context: int = EDIT_CONTEXT) -> tuple[str, str]:
    """The part of ``before`` that changed into ``after``, each with ``context`` characters around it.

    One span from the first to the last difference (common prefix and suffix trimmed), so a
    repair scattered over a document shows its first and last change and what lies between.
    """
    start = _common_prefix(before, after)
    end = _common_prefix(before[start:][::-1], after[start:][::-1])
    lo = max(0, start - context)
    return (before[lo:len(before) - end + context] if end else before[lo:],
            after[lo:len(after) - end + context] if end else after[lo:])


@functools.lru_cache(maxsize=64)
def case_lookalikes(letters: str) -> re.Pattern | None:
    """Characters that a case-insensitive pattern takes for one of ``letters`` although
    ``str.lower()`` does not turn them into it (the long s for s, the dotless i and the
    dotted capital I for i, ...), as a character class; None when there are none.

    A step that looks for lower-cased strings in ``text.lower()`` instead of running a
    case-insensitive pattern (a prefilter) is exact for text without these characters.
    Found by asking the re module itself, over the Basic Multilingual Plane (no character
    beyond it has a case mapping onto one inside it; the tests check every code point).
    """
    every = _bmp()
    found = set()
    for letter in set(letters.lower()):
        if letter.lower() == letter.upper():
            continue  # not a cased letter: matches only itself
        for char in re.findall(re.escape(letter), every, re.IGNORECASE):
            if char.lower() != letter:
                found.add(char)
    if not found:
        return None
    return re.compile("[" + "".join(re.escape(c) for c in sorted(found)) + "]")


@functools.lru_cache(maxsize=1)
def _bmp() -> str:
    return "".join(map(chr, range(0x10000)))


class SubstringSet:
    """Which of a fixed set of strings occur in a text, with fewer searches than one per string.

    A string that contains another one ("cookies" holds "cookie") can occur only where that
    one does, so it is searched for only once the shorter one was found. The strings form a
    forest, each under the longest shorter string it contains; :meth:`present` walks it from
    the roots, and :meth:`any_in` needs the roots alone (any string found means its root is).
    """

    def __init__(self, strings):
        ordered = sorted(set(strings), key=len)
        self.children: dict[str | None, list[str]] = {None: []}
        for i, string in enumerate(ordered):
            inside = [shorter for shorter in ordered[:i] if shorter in string]
            parent = max(inside, key=len) if inside else None
            self.children.setdefault(parent, []).append(string)
        self.roots = tuple(self.children[None])

    def present(self, text: str) -> set[str]:
        """The strings that occur in ``text``: ``{s for s in strings if s in text}``."""
        found: set[str] = set()
        todo = [s for s in self.roots if s in text]
        while todo:
            string = todo.pop()
            found.add(string)
            todo += [s for s in self.children.get(string, ()) if s in text]
        return found

    def any_in(self, text: str) -> bool:
        """Whether some string occurs in ``text``."""
        return any(map(text.__contains__, self.roots))
