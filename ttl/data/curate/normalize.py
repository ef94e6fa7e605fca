"""Normalization: repair mojibake, strip HTML remnants, Unicode NFC, whitespace and control characters.

Runs first, because every later step compares strings: a word spelled with a
combining accent (``e`` + U+0301) and the same word with a precomposed ``é``
must look identical to the stop-word list, the deduplicators and the tokenizer.

Speed. ftfy's test for mojibake (:func:`ftfy.badness.is_bad`, one large regular
expression) used to be most of this step's time, because the regular-expression
engine tries every alternative at every character. :class:`BadnessScanner` gives the
same answer while looking only near the few characters that can take part in a match;
each other repair is tried only when a cheap test says it could change something.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import ftfy
from ftfy.badness import BADNESS_RE, is_bad

from .base import Step, changed_span, record_edit

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
# The same runs, less those that are already a single space (the common case, left alone):
# replacing these by one space gives exactly what _SPACES gives, with far fewer replacements.
_SPACES_TO_FIX = re.compile(r"[^\S\n]{2,}|[^\S\n ]")
_ODD_SPACE = re.compile(r"[^\S \n]")  # whitespace other than a space or a newline
_EDGE_SPACES = re.compile(r"^ | $", re.MULTILINE)
_MANY_NEWLINES = re.compile(r"\n{3,}")


class BadnessScanner:
    """``is_bad(text)`` of ftfy, the same answer, looking only where a match can be.

    Read from ftfy's own regular expression (so it follows ftfy's version): each of its
    alternatives is a sequence that includes at least one required character outside ASCII.
    For each alternative we take the required character class that is least likely in
    ordinary text (symbols before capital letters before lower-case letters), and their
    union is the set of *anchors*: every match contains an anchor. A match is at most
    ``width`` characters long, so it lies within ``width - 1`` characters of an anchor,
    and searching those windows (``pattern.search(text, start, end)``) finds a match
    exactly when searching the whole text does. Text without anchors (most text) costs
    one fast scan. When the expression has a shape this reasoning does not cover
    (look-arounds, anchors other than ``^``, case-insensitivity, a branch with no
    required non-ASCII character), the scanner falls back to ftfy's ``is_bad``.
    """

    def __init__(self, pattern: re.Pattern = BADNESS_RE):
        self.pattern = pattern
        self.anchors: re.Pattern | None = None
        self.width = 0
        try:
            self._analyse()
        except Exception:  # an unexpected expression shape: keep the exact, slow test
            self.anchors = None

    def _analyse(self) -> None:
        from re import _constants as C, _parser as P  # the parser of the re module itself

        if self.pattern.flags & re.IGNORECASE:
            return
        tree = P.parse(self.pattern.pattern, self.pattern.flags)
        width = tree.getwidth()[1]
        if width >= C.MAXREPEAT or not self._safe(tree.data, C):
            return
        branches = tree.data[0][1][1] if len(tree.data) == 1 and tree.data[0][0] is C.BRANCH else [tree.data]
        anchors: set[str] = set()
        for branch in branches:
            choices = [c for c in (self._required_chars(op, av, C) for op, av in branch) if c]
            if not choices:
                return
            anchors |= min(choices, key=self._commonness)
        self.width = width
        self.anchors = re.compile("[" + "".join(re.escape(c) for c in sorted(anchors)) + "]")

    @classmethod
    def _safe(cls, items, C) -> bool:
        """No look-arounds, group references or anchors other than ^ (so windows are exact)."""
        for op, av in items:
            if op in (C.ASSERT, C.ASSERT_NOT, C.GROUPREF, C.GROUPREF_EXISTS):
                return False
            if op is C.AT and av is not C.AT_BEGINNING:
                return False
            if op is C.SUBPATTERN and not cls._safe(av[-1], C):
                return False
            if op is C.BRANCH and not all(cls._safe(b, C) for b in av[1]):
                return False
            if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and not cls._safe(av[2], C):
                return False
        return True

    @staticmethod
    def _required_chars(op, av, C) -> set[str] | None:
        """The characters of a single, required, all-non-ASCII item of a branch (else None)."""
        if op is C.SUBPATTERN and len(av[-1]) == 1:
            op, av = av[-1][0]
        if op is C.LITERAL:
            return {chr(av)} if av > 127 else None
        if op is not C.IN:
            return None
        chars: set[str] = set()
        for sop, sav in av:
            if sop is C.LITERAL:
                chars.add(chr(sav))
            elif sop is C.RANGE:
                chars.update(map(chr, range(sav[0], sav[1] + 1)))
            else:  # a category or a negated set: may match ASCII
                return None
        return chars if all(ord(c) > 127 for c in chars) else None

    @staticmethod
    def _commonness(chars: set[str]) -> int:
        """How often such characters occur in ordinary Latin-script text (only guides the choice)."""
        return sum(1000 if "\xe0" <= c <= "\xff" else 100 if c.isalpha() else 10 if c in "’‘“”«»–—…•°ºª©·"
                   else 1 for c in chars)

    def __call__(self, text: str) -> bool:
        if self.anchors is None:
            return is_bad(text)
        if text.isascii():
            return False
        search, width = self.pattern.search, self.width
        start = stop = -1
        for match in self.anchors.finditer(text):
            at = match.start()
            lo, hi = at - width + 1, at + width
            if lo <= stop:  # overlaps the current window: extend it
                stop = hi
                continue
            if stop >= 0 and search(text, max(start, 0), stop):
                return True
            start, stop = lo, hi
        return stop >= 0 and search(text, max(start, 0), stop) is not None


is_bad_fast = BadnessScanner()
_FTFY_SWAP = threading.Lock()


def fix_mojibake(text: str) -> str:
    """ftfy's repair of UTF-8 read as Latin-1/Windows-1252 ("aÃ§Ã£o" -> "ação"), twice as fast.

    ``ftfy.fix_text`` asks ``is_bad`` of each line, and that test was half its time: for the
    call, ftfy's own name is pointed at :data:`is_bad_fast` (the same answers), then put
    back. Quotes and ligatures are left alone: those are style, not damage.
    """
    with _FTFY_SWAP:  # one swap at a time, so the original is always what is put back
        own = getattr(ftfy, "is_bad", None)
        swap = own is is_bad and is_bad_fast.anchors is not None
        if swap:
            ftfy.is_bad = is_bad_fast
        try:
            return ftfy.fix_text(text, uncurl_quotes=False, fix_latin_ligatures=False,
                                 fix_character_width=False, normalization=None)
        finally:
            if swap:
                ftfy.is_bad = own


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


def normalize_whitespace_fast(text: str) -> str:
    """:func:`normalize_whitespace`, the same result with fewer replacements.

    After the space runs are fixed, the only whitespace left is " " and "\n", so stripping
    each line is removing one space at its edges; each pass runs only when needed.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "  " in text or _ODD_SPACE.search(text):
        text = _SPACES_TO_FIX.sub(" ", text)
    if " \n" in text or "\n " in text or text.startswith(" ") or text.endswith(" "):
        text = _EDGE_SPACES.sub("", text)
    if "\n\n\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


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

    def normalize(self, text: str, doc: dict[str, Any] | None = None) -> str:
        """The repaired text; with ``doc``, each repair that changed something is logged on it."""
        log = doc is not None and doc.get("edits") is not None

        def note(reason: str, before: str, after: str) -> None:
            if log and after != before:
                record_edit(doc, self.name, reason, *changed_span(before, after))

        if self.fix_mojibake and is_bad_fast(text):
            fixed = fix_mojibake(text)
            note("mojibake", text, fixed)
            text = fixed
        if self.strip_html and ("<" in text or "&" in text):
            stripped = strip_html(text)
            note("html", text, stripped)
            text = stripped
        if self.remove_control_chars:
            cleaned = _CONTROL.sub("", text)
            note("control_chars", text, cleaned)
            text = cleaned
        if self.unicode_form and not (text.isascii() or unicodedata.is_normalized(self.unicode_form, text)):
            normalized = unicodedata.normalize(self.unicode_form, text)
            note(f"unicode_{self.unicode_form.lower()}", text, normalized)
            text = normalized
        spaced = normalize_whitespace_fast(text)
        note("whitespace", text, spaced)
        return spaced

    def process(self, doc: dict[str, Any]) -> str | None:
        doc["text"] = self.normalize(doc["text"], doc)
        return None if doc["text"] else "empty"
