"""PII masking: e-mail addresses, Brazilian phone numbers, CPF and CNPJ numbers.

CPF (individual taxpayer number, 11 digits) and CNPJ (company number, 14
digits) end in two check digits computed modulo 11. We mask a number only when
its check digits are right: an order number or a protocol code that merely has
the same shape stays in the text, because masking it would teach the model
nothing and lose information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .base import EDIT_CONTEXT, Step, record_edit

_CPF_WEIGHTS_1 = list(range(10, 1, -1))          # 10, 9, ..., 2 for the first 9 digits
_CPF_WEIGHTS_2 = list(range(11, 1, -1))          # 11, 10, ..., 2 for the first 10 digits
_CNPJ_WEIGHTS_1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
_CNPJ_WEIGHTS_2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]


def _mod11_digit(digits: list[int], weights: list[int]) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(first9: str) -> str:
    """The two check digits of a CPF whose first nine digits are ``first9``."""
    digits = [int(c) for c in first9]
    if len(digits) != 9:
        raise ValueError(f"a CPF body has 9 digits, got {first9!r}")
    d1 = _mod11_digit(digits, _CPF_WEIGHTS_1)
    d2 = _mod11_digit(digits + [d1], _CPF_WEIGHTS_2)
    return f"{d1}{d2}"


def cnpj_check_digits(first12: str) -> str:
    """The two check digits of a CNPJ whose first twelve digits are ``first12``."""
    digits = [int(c) for c in first12]
    if len(digits) != 12:
        raise ValueError(f"a CNPJ body has 12 digits, got {first12!r}")
    d1 = _mod11_digit(digits, _CNPJ_WEIGHTS_1)
    d2 = _mod11_digit(digits + [d1], _CNPJ_WEIGHTS_2)
    return f"{d1}{d2}"


def is_valid_cpf(number: str) -> bool:
    """True for an 11-digit CPF (punctuation ignored) with correct check digits, not all one digit."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def is_valid_cnpj(number: str) -> bool:
    """True for a 14-digit CNPJ (punctuation ignored) with correct check digits, not all one digit."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    return cnpj_check_digits(digits[:12]) == digits[12:]


EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 000.000.000-00 or 11 bare digits; not inside a longer number.
CPF = re.compile(r"(?<![\d./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d/-]|\.\d)")
# 00.000.000/0000-00 or 14 bare digits.
CNPJ = re.compile(r"(?<![\d./-])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?![\d/-]|\.\d)")
# Brazilian phone numbers: (11) 98765-4321, +55 11 98765-4321, +55 (21) 3456-7890, 11 98765-4321.
# A bare run of digits is not matched: too many other numbers look like that.
PHONE = re.compile(
    r"(?<![\w+(./-])(?:"
    r"(?:\+55\s?)?\(\d{2}\)\s?9?\d{4}[-\s]?\d{4}"      # area code in parentheses
    r"|\+55\s?\d{2}\s?9?\d{4}[-\s]?\d{4}"               # country code, then area code
    r"|\d{2}\s9?\d{4}-\d{4}"                           # area code, space, number with a hyphen
    r")(?![\w/-]|\.\d)")
# Every CPF, CNPJ and phone number above holds 10 or more digits, one to the next at most two
# characters apart: text without such a run holds none of them (one cheap scan instead of three).
_DIGIT_RUN = re.compile(r"\d(?:\D{0,2}\d){9}")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def shape(value: str) -> str:
    """``value`` with every digit written 0 and every other letter x: what it looked like, not what it was."""
    return _LETTER_OR_DIGIT.sub(lambda m: "0" if m.group(0).isdigit() else "x", value)


@dataclass
class PIIMasker(Step):
    """Replace personal data with placeholders; never removes a document."""

    placeholders: dict[str, str] = field(default_factory=lambda: {
        "email": "<EMAIL>", "phone": "<TELEFONE>", "cpf": "<CPF>", "cnpj": "<CNPJ>"})
    mask_email: bool = True
    mask_phone: bool = True
    mask_cpf: bool = True
    mask_cnpj: bool = True

    name = "pii"

    def __post_init__(self) -> None:
        defaults = {"email": "<EMAIL>", "phone": "<TELEFONE>", "cpf": "<CPF>", "cnpj": "<CNPJ>"}
        unknown = set(self.placeholders) - set(defaults)
        if unknown:
            from ttl.config import ConfigError
            raise ConfigError(f"pii.placeholders: unknown kind(s) {sorted(unknown)}; use {sorted(defaults)}")
        self.placeholders = {**defaults, **self.placeholders}

    def mask(self, text: str) -> tuple[str, dict[str, int]]:
        """The masked text and how many items of each kind were replaced."""
        masked, counts, _ = self.mask_spans(text)
        return masked, counts

    def mask_spans(self, text: str) -> tuple[str, dict[str, int], list[tuple[int, int, str, str]]]:
        """:meth:`mask`, and where each placeholder is in the masked text: ``(start, end, kind, shape)``."""
        counts = {"email": 0, "phone": 0, "cpf": 0, "cnpj": 0}
        spans: list[list] = []  # [start, end, kind, shape], in the coordinates of the latest text

        def run(kind: str, pattern: re.Pattern, valid, text: str) -> str:
            placeholder = self.placeholders[kind]
            moves: list[tuple[int, int]] = []  # (end of a replaced match in the input, length change)
            shift = 0

            def _sub(match: re.Match) -> str:
                nonlocal shift
                value = match.group(0)
                if valid is not None and not valid(value):
                    return value
                counts[kind] += 1
                start = match.start() + shift
                spans.append([start, start + len(placeholder), kind, shape(value)])
                shift += len(placeholder) - len(value)
                moves.append((match.end(), len(placeholder) - len(value)))
                return placeholder

            before = len(spans)
            out = pattern.sub(_sub, text)
            # Spans found by earlier passes move by the length changes of the matches before them.
            if moves:
                for span in spans[:before]:
                    delta = sum(d for end, d in moves if end <= span[0])
                    span[0] += delta
                    span[1] += delta
            return out

        if self.mask_email and "@" in text:
            text = run("email", EMAIL, None, text)
        if (self.mask_cnpj or self.mask_cpf or self.mask_phone) and _DIGIT_RUN.search(text):
            # CNPJ before CPF: a CNPJ's first digits could otherwise be read as a CPF.
            if self.mask_cnpj:
                text = run("cnpj", CNPJ, is_valid_cnpj, text)
            if self.mask_cpf:
                text = run("cpf", CPF, is_valid_cpf, text)
            if self.mask_phone:
                text = run("phone", PHONE, None, text)
        return text, counts, [(a, b, kind, form) for a, b, kind, form in sorted(spans)]

    def process(self, doc: dict[str, Any]) -> str | None:
        text = doc["text"]
        if doc.get("edits") is None:
            doc["text"], _ = self.mask(text)
            return None
        masked, _, spans = self.mask_spans(text)
        for start, end, kind, form in spans:
            # Both sides are cut from the masked text, so the log never repeats personal data:
            # "before" shows the shape of the value (digits as 0, letters as x), not the value.
            lo, hi = max(0, start - EDIT_CONTEXT), end + EDIT_CONTEXT
            record_edit(doc, self.name, f"pii_{kind}", masked[lo:start] + form + masked[end:hi], masked[lo:hi])
        doc["text"] = masked
        return None
