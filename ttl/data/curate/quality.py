"""Document-level quality heuristics in the style of Gopher (Rae et al., 2021) and C4/FineWeb.

Each rule is one number computed from the text and compared with a threshold
from the config; the first rule that fails names the removal reason. A
threshold of ``null`` switches its rule off. The default values follow the
Gopher paper where it gives one (50-100,000 words, mean word length 3-10,
symbol ratio 0.1, ...) and FineWeb for the share of lines ending in punctuation.

The line rules (bullets, ellipses, duplicate lines, punctuation) were written for web
text, where a line is a paragraph. In a hard-wrapped document (a book, an e-mail: see
:mod:`ttl.data.curate.paragraphs`) they judge its paragraphs instead, lines joined;
``unwrap_paragraphs: false`` restores the line-by-line reading.

Two implementations give the same decisions: :meth:`QualityFilter.measures` computes
every statistic the plain way (the reference, and what the notebook shows), and
:meth:`QualityFilter.check`, which the pipeline runs, computes each only when its rule is
reached, stops at the first failing rule, and skips the n-gram counts when a cheap bound
already proves a rule passes. The tests compare the two on every kind of document.
"""

from __future__ import annotations

import functools
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ttl.config import ConfigError
from ttl.data.text import words as _words

from .base import Step
from .paragraphs import TERMINAL as _TERMINAL
from .paragraphs import units as _units
from .resources import read_word_list

_BULLETS = ("•", "●", "◦", "▪", "‣", "- ", "* ", "– ")
# A whitespace-separated token with no ASCII letter (a number, a symbol; rarely a word in another
# script), with the whitespace before it: searched in " " + text, a pattern that starts with a
# class is tried only after a space, faster than a look-behind tried at every character.
_SPACE_TOKEN_WITHOUT_ASCII_LETTER = re.compile(r"\s[^\sA-Za-z]+(?!\S)")
_DIGITS = "0123456789"


@functools.lru_cache(maxsize=1)
def non_ascii_digit_candidates() -> re.Pattern:
    """A character class that holds every character beyond ASCII for which ``str.isdigit`` is
    true: those of the BMP (superscripts, other scripts' digits; found by asking ``isdigit`` of
    each) and every character beyond the BMP, which the caller tests with ``isdigit``. Kept to
    ranges of the BMP plus one astral range, so the re module tests a character by table lookup."""
    ranges: list[list[int]] = []
    for code in range(0x80, 0x10000):
        if chr(code).isdigit():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    body = "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b)))
                   for a, b in ranges)
    return re.compile("[" + body + "\U00010000-\U0010ffff]")


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
    counts = Counter(zip(*(words[i:] for i in range(n))))  # the n-grams, as tuples, in order
    gram, count = counts.most_common(1)[0]
    if count <= 1:
        return 0.0
    total = sum(len(w) for w in words)
    return count * sum(len(w) for w in gram) / total if total else 0.0


