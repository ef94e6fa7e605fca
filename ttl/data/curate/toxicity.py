"""Toxicity filter: a word list by default, a classifier when you plug one in.

Decision taken here: toxic *lines* are removed (a rude comment under a good
article should not cost us the article), and a document is removed when more
than ``max_toxic_line_ratio`` of its lines were toxic (then little is left
worth keeping). TeenyTinyLlama's authors filtered with a trained classifier;
pass one as ``classifier`` (a callable taking a list of texts and returning a
toxicity score in [0, 1] for each) and documents scoring above
``classifier_threshold`` are removed as well.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ttl.config import ConfigError

from .base import Step
from .resources import read_word_list

Classifier = Callable[[Sequence[str]], Sequence[float]]


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
    max_toxic_line_ratio: float = 0.5
    # A callable, or an import string "pkg.module:function" (config files can only hold strings).
    classifier: Classifier | str | None = None
    classifier_threshold: float = 0.5

    name = "toxicity"

    def __post_init__(self) -> None:
        terms = read_word_list("toxicity", self.language, self.words_file)
        # One alternation with word boundaries; longest first so phrases win over their words.
        alternatives = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        if isinstance(self.classifier, str):
            self.classifier = load_callable(self.classifier)
        if self.classifier is not None and not callable(self.classifier):
            raise ConfigError("toxicity.classifier must be callable (list of texts -> list of scores)")

    def is_toxic_line(self, line: str) -> bool:
        return bool(self._pattern.search(line))

    def process(self, doc: dict[str, Any]) -> str | None:
        lines = doc["text"].split("\n")
        content = [line for line in lines if line.strip()]
        toxic = [line for line in content if self.is_toxic_line(line)]
        if content and len(toxic) / len(content) > self.max_toxic_line_ratio:
            return "toxic_document"
        if toxic:
            doc["text"] = "\n".join(line for line in lines if not (line.strip() and self.is_toxic_line(line))).strip()
            if not doc["text"]:
                return "toxic_document"
        if self.classifier is not None:
            score = float(self.classifier([doc["text"]])[0])
            if score > self.classifier_threshold:
                return "toxic_classifier"
        return None
