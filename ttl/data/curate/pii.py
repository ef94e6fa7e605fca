"""PII masking: e-mail addresses, phone numbers and national identity numbers, per language.

Which detectors run, and their placeholders, come from the language's ``pii.yaml``
(``ttl/data/resources/<code>/``): Portuguese masks e-mail, Brazilian phones, CPF and CNPJ;
Spanish e-mail, Spanish phones and DNI/NIE numbers; English e-mail and international phones.

CPF (individual taxpayer number, 11 digits) and CNPJ (company number, 14
digits) end in two check digits computed modulo 11. We mask a number only when
its check digits are right: an order number or a protocol code that merely has
the same shape stays in the text, because masking it would teach the model
nothing and lose information. A Spanish DNI (8 digits) or NIE (X, Y or Z and 7 digits) ends in a
check letter, "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23] (the NIE's letter counts as 0, 1, 2):
it is masked only when that letter is right.
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


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(number: str) -> str:
    """The check letter of a DNI (8 digits) or NIE (X/Y/Z and 7 digits) body."""
    body = number.upper()
    if len(body) == 8 and body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    if len(body) != 8 or not body.isdigit():
        raise ValueError(f"a DNI body has 8 digits and a NIE body X/Y/Z and 7 digits, got {number!r}")
    return _DNI_LETTERS[int(body) % 23]


def is_valid_dni(value: str) -> bool:
    """True for a DNI or NIE (spaces and hyphens ignored) whose check letter is right."""
    compact = re.sub(r"[\s-]", "", value).upper()
    if len(compact) != 9 or not compact[-1].isalpha():
        return False
    try:
        return dni_letter(compact[:-1]) == compact[-1]
    except ValueError:
        return False


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
# Spanish phone numbers: +34 and nine digits, or nine digits starting with 6, 7, 8 or 9
# (mobile 6/7, landline 8/9), grouped 3-3-3, 3-2-2-2 or 2-3-2-2, or bare.
PHONE_ES = re.compile(
    r"(?<![\w+(./-])(?:"
    r"(?:\+|00)34[\s.-]?[6-9](?:[\s.-]?\d){8}"          # country code, then the nine digits
    r"|[6-9]\d{2}[\s.-]?\d{3}[\s.-]?\d{3}"                # 612 345 678, 612345678
    r"|[6-9]\d{2}[\s.-]\d{2}[\s.-]\d{2}[\s.-]\d{2}"       # 612 34 56 78
    r"|[89]\d[\s.-]\d{3}[\s.-]\d{2}[\s.-]\d{2}"          # 91 123 45 67
    r")(?![\w/-]|\.\d)")
# A number written with its country code: +44 20 7946 0958, +1 (555) 123-4567 (8 to 15 digits).
PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?![\w/-]|\.\d)")
# DNI 12345678Z, 12345678-Z; NIE X1234567L, X-1234567-L.
DNI = re.compile(r"(?<![\w.-])(?:[XYZ][\s-]?\d{7}|\d{8})[\s-]?[A-Z](?!\w)", re.IGNORECASE)


def _intl_digits_ok(value: str) -> bool:
    return 8 <= sum(c.isdigit() for c in value) <= 15


# detector -> (kind it counts as, pattern, validity check or None). Order of the masking passes:
# identity numbers before phones, so a phone pattern never eats part of a CNPJ or a DNI.
DETECTORS: dict[str, tuple] = {
    "email": ("email", EMAIL, None),
    "cnpj": ("cnpj", CNPJ, is_valid_cnpj),   # CNPJ before CPF: its first digits could read as a CPF
    "cpf": ("cpf", CPF, is_valid_cpf),
    "dni": ("dni", DNI, is_valid_dni),
    "phone_br": ("phone", PHONE, None),
    "phone_es": ("phone", PHONE_ES, None),
    "phone_intl": ("phone", PHONE_INTL, _intl_digits_ok),
}
KINDS = ("email", "phone", "cpf", "cnpj", "dni")
_BR_ONLY = frozenset({"email", "cnpj", "cpf", "phone_br"})
# Every CPF, CNPJ and phone number above holds 10 or more digits, one to the next at most two
# characters apart: text without such a run holds none of them (one cheap scan instead of three).
_DIGIT_RUN = re.compile(r"\d(?:\D{0,2}\d){9}")
# The other detectors need seven digits or more (a NIE has seven).
_SHORT_DIGIT_RUN = re.compile(r"\d(?:\D{0,2}\d){6}")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def shape(value: str) -> str:
    """``value`` with every digit written 0 and every other letter x: what it looked like, not what it was."""
    return _LETTER_OR_DIGIT.sub(lambda m: "0" if m.group(0).isdigit() else "x", value)


_BR_DEFAULTS = {"email": "<EMAIL>", "phone": "<TELEFONE>", "cpf": "<CPF>", "cnpj": "<CNPJ>"}
_KIND_FLAG = {"email": "mask_email", "phone": "mask_phone", "cpf": "mask_cpf", "cnpj": "mask_cnpj",
              "dni": "mask_dni"}


@dataclass
class PIIMasker(Step):
    """Replace personal data with placeholders; never removes a document.

    ``detectors`` and ``placeholders`` default to the language's ``pii.yaml``; a language
    without one masks e-mail addresses only. Placeholders given here override the
    language's, kind by kind; the ``mask_<kind>`` switches turn a kind off.
    """

    language: str = "pt"
    detectors: list[str] | None = None
    placeholders: dict[str, str] | None = None
    mask_email: bool = True
    mask_phone: bool = True
    mask_cpf: bool = True
    mask_cnpj: bool = True
    mask_dni: bool = True

    name = "pii"

    def __post_init__(self) -> None:
        from ttl.config import ConfigError
        from ttl.resources import language_resources
        rules = language_resources(self.language).pii or {"detectors": ["email"], "placeholders": {}}
        detectors = list(rules["detectors"] if self.detectors is None else self.detectors)
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown:
            raise ConfigError(f"pii.detectors: unknown detector(s) {unknown}; use {sorted(DETECTORS)}")
        given = dict(self.placeholders or {})
        unknown = set(given) - set(KINDS)
        if unknown:
            raise ConfigError(f"pii.placeholders: unknown kind(s) {sorted(unknown)}; use {sorted(KINDS)}")
        defaults = {kind: f"<{kind.upper()}>" for kind in KINDS}
        self.placeholders = {**defaults, **_BR_DEFAULTS, **rules["placeholders"], **given}
        # The passes in DETECTORS order, for the detectors chosen and the kinds switched on.
        self._passes = [(DETECTORS[d][0],) + DETECTORS[d][1:] for d in DETECTORS
                        if d in detectors and getattr(self, _KIND_FLAG[DETECTORS[d][0]])]
        self._kinds = tuple(dict.fromkeys(DETECTORS[d][0] for d in DETECTORS if d in detectors))
        self._digit_run = _DIGIT_RUN if set(detectors) <= _BR_ONLY else _SHORT_DIGIT_RUN

    def mask(self, text: str) -> tuple[str, dict[str, int]]:
        """The masked text and how many items of each kind were replaced."""
        masked, counts, _ = self.mask_spans(text)
        return masked, counts

    def mask_spans(self, text: str) -> tuple[str, dict[str, int], list[tuple[int, int, str, str]]]:
        """:meth:`mask`, and where each placeholder is in the masked text: ``(start, end, kind, shape)``."""
        counts = {kind: 0 for kind in self._kinds}
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

        digits = None  # whether the text holds a run of digits long enough for a number, once asked
        for kind, pattern, valid in self._passes:
            if kind == "email":
                if "@" in text:
                    text = run(kind, pattern, valid, text)
                continue
            if digits is None:
                digits = bool(self._digit_run.search(text))
            if digits:
                text = run(kind, pattern, valid, text)
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
