"""Line-level cleanup: drop boilerplate lines (cookie banners, menus, share buttons, footers).

Runs before the document-level decisions: a good article with a cookie banner
on top should lose the banner, not be thrown away. Patterns (regular
expressions, case-insensitive) come from the language's ``boilerplate.txt`` with the
shared ones (:mod:`ttl.resources`), plus those of ``also_languages``; a ``patterns`` list
in the config replaces them all.

In a hard-wrapped document (see :mod:`ttl.data.curate.paragraphs`) a line is a piece of
a sentence, so the step judges whole paragraphs there instead, and removes a paragraph
whole or not at all: it never cuts a sentence in half.

Speed. A pattern is searched only in a line that contains one of the plain strings every
match of it must contain (``cookie`` for ``\bcookies?\b``), read from the pattern itself
(:func:`required_strings`); that test is a substring search in the lower-cased line,
far cheaper than running the pattern, and gives the same decisions (see its docstring).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from ttl.config import ConfigError
from ttl.data.text import has_more_words
from ttl.data.text import words as _words

from .base import Step, SubstringSet, case_lookalikes, record_edit
from .paragraphs import is_hard_wrapped, paragraph_spans

def required_strings(pattern: str) -> list[str] | None:
    """Lower-case ASCII strings of which every match of ``pattern`` (case-insensitive) holds one.

    Read from the parsed expression: in a sequence, a run of plain ASCII characters is
    required (the longest run, or the best required group, is kept); a group of
    alternatives requires one string from each alternative. None when nothing can be
    said (a branch made only of classes, say), and then the pattern is always run.
    """
    from re import _constants as C, _parser as P  # the parser of the re module itself

    def of_sequence(items) -> list[str] | None:
        options: list[list[str]] = []
        run = ""
        for op, av in items:
            if op is C.LITERAL and av < 128:
                run += chr(av).lower()
                continue
            if run:
                options.append([run])
                run = ""
            if op is C.SUBPATTERN:
                sub = of_sequence(av[-1])
            elif op is C.BRANCH:
                parts = [of_sequence(b) for b in av[1]]
                sub = None if any(p is None for p in parts) else [x for p in parts for x in p]
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1:
                sub = of_sequence(av[2])
            else:
                sub = None
            if sub:
                options.append(sub)
        if run:
            options.append([run])
        if not options:
            return None
        return max(options, key=lambda strings: min(len(x) for x in strings))

    try:
        found = of_sequence(P.parse(pattern, re.IGNORECASE).data)
    except Exception:  # an expression shape this reading does not know: always run the pattern
        return None
    return sorted(set(found)) if found and all(found) else None


def default_patterns(language: str, also_languages: list[str] = ()) -> list[str]:
    """The shared boilerplate patterns, then those of ``language`` and of ``also_languages`` (no repeats)."""
    from ttl.resources import language_resources
    res = language_resources(language)
    patterns = list(res.boilerplate_patterns)
    for code in also_languages:
        if code == language:
            continue
        other = language_resources(code)
        if other.boilerplate is None:
            raise ConfigError(f"line_filter.also_languages: no ttl/data/resources/{code}/boilerplate.txt; "
                              f"add it or remove {code!r} from the list")
        patterns += other.boilerplate
    return list(dict.fromkeys(patterns))


_NAV_SEPARATORS = re.compile(r"\s[|»›·•]\s|\s[|»›·•]$|^[|»›·•]\s")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_SEPARATOR_CHARS = frozenset("|»›·•")


@dataclass
class LineFilter(Step):
    """Remove lines that match a boilerplate pattern or look like a navigation menu."""

    # None: the shared patterns, the language's and those of also_languages (ttl/data/resources/).
    patterns: list[str] | None = None
    language: str = "pt"
    # Languages whose boilerplate is removed too: this step runs before language identification,
    # and sites carry interface text in other languages (English above all).
    also_languages: list[str] = field(default_factory=list)
    # A line with at least this many separators (| » › · •) and few words per item is a menu.
    nav_min_separators: int = 2
    nav_max_words_per_item: int = 3
    # Lines longer than this (in words) are never treated as boilerplate: a long sentence
    # that mentions cookies is probably an article about cookies.
    max_words: int = 40
    # In hard-wrapped text, judge (and remove) whole paragraphs, not lines.
    unwrap_paragraphs: bool = True

    name = "line_filter"

    def __post_init__(self) -> None:
        if self.patterns is None:
            self.patterns = default_patterns(self.language, self.also_languages)
        try:
            self._compiled = [re.compile(p, re.IGNORECASE) for p in self.patterns]
        except re.error as exc:
            raise ConfigError(f"line_filter.patterns: invalid regular expression: {exc}") from exc
        self._short = 2 * self.max_words + 1  # shorter lines cannot hold more than max_words words
        # Each pattern with the strings one of which a line must contain for it to match.
        self._filters = [(p, required_strings(p.pattern)) for p in self._compiled]
        self._all_required = tuple(sorted({r for _, req in self._filters for r in req or ()}))
        self._required_set = SubstringSet(self._all_required)
        self._lookalikes = case_lookalikes(string.ascii_lowercase) if self._all_required else None

    def boilerplate_reason(self, line: str, filters: list | None = None) -> str | None:
        """Why ``line`` is boilerplate ("boilerplate_pattern" or "menu_line"), or None.

        The same decision as counting the words first (a line of more than ``max_words``
        words is never boilerplate), with the words counted only when a pattern or the
        menu shape says yes, and only when the line is long enough to hold that many.
        ``filters``: the patterns worth trying (:meth:`_candidates`), all by default.
        """
        if self._matches(line, self._filters if filters is None else filters):
            return "boilerplate_pattern" if self._few_words(line) else None
        if (self.nav_min_separators > 0 and _SEPARATOR_CHARS.isdisjoint(line)) or _TABLE_ROW.match(line):
            return None  # no menu separators at all; a Markdown table row is content, not a menu
        separators = len(_NAV_SEPARATORS.findall(line))
        if separators >= self.nav_min_separators:
            n_words = len(_words(line, lower=False))
            if n_words <= self.max_words and n_words / (separators + 1) <= self.nav_max_words_per_item:
                return "menu_line"
        return None

    def _few_words(self, line: str) -> bool:
        # A line has at most (len + 1) // 2 words, so a short one needs no counting.
        return len(line) < self._short or not has_more_words(line, self.max_words)

    def _candidates(self, text: str) -> list:
        """The patterns that can match some line of ``text``: those whose required strings occur in it.

        One look at the whole lower-cased document instead of one per line: a line holds a
        string only if the document does. Exact, as :meth:`_matches` explains; a document
        with a character that a case-insensitive pattern takes for an ASCII letter without
        lower-casing to it (the Kelvin sign, a dotted capital I) keeps every pattern.
        """
        if not self._all_required or (self._lookalikes is not None and not text.isascii()
                                       and self._lookalikes.search(text)):
            return [(p, None) for p, _ in self._filters]
        folded = text.lower()
        present = self._required_set.present(folded)
        return [(p, req) for p, req in self._filters if req is None or present.intersection(req)]

    def _matches(self, line: str, filters: list) -> bool:
        """Whether a pattern matches ``line``: ``any(p.search(line) for p in patterns)``, faster.

        A pattern is run only if ``line.lower()`` holds one of its required strings. That is
        exact: a case-insensitive match of an ASCII string holds, at the same places,
        characters that lower-case to it, unless the line holds a character the pattern takes
        for an ASCII letter without lower-casing to one (then :meth:`_candidates` passed the
        pattern without strings, and it is run).
        """
        folded = None
        for pattern, required in filters:
            if required is not None:
                if folded is None:
                    folded = line.lower()
                if not any(map(folded.__contains__, required)):
                    continue
            if pattern.search(line):
                return True
        return False

    def is_boilerplate(self, line: str) -> bool:
        return self.boilerplate_reason(line, self._candidates(line)) is not None

    def process(self, doc: dict[str, Any]) -> str | None:
        text = doc["text"]
        lines = text.split("\n")
        stripped = [line.strip() for line in lines]
        if self.unwrap_paragraphs and is_hard_wrapped(stripped):
            units = [(a, b, " ".join(stripped[a:b])) for a, b in paragraph_spans(stripped)]
        else:
            units = [(i, i + 1, line) for i, line in enumerate(lines) if stripped[i]]
        # A unit of more than max_words words is never boilerplate (see boilerplate_reason):
        # in prose, most are such paragraphs, and counting stops at max_words + 1.
        units = [unit for unit in units if self._few_words(unit[2])]
        drop: list[int] = []
        filters = self._candidates("\n".join(unit for _, _, unit in units))
        for a, b, unit in units:
            reason = self.boilerplate_reason(unit, filters)
            if reason is not None:
                drop.extend(range(a, b))
                record_edit(doc, self.name, reason, "\n".join(lines[a:b]), "")
        if drop:
            gone = set(drop)
            doc["text"] = "\n".join(line for i, line in enumerate(lines) if i not in gone).strip()
        return None if doc["text"] else "only_boilerplate"
