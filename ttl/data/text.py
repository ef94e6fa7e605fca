"""Words, word shingles and the Jaccard similarity: the one definition the data code shares.

The near-duplicate step of the curation pipeline (:mod:`ttl.data.curate.minhash`), its
quality rules (:mod:`ttl.data.curate.quality`), the dirty-crawl maker (:mod:`ttl.data.crawl`)
and the builder of the embedded sample (``tools/build_sample.py``) all cut text into words
and compare documents with these three functions, so "a word" and "a near duplicate" mean
the same thing everywhere.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import lru_cache

# Possessive quantifiers (++, *+, Python 3.11 and later) give the same matches as the plain
# ones here, found without backtracking; Python 3.10 gets the plain ones.
_PLUS, _STAR = ("++", "*+") if sys.version_info >= (3, 11) else ("+", "*")
_WORD = re.compile(r"\w+")
_COMPOUND_WORD = re.compile(rf"\w{_PLUS}(?:[-'’]\w{_PLUS}){_STAR}")


def words(text: str, *, lower: bool = True, compounds: bool = False) -> list[str]:
    """The words of ``text``: runs of letters, digits and underscores (``\\w+``), lower-cased.

    ``compounds=True`` keeps inner hyphens and apostrophes inside one word ("guarda-chuva",
    "d'água"), the way the quality rules count words; ``lower=False`` keeps the case.
    """
    return (_COMPOUND_WORD if compounds else _WORD).findall(text.lower() if lower else text)


@lru_cache(maxsize=32)
def _more_words_than(n: int) -> re.Pattern:
    # From the start: n words with what follows each, then the first letter of another.
    # Possessive (++, *+): a word and the gap after it are taken whole, so one pass, no retries.
    return re.compile(rf"\W{_STAR}(?:\w{_PLUS}\W{_PLUS}){{{n}}}\w")


def has_more_words(text: str, n: int) -> bool:
    """``len(words(text)) > n``, reading ``text`` only up to the (n+1)-th word."""
    return n < 0 or _more_words_than(n).match(text) is not None


def shingles(text: str, n: int = 5) -> list[str]:
    """Word n-grams of ``text`` (lower-cased :func:`words` joined by spaces), in order.

    A text of fewer than ``n`` words is one shingle, the whole text; an empty text has none.
    """
    tokens = words(text)
    if len(tokens) < n:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def jaccard(a: Iterable, b: Iterable) -> float:
    """The true Jaccard similarity |A ∩ B| / |A ∪ B| of two collections seen as sets (1.0 for two empty ones)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
