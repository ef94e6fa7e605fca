"""Normalization: repair mojibake, strip HTML remnants, Unicode NFC, whitespace and control characters.

Runs first, because every later step compares strings: a word spelled with a
combining accent (``e`` + U+0301) and the same word with a precomposed ``é``
must look identical to the stop-word list, the deduplicators and the tokenizer.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import ftfy
from ftfy.badness import is_bad

from .base import Step

# Tags that web crawls leave behind. Only real HTML tag names are matched, so a
# placeholder such as <EMAIL> or a comparison like "a < b" survives.
_HTML_TAGS = (
    "a|abbr|article|aside|b|blockquote|body|br|button|center|code|div|em|font|footer|form|h[1-6]|head|header|"
    "hr|html|i|iframe|img|input|label|li|link|main|meta|nav|noscript|ol|option|p|pre|script|section|select|"
    "small|span|strong|style|sub|sup|table|tbody|td|th|thead|title|tr|u|ul"
)
_TAG = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]{{0,300}})?\s*/?>", re.IGNORECASE)
# Whole <script>/<style> blocks go with their content, which is never prose.
_SCRIPT_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_ENTITY = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,5});")
# Control characters other than newline and tab (C0, DEL, C1), and zero-width/BOM marks.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace except newline
_MANY_NEWLINES = re.compile(r"\n{3,}")


def strip_html(text: str) -> str:
    """Remove script/style blocks, comments and HTML tags; decode entities (&amp; -> &)."""
    if "<" in text:
        text = _SCRIPT_BLOCK.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _TAG.sub(" ", text)
    if "&" in text and _ENTITY.search(text):
        text = html.unescape(text)
    return text


def normalize_whitespace(text: str) -> str:
    """Tabs and odd spaces become one space, lines are stripped, runs of blank lines shrink to one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


@dataclass
class Normalize(Step):
    """Text repair that never removes a document, except one left empty."""

    unicode_form: str = "NFC"
    fix_mojibake: bool = True
    strip_html: bool = True
    remove_control_chars: bool = True

    name = "normalize"

    def __post_init__(self) -> None:
        if self.unicode_form not in ("NFC", "NFKC", "NFD", "NFKD", None):
            from ttl.config import ConfigError
            raise ConfigError(f"normalize.unicode_form must be NFC, NFKC, NFD, NFKD or null, "
                              f"got {self.unicode_form!r}")

    def normalize(self, text: str) -> str:
        if self.fix_mojibake and is_bad(text):
            # ftfy undoes UTF-8 read as Latin-1/Windows-1252 ("aÃ§Ã£o" -> "ação"); we leave
            # quotes and ligatures alone (those are style, not damage). Its badness test is
            # half the cost of a full fix, and most documents pass it, so we test first.
            text = ftfy.fix_text(text, uncurl_quotes=False, fix_latin_ligatures=False,
                                 fix_character_width=False, normalization=None)
        if self.strip_html:
            text = strip_html(text)
        if self.remove_control_chars:
            text = _CONTROL.sub("", text)
        if self.unicode_form:
            text = unicodedata.normalize(self.unicode_form, text)
        return normalize_whitespace(text)

    def process(self, doc: dict[str, Any]) -> str | None:
        doc["text"] = self.normalize(doc["text"])
        return None if doc["text"] else "empty"
