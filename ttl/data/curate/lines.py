"""Line-level cleanup: drop boilerplate lines (cookie banners, menus, share buttons, footers).

Runs before the document-level decisions: a good article with a cookie banner
on top should lose the banner, not be thrown away. Patterns come from the
config (regular expressions, case-insensitive), so another language only needs
its own list in the YAML file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ttl.config import ConfigError
from ttl.data.text import words as _words

from .base import Step

_NAV_SEPARATORS = re.compile(r"\s[|»›·•]\s|\s[|»›·•]$|^[|»›·•]\s")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")


@dataclass
class LineFilter(Step):
    """Remove lines that match a boilerplate pattern or look like a navigation menu."""

    patterns: list[str] = field(default_factory=list)
    # A line with at least this many separators (| » › · •) and few words per item is a menu.
    nav_min_separators: int = 2
    nav_max_words_per_item: int = 3
    # Lines longer than this (in words) are never treated as boilerplate: a long sentence
    # that mentions cookies is probably an article about cookies.
    max_words: int = 40

    name = "line_filter"

    def __post_init__(self) -> None:
        try:
            self._compiled = [re.compile(p, re.IGNORECASE) for p in self.patterns]
        except re.error as exc:
            raise ConfigError(f"line_filter.patterns: invalid regular expression: {exc}") from exc

    def is_boilerplate(self, line: str) -> bool:
        words = _words(line, lower=False)  # only counted: no need to lower-case
        if len(words) > self.max_words:
            return False
        if any(p.search(line) for p in self._compiled):
            return True
        if _TABLE_ROW.match(line):  # a Markdown table row is content, not a menu
            return False
        separators = len(_NAV_SEPARATORS.findall(line))
        if separators >= self.nav_min_separators:
            return len(words) / (separators + 1) <= self.nav_max_words_per_item
        return False

    def process(self, doc: dict[str, Any]) -> str | None:
        lines = doc["text"].split("\n")
        kept = [line for line in lines if not (line.strip() and self.is_boilerplate(line))]
        if len(kept) != len(lines):
            doc["text"] = "\n".join(kept).strip()
        return None if doc["text"] else "only_boilerplate"
