"""Document-level quality heuristics in the style of Gopher (Rae et al., 2021) and C4/FineWeb.

Each rule is one number computed from the text and compared with a threshold
from the config; the first rule that fails names the removal reason. A
threshold of ``null`` switches its rule off. The default values follow the
Gopher paper where it gives one (50-100,000 words, mean word length 3-10,
symbol ratio 0.1, ...) and FineWeb for the share of lines ending in punctuation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ttl.config import ConfigError
from ttl.data.text import words as _words

from .base import Step
from .resources import read_word_list

_TERMINAL = (".", "!", "?", "…", '"', "'", "”", "»", ":", ";", ")")
_BULLETS = ("•", "●", "◦", "▪", "‣", "- ", "* ", "– ")


def words_of(text: str) -> list[str]:
    """Words as the quality rules count them: with their case, inner hyphens and apostrophes kept."""
    return _words(text, lower=False, compounds=True)


def _dup_ngram_fraction(words: list[str], n: int) -> float:
    """Share of characters in word n-grams that occur more than once (Gopher's duplicate n-gram rule)."""
    if len(words) < n:
        return 0.0
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if counts[gram] > 1:
            for j in range(i, i + n):
                covered[j] = True
    total = sum(len(w) for w in words)
    dup = sum(len(w) for w, c in zip(words, covered) if c)
    return dup / total if total else 0.0


def _top_ngram_fraction(words: list[str], n: int) -> float:
    """Share of characters covered by the most frequent word n-gram."""
    if len(words) < n:
        return 0.0
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    gram, count = counts.most_common(1)[0]
    if count <= 1:
        return 0.0
    total = sum(len(w) for w in words)
    return count * sum(len(w) for w in gram) / total if total else 0.0


@dataclass
class QualityFilter(Step):
    """Gopher/C4-style heuristics; thresholds all come from the config."""

    language: str = "pt"
    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1       # '#' and '...' per word
    max_bullet_line_ratio: float | None = 0.9
    max_ellipsis_line_ratio: float | None = 0.3
    min_alpha_word_ratio: float | None = 0.8         # words with at least one letter
    max_digit_ratio: float | None = 0.2              # digits per non-space character
    max_duplicate_line_ratio: float | None = 0.3
    max_duplicate_line_char_ratio: float | None = 0.2
    max_top_ngram_ratio: dict[int, float] | None = field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    max_duplicate_ngram_ratio: dict[int, float] | None = field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    min_punctuation_line_ratio: float | None = 0.12  # lines ending in . ! ? etc.
    min_stopword_ratio: float | None = 0.06         # stop words of `language` per word
    stopwords_file: str | None = None

    name = "quality"

    def __post_init__(self) -> None:
        for key in ("max_top_ngram_ratio", "max_duplicate_ngram_ratio"):
            value = getattr(self, key)
            if value is not None:
                try:
                    setattr(self, key, {int(n): float(r) for n, r in dict(value).items()})
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"quality.{key} must map n-gram sizes to ratios, e.g. {{2: 0.2}}") from exc
        self._stopwords = (frozenset(read_word_list("stopwords", self.language, self.stopwords_file))
                           if self.min_stopword_ratio else frozenset())

    def measures(self, text: str) -> dict[str, float]:
        """Every statistic the rules use, for inspection in the notebook."""
        words = words_of(text)
        lower = [w.lower() for w in words]
        tokens = text.split()
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        n_words = max(len(words), 1)
        n_lines = max(len(lines), 1)
        chars = sum(1 for c in text if not c.isspace()) or 1
        line_counts = Counter(lines)
        dup_lines = [line for line in lines if line_counts[line] > 1]
        out = {
            "words": float(len(words)),
            "mean_word_length": sum(len(w) for w in words) / n_words,
            "symbol_word_ratio": (text.count("#") + text.count("...") + text.count("…")) / n_words,
            "bullet_line_ratio": sum(line.startswith(_BULLETS) for line in lines) / n_lines,
            "ellipsis_line_ratio": sum(line.endswith(("...", "…")) for line in lines) / n_lines,
            # Gopher counts whitespace-separated tokens here, so "3.600" and "=" are non-alphabetic words.
            "alpha_word_ratio": sum(any(c.isalpha() for c in w) for w in tokens) / max(len(tokens), 1),
            "digit_ratio": sum(c.isdigit() for c in text) / chars,
            "duplicate_line_ratio": len(dup_lines) / n_lines,
            "duplicate_line_char_ratio": sum(len(line) for line in dup_lines) / max(sum(map(len, lines)), 1),
            # Markdown emphasis at the end of a line ("**Título.**") does not hide its punctuation.
            "punctuation_line_ratio": sum(line.rstrip("*_`").endswith(_TERMINAL) for line in lines) / n_lines,
            "stopword_ratio": sum(w in self._stopwords for w in lower) / n_words,
        }
        for n in (self.max_top_ngram_ratio or {}):
            out[f"top_{n}gram_ratio"] = _top_ngram_fraction(lower, n)
        no_repeat_from = None  # a repeated n-gram contains repeated shorter ones: once none repeat, stop
        for n in sorted(self.max_duplicate_ngram_ratio or {}):
            if no_repeat_from is not None and n > no_repeat_from:
                out[f"duplicate_{n}gram_ratio"] = 0.0
                continue
            out[f"duplicate_{n}gram_ratio"] = _dup_ngram_fraction(lower, n)
            if out[f"duplicate_{n}gram_ratio"] == 0.0:
                no_repeat_from = n
        return out

    def check(self, text: str) -> str | None:
        """The reason code of the first failing rule, or None when the document passes."""
        words = words_of(text)
        n = len(words)
        # Cheap length rules first: most junk fails here, before the n-gram work.
        if self.min_words is not None and n < self.min_words:
            return "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return "too_many_words"
        m = self.measures(text)
        rules = [
            ("mean_word_length_low", m["mean_word_length"], self.min_mean_word_length, "min"),
            ("mean_word_length_high", m["mean_word_length"], self.max_mean_word_length, "max"),
            ("symbol_ratio", m["symbol_word_ratio"], self.max_symbol_word_ratio, "max"),
            ("bullet_lines", m["bullet_line_ratio"], self.max_bullet_line_ratio, "max"),
            ("ellipsis_lines", m["ellipsis_line_ratio"], self.max_ellipsis_line_ratio, "max"),
            ("alpha_words", m["alpha_word_ratio"], self.min_alpha_word_ratio, "min"),
            ("digit_ratio", m["digit_ratio"], self.max_digit_ratio, "max"),
            ("duplicate_lines", m["duplicate_line_ratio"], self.max_duplicate_line_ratio, "max"),
            ("duplicate_line_chars", m["duplicate_line_char_ratio"], self.max_duplicate_line_char_ratio, "max"),
            ("punctuation_lines", m["punctuation_line_ratio"], self.min_punctuation_line_ratio, "min"),
            ("stopwords", m["stopword_ratio"], self.min_stopword_ratio, "min"),
        ]
        rules += [(f"top_{k}gram", m[f"top_{k}gram_ratio"], v, "max")
                  for k, v in (self.max_top_ngram_ratio or {}).items()]
        rules += [(f"duplicate_{k}gram", m[f"duplicate_{k}gram_ratio"], v, "max")
                  for k, v in (self.max_duplicate_ngram_ratio or {}).items()]
        for reason, value, limit, kind in rules:
            if limit is None:
                continue
            if (kind == "min" and value < limit) or (kind == "max" and value > limit):
                return reason
        return None

    def process(self, doc: dict[str, Any]) -> str | None:
        return self.check(doc["text"])
