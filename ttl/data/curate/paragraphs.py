"""Hard-wrapped text: recognise it, and see its paragraphs where other text has lines.

Web text puts one paragraph on a line, so the line rules of the curation steps (the share
of lines ending in punctuation, duplicate lines, boilerplate lines, toxic lines) look at
whole paragraphs. Books, e-mails and old plain-text archives are *hard-wrapped*: a
paragraph is cut into lines of about the same width (70 columns, say) wherever a word
would pass the margin, so most lines end mid-sentence. Judged line by line, such prose
fails the punctuation rule, and a step that removes a line cuts a sentence in half.

A text is taken as hard-wrapped when its lines look like the output of a greedy wrapper
(the way ``textwrap``, ``fmt`` or an e-mail client fills lines):

* no line longer than ``MAX_WIDTH`` characters (a line without spaces, a long URL say,
  excepted), and at least ``MIN_BODY_LINES`` *body lines* (lines followed by another
  non-empty line, i.e. inside a paragraph);
* at least ``MIN_OPEN_ENDS`` of them end without terminal punctuation (mid-sentence), and
  at least ``MIN_GREEDY`` of those are *full*: the first word of the next line would not
  have fitted on them within the widest body line (a greedy wrapper would have put it
  there otherwise);
* at least ``MIN_CLOSED_PARAGRAPHS`` of the paragraphs the lines make end with terminal
  punctuation (prose is made of sentences; a keyword list cut into lines is not).

Web pages fail the first test (their paragraph lines are long); lists, forms and headers
fail the second (their lines stop wherever the item stops, not at a margin); keyword spam
cut into lines of one width fails the third. The
paragraphs of a hard-wrapped text are its runs of non-empty lines, split also before a
line that opens a dialogue turn or a list item and after a short line that ends a
sentence, each joined with single spaces.
"""

from __future__ import annotations

import re

#: What a line or paragraph that ends a sentence ends with (the quality rules' punctuation rule).
TERMINAL = (".", "!", "?", "…", '"', "'", "”", "»", ":", ";", ")")
MAX_WIDTH = 110
MIN_WIDTH = 30
MIN_BODY_LINES = 3
MIN_GREEDY = 0.75
MIN_OPEN_ENDS = 0.5
MIN_CLOSED_PARAGRAPHS = 0.5
# A line starting with one of these opens a new paragraph (a dialogue turn or a list item).
_OPENERS = re.compile(r"^(?:[—―–-]\s?\S|[•●◦▪‣*]\s|\d{1,3}[.)]\s)")
_FIRST_WORD = re.compile(r"\S+?(?:-(?=\S)|(?=\s)|$)")


def _open_end(line: str) -> bool:
    return not line.rstrip("*_`").endswith(TERMINAL)


def is_hard_wrapped(lines: list[str]) -> bool:
    """Whether ``lines`` (a document split on newlines, each stripped) look hard-wrapped."""
    if len(lines) < MIN_BODY_LINES + 1:
        return False
    body = []
    for line, after in zip(lines, lines[1:]):
        if len(line) > MAX_WIDTH and " " in line:
            return False  # a long line: web text, one paragraph per line
        if line and after:
            body.append((line, after))
    if len(body) < MIN_BODY_LINES or len(lines[-1]) > MAX_WIDTH and " " in lines[-1]:
        return False
    width = max(len(line) for line, _ in body)
    if width < MIN_WIDTH:
        return False
    # A line that ends a sentence may end its paragraph too (paragraphs without a blank line
    # between them): only the lines that stop mid-sentence must be full.
    open_body = [(line, after) for line, after in body if _open_end(line)]
    if len(open_body) < MIN_OPEN_ENDS * len(body):
        return False
    greedy = 0
    for line, after in open_body:
        word = _FIRST_WORD.match(after)
        greedy += len(line) + 1 + len(word.group(0) if word else after) > width
    if greedy < MIN_GREEDY * len(open_body):
        return False
    spans = paragraph_spans(lines)
    closed = sum(not _open_end(lines[b - 1]) for _, b in spans)
    return closed >= MIN_CLOSED_PARAGRAPHS * len(spans)


def paragraph_spans(lines: list[str]) -> list[tuple[int, int]]:
    """``(first, stop)`` line ranges of the paragraphs of hard-wrapped ``lines`` (stripped)."""
    body_widths = [len(line) for line, after in zip(lines, lines[1:]) if line and after]
    width = max(body_widths, default=0)
    spans: list[tuple[int, int]] = []
    start = None
    for i, line in enumerate(lines):
        if not line:
            if start is not None:
                spans.append((start, i))
                start = None
            continue
        if start is not None and _OPENERS.match(line):
            spans.append((start, i))
            start = None
        if start is None:
            start = i
        # A short line that ends a sentence ends its paragraph (paragraphs not separated by blank lines).
        if len(line) < 0.7 * width and not _open_end(line):
            spans.append((start, i + 1))
            start = None
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def units(text: str, unwrap: bool = True) -> tuple[list[str], list[tuple[int, int]] | None]:
    """The units the line rules judge: ``(texts, spans)``.

    For hard-wrapped text (and ``unwrap``), the paragraphs, each its lines joined by single
    spaces, with the line range of each; otherwise the non-empty lines themselves and None.
    """
    lines = [line.strip() for line in text.split("\n")]
    if unwrap and is_hard_wrapped(lines):
        spans = paragraph_spans(lines)
        return [" ".join(lines[a:b]) for a, b in spans], spans
    return [line for line in lines if line], None
