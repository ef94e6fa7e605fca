"""Toxicity filter: a word list by default, a classifier when you plug one in.

What happens to a document that holds a term of the list is a setting, ``action``:

* ``mask`` (default): each toxic term is replaced by ``mask`` ("***"), in place, so the
  sentence around it stays whole (a rude remark in a character's dialogue costs the
  novel one word, not a line cut out of a paragraph);
* ``drop``: the document is removed (reason ``toxic_term``);
* ``keep``: the text is left as it is (only the document-level rule below applies).

In every mode a document is removed (reason ``toxic_document``) when more than
``max_toxic_line_ratio`` of its lines hold a toxic term: then little is left worth
keeping. In hard-wrapped text (:mod:`ttl.data.curate.paragraphs`) that share is
counted over paragraphs, since a line there is only a piece of a sentence; a term that
runs across a line break is found too. Every masked term is logged as a modification
with the text around it before and after.

TeenyTinyLlama's authors filtered with a trained classifier; pass one as
``classifier`` (a callable taking a list of texts and returning a toxicity score in
[0, 1] for each) and documents scoring above ``classifier_threshold`` are removed as well.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ttl.config import ConfigError

from .base import EDIT_CONTEXT, Step, SubstringSet, case_lookalikes, record_edit
from .paragraphs import units as _units
from .resources import read_word_list

Classifier = Callable[[Sequence[str]], Sequence[float]]
ACTIONS = ("mask", "drop", "keep")


def load_callable(spec: str) -> Callable:
    """Import ``"package.module:function"``; the error says what was wrong."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"toxicity.classifier must look like 'package.module:function', got {spec!r}")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"toxicity.classifier {spec!r} could not be imported: {exc}") from exc


@dataclass
class ToxicityFilter(Step):
    language: str = "pt"
    words_file: str | None = None
    # Remove a document when more than this share of its lines (paragraphs, if hard-wrapped)
    # hold a toxic term; null switches the rule off.
    max_toxic_line_ratio: float | None = 0.5
    # A callable, or an import string "pkg.module:function" (config files can only hold strings).
    classifier: Classifier | str | None = None
    classifier_threshold: float = 0.5
    action: str = "mask"            # mask | drop | keep: what a toxic term does to its document
    mask: str = "***"               # what a masked term becomes
    unwrap_paragraphs: bool = True  # in hard-wrapped text, count paragraphs, not lines

    name = "toxicity"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"toxicity.action must be one of {list(ACTIONS)}, got {self.action!r}")
        # No list for this language: no term matches (an empty alternation would match everywhere).
        terms = sorted(set(read_word_list("toxicity", self.language, self.words_file) or ()), key=len, reverse=True)
        self._has_terms = bool(terms)
        # One alternation with word boundaries; longest first so phrases win over their words.
        alternatives = "|".join(re.escape(t) for t in terms)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        # The same terms, where a phrase may run across a line break (hard-wrapped text).
        spanning = "|".join(r"\s+".join(re.escape(part) for part in t.split()) for t in terms)
        self._spanning = re.compile(rf"(?<!\w)(?:{spanning})(?!\w)", re.IGNORECASE)
        # The terms lower-cased with single spaces, to look for in the text folded the same way
        # (a prefilter: exact for text without characters that a case-insensitive pattern
        # takes for a letter of a term although lower-casing does not make them one).
        self._folded_terms = tuple(sorted({" ".join(t.split()) for t in terms}))
        # What the prefilter looks for: the longest word of each term, lower-cased (a term can
        # occur only where that word does, whatever the spaces between its words).
        self._probes = SubstringSet(max(t.split(), key=len).lower() for t in self._folded_terms)
        self._lookalikes = case_lookalikes("".join(terms))
        if isinstance(self.classifier, str):
            self.classifier = load_callable(self.classifier)
        if self.classifier is not None and not callable(self.classifier):
            raise ConfigError("toxicity.classifier must be callable (list of texts -> list of scores)")

    def _maybe_toxic(self, text: str) -> bool:
        """False only when no term can occur: the longest word of none is in the lower-cased text."""
        if self._lookalikes is not None and self._lookalikes.search(text):
            return True
        return self._probes.any_in(text.lower())

    def is_toxic_line(self, line: str) -> bool:
        return self._has_terms and bool(self._pattern.search(line))

    def _mask_terms(self, doc: dict[str, Any], pattern: re.Pattern) -> None:
        text = doc["text"]
        pieces, last = [], 0
        for match in pattern.finditer(text):
            start, end = match.span()
            pieces += [text[last:start], self.mask]
            last = end
            lo, hi = max(0, start - EDIT_CONTEXT), end + EDIT_CONTEXT
            record_edit(doc, self.name, "toxic_term", text[lo:hi], text[lo:start] + self.mask + text[end:hi])
        doc["text"] = "".join(pieces) + text[last:]

    def process(self, doc: dict[str, Any]) -> str | None:
        text = doc["text"]
        # One search of the whole text says whether any line or paragraph can be toxic: the
        # spanning pattern finds every term the plain one finds (and those across a line
        # break), and its look-arounds see a newline as they see a line's end.
        if self._has_terms and self._maybe_toxic(text) and self._spanning.search(text):
            units, spans = _units(text, self.unwrap_paragraphs)
            pattern = self._pattern if spans is None else self._spanning
            toxic = sum(1 for unit in units if pattern.search(unit))
            if toxic:
                if self.max_toxic_line_ratio is not None and toxic / len(units) > self.max_toxic_line_ratio:
                    return "toxic_document"
                if self.action == "drop":
                    return "toxic_term"
                if self.action == "mask":
                    self._mask_terms(doc, pattern)
        if self.classifier is not None:
            score = float(self.classifier([doc["text"]])[0])
            if score > self.classifier_threshold:
                return "toxic_classifier"
        return None