def _repeated_gram_chars(words: list[str], lengths: np.ndarray, n: int) -> int | None:
    """Characters covered by repeated word n-grams (as :func:`_dup_ngram_fraction` counts them),
    or None when no n-gram repeats."""
    if len(set(zip(*(words[i:] for i in range(n))))) == len(words) - n + 1:
        return None
    grams = list(zip(*(words[i:] for i in range(n))))
    counts = Counter(grams)
    starts = np.array([i for i, gram in enumerate(grams) if counts[gram] > 1], dtype=np.int64)
    edges = np.zeros(len(words) + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, starts + n, -1)
    return int(lengths[np.cumsum(edges[:-1]) > 0].sum())


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
    # In hard-wrapped text, the line rules judge paragraphs (lines joined), not lines.
    unwrap_paragraphs: bool = True

    name = "quality"

    def __post_init__(self) -> None:
        for key in ("max_top_ngram_ratio", "max_duplicate_ngram_ratio"):
            value = getattr(self, key)
            if value is not None:
                try:
                    setattr(self, key, {int(n): float(r) for n, r in dict(value).items()})
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"quality.{key} must map n-gram sizes to ratios, e.g. {{2: 0.2}}") from exc
        words = read_word_list("stopwords", self.language, self.stopwords_file) if self.min_stopword_ratio else []
        if words is None:
            # No stop-word list for this language: the rule cannot be judged, so it is off
            # (the pipeline's warning about the language's missing files says how to add one).
            self.min_stopword_ratio = None
        self._stopwords = frozenset(words or ())

    def measures(self, text: str) -> dict[str, float]:
        """Every statistic the rules use, for inspection in the notebook."""
        words = words_of(text)
        lower = [w.lower() for w in words]
        tokens = text.split()
        lines = _units(text, self.unwrap_paragraphs)[0]  # the non-empty lines, or the paragraphs
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

    def rules(self, m: dict[str, float]) -> list[tuple[str, float, float | None, str]]:
        """``(reason, value, limit, "min" | "max")`` for every rule, in the order they are applied."""
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
        return rules

    def check_reference(self, text: str) -> str | None:
        """:meth:`check` the plain way: every measure, then the first failing rule (for tests and teaching)."""
        n = len(words_of(text))
        if self.min_words is not None and n < self.min_words:
            return "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return "too_many_words"
        for reason, value, limit, kind in self.rules(self.measures(text)):
            if limit is None:
                continue
            if (kind == "min" and value < limit) or (kind == "max" and value > limit):
                return reason
        return None

    def check(self, text: str) -> str | None:
        """The reason code of the first failing rule, or None when the document passes.

        The same answer as :meth:`check_reference`, computed lazily: each statistic is
        computed with the same arithmetic as :meth:`measures`, in the order of the rules,
        only when its rule is switched on and reached.
        """
        words = words_of(text)
        n = len(words)
        # Cheap length rules first: most junk fails here, before the n-gram work.
        if self.min_words is not None and n < self.min_words:
            return "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return "too_many_words"
        n_words = max(n, 1)

        def fails(value: float, limit: float | None, kind: str) -> bool:
            return limit is not None and ((kind == "min" and value < limit) or (kind == "max" and value > limit))

        mean = sum(map(len, words)) / n_words
        if fails(mean, self.min_mean_word_length, "min"):
            return "mean_word_length_low"
        if fails(mean, self.max_mean_word_length, "max"):
            return "mean_word_length_high"
        if self.max_symbol_word_ratio is not None:
            symbols = (text.count("#") + text.count("...") + text.count("…")) / n_words
            if fails(symbols, self.max_symbol_word_ratio, "max"):
                return "symbol_ratio"
        lines = _units(text, self.unwrap_paragraphs)[0]
        n_lines = max(len(lines), 1)
        if self.max_bullet_line_ratio is not None:
            if fails(sum(line.startswith(_BULLETS) for line in lines) / n_lines, self.max_bullet_line_ratio, "max"):
                return "bullet_lines"
        if self.max_ellipsis_line_ratio is not None:
            if fails(sum(line.endswith(("...", "…")) for line in lines) / n_lines, self.max_ellipsis_line_ratio,
                     "max"):
                return "ellipsis_lines"
        tokens = text.split()
        if self.min_alpha_word_ratio is not None:
            # Tokens with a letter: all of them, less those without one, which have no ASCII letter.
            letterless = sum(not any(map(str.isalpha, token))
                             for token in _SPACE_TOKEN_WITHOUT_ASCII_LETTER.findall(" " + text))
            if fails((len(tokens) - letterless) / max(len(tokens), 1), self.min_alpha_word_ratio, "min"):
                return "alpha_words"
        if self.max_digit_ratio is not None:
            digits = sum(map(text.count, _DIGITS))
            if not text.isascii():
                digits += sum(c.isdigit() for c in non_ascii_digit_candidates().findall(text))
            if fails(digits / (sum(map(len, tokens)) or 1), self.max_digit_ratio, "max"):
                return "digit_ratio"
        if self.max_duplicate_line_ratio is not None or self.max_duplicate_line_char_ratio is not None:
            if len(set(lines)) == len(lines):
                dup_ratio = dup_char_ratio = 0.0
            else:
                line_counts = Counter(lines)
                dup_lines = [line for line in lines if line_counts[line] > 1]
                dup_ratio = len(dup_lines) / n_lines
                dup_char_ratio = sum(len(line) for line in dup_lines) / max(sum(map(len, lines)), 1)
            if fails(dup_ratio, self.max_duplicate_line_ratio, "max"):
                return "duplicate_lines"
            if fails(dup_char_ratio, self.max_duplicate_line_char_ratio, "max"):
                return "duplicate_line_chars"
        if self.min_punctuation_line_ratio is not None:
            ends = sum(line.rstrip("*_`").endswith(_TERMINAL) for line in lines) / n_lines
            if fails(ends, self.min_punctuation_line_ratio, "min"):
                return "punctuation_lines"
        # Lower-casing the words joined by spaces equals lower-casing each word (the only
        # context-dependent mapping, the Greek final sigma, stops at a space as at a word's end).
        lower = " ".join(words).lower().split(" ") if words else []
        if self.min_stopword_ratio is not None:
            if fails(sum(map(self._stopwords.__contains__, lower)) / n_words, self.min_stopword_ratio, "min"):
                return "stopwords"
        top, dup = self.max_top_ngram_ratio or {}, self.max_duplicate_ngram_ratio or {}
        if not top and not dup:
            return None
        lengths = list(map(len, lower))
        total = sum(lengths)
        if top:
            word_counts = Counter(lower)
            # An n-gram seen c times has c <= count(w) for each of its words w, so it covers
            # c * chars <= n * max(count(w) * len(w)) characters: when that bound is within the
            # limit, the rule passes without counting n-grams.
            heaviest = max(map(operator.mul, word_counts.values(), map(len, word_counts)), default=0)
            for k, limit in top.items():
                if total and k * heaviest / total <= limit:
                    continue
                if fails(_top_ngram_fraction(lower, k), limit, "max"):
                    return f"top_{k}gram"
        if dup:
            values: dict[int, float] = {}
            lengths_array = np.array(lengths, dtype=np.int64)
            for k in sorted(dup):  # a repeated n-gram contains repeated shorter ones: once none repeat, stop
                if len(lower) < k or not total:
                    values[k] = 0.0
                    continue
                covered = _repeated_gram_chars(lower, lengths_array, k)
                if covered is None:
                    values.update({rest: 0.0 for rest in dup if rest >= k})
                    break
                values[k] = covered / total
            for k, limit in dup.items():
                if fails(values.get(k, 0.0), limit, "max"):
                    return f"duplicate_{k}gram"
        return None

    def process(self, doc: dict[str, Any]) -> str | None:
        return self.check(doc["text"])
