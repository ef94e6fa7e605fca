"""A small, readable byte-pair-encoding (BPE) trainer and encoder, in pure Python.

This is the merge loop that chapter 2 walks through. It is slow (it recounts every pair
after every merge) but it is exact: with the same pre-tokenization it learns *the same
merges, in the same order* as the Rust trainer of Hugging Face ``tokenizers`` that
:func:`ttl.tokenizer.train.train_tokenizer` uses, and the tests check that.

The algorithm:

1. Pre-tokenize every text into words (:func:`pre_tokenize`) and count each distinct
   word once, with its frequency. Merges never cross word boundaries.
2. Start every word as a sequence of single characters. The base vocabulary is the
   special tokens, the 256 byte tokens, then every character seen, sorted by code point.
3. Repeat: count every adjacent pair of symbols over all words (weighted by word
   frequency); pick the most frequent pair; stop if it was seen fewer than
   ``min_frequency`` times; otherwise record the merge, add the joined string to the
   vocabulary and replace the pair in every word, left to right.

**Tie-breaking.** When several pairs share the highest count, ``tokenizers`` takes the
pair whose token ids are smallest, compared as ``(left id, right id)``. Ids follow the
order in which tokens entered the vocabulary (specials, then characters by code point,
then merged tokens in the order they were created), so the rule is "prefer the pair of
older tokens, then of lower code points". We do exactly the same.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

SPACE_MARK = "\u2581"  # "▁"
from ttl.special_tokens import SPECIAL_TOKENS
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def _is_digit(char: str) -> bool:
    """Numeric characters in the Unicode sense (categories Nd, Nl, No), like Rust's ``char::is_numeric``."""
    return unicodedata.category(char) in ("Nd", "Nl", "No")


def pre_tokenize(text: str, split_digits: bool = True) -> list[str]:
    """Split a text into the words BPE works on, the same way as :mod:`ttl.tokenizer.train`.

    Spaces become "▁" and one "▁" is prepended; a new word starts at every "▁"; runs of
    newlines and (optionally) single digits are words of their own.

    >>> pre_tokenize("Em 2023,\\nchoveu")
    ['▁Em', '▁', '2', '0', '2', '3', ',', '\\n', 'choveu']
    """
    if not text:
        return []                        # nothing to mark: the empty text has no words
    marked = SPACE_MARK + text.replace(" ", SPACE_MARK)
    words: list[str] = []
    current = ""

    def flush() -> None:
        nonlocal current
        if current:
            words.append(current)
        current = ""

    for char in marked:
        if char == SPACE_MARK:
            flush()                      # "▁" opens a new word
            current = char
        elif char == "\n":
            if not current.endswith("\n") or current.strip("\n"):
                flush()                  # a run of newlines is one word
            current += char
        elif split_digits and _is_digit(char):
            flush()                      # every digit alone
            words.append(char)
        else:
            if current.endswith("\n"):
                flush()                  # the newline run ended
            current += char
    flush()
    return words


@dataclass
class TeachingBPE:
    """A trained BPE: the vocabulary (token -> id) and the merges in the order learned."""

    vocab: dict[str, int] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)
    split_digits: bool = True

    @property
    def ranks(self) -> dict[tuple[str, str], int]:
        return {pair: rank for rank, pair in enumerate(self.merges)}

    # ------------------------------------------------------------------ encoding
    def encode_word(self, word: str) -> list[str]:
        """Tokens of one pre-tokenized word: characters (or their bytes), then merges by rank."""
        symbols: list[str] = []
        for char in word:
            if char in self.vocab:
                symbols.append(char)
            else:                        # byte fallback: spell the character as UTF-8 bytes
                symbols.extend(BYTE_TOKENS[b] for b in char.encode("utf-8"))
        ranks = self.ranks
        while len(symbols) > 1:
            # the adjacent pair that was learned first (lowest rank) is merged first
            best = min(range(len(symbols) - 1),
                       key=lambda i: ranks.get((symbols[i], symbols[i + 1]), len(ranks)))
            pair = (symbols[best], symbols[best + 1])
            if pair not in ranks:
                break
            symbols = _merge_pair(symbols, pair)
        return symbols

    def tokenize(self, text: str) -> list[str]:
        return [tok for word in pre_tokenize(text, self.split_digits) for tok in self.encode_word(word)]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no ``<s>``)."""
        return [self.vocab[tok] for tok in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: bytes back to characters, "▁" back to spaces, minus the prepended space."""
        id_to_token = {i: tok for tok, i in self.vocab.items()}
        pieces: list[str] = []
        pending = bytearray()            # consecutive byte tokens form one UTF-8 sequence
        for i in ids:
            token = id_to_token[int(i)]
            if token in SPECIAL_TOKENS:
                continue
            if token.startswith("<0x") and token in BYTE_TOKENS:
                pending.append(int(token[3:5], 16))
                continue
            pieces.append(_bytes_to_text(pending))
            pending = bytearray()
            pieces.append(token)
        pieces.append(_bytes_to_text(pending))
        text = "".join(pieces).replace(SPACE_MARK, " ")
        return text[1:] if text.startswith(" ") else text


def _bytes_to_text(data: bytearray) -> str:
    # An invalid byte sequence becomes one U+FFFD per byte, as in tokenizers' ByteFallback.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd" * len(data)


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Replace every occurrence of ``pair`` in ``symbols``, scanning left to right."""
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def count_pairs(words: dict[tuple[str, ...], int]) -> Counter:
    """How often each adjacent pair of symbols occurs, weighted by word frequency."""
    counts: Counter = Counter()
    for symbols, freq in words.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += freq
    return counts


def train_bpe(texts: Iterable[str], num_merges: int, *, min_frequency: int = 2,
              split_digits: bool = True, verbose: bool = False) -> TeachingBPE:
    """Learn up to ``num_merges`` merges from ``texts`` (fewer if pairs become too rare).

    With ``verbose=True`` every merge is printed with its count, which is the best way to
    watch BPE discover a language's common endings and words.
    """
    if num_merges < 0:
        raise ValueError(f"num_merges must be >= 0, got {num_merges}")
    # 1. distinct words with their frequencies, each word as a tuple of characters
    word_freq: Counter = Counter()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"train_bpe expects strings, got {type(text).__name__}")
        word_freq.update(pre_tokenize(text, split_digits))
    words = {tuple(word): freq for word, freq in word_freq.items()}

    # 2. base vocabulary: specials, bytes, then characters by code point
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *BYTE_TOKENS])}
    for char in sorted({c for word in word_freq for c in word}):
        vocab.setdefault(char, len(vocab))

    # 3. the merge loop
    merges: list[tuple[str, str]] = []
    while len(merges) < num_merges:
        counts = count_pairs(words)
        if not counts:
            break
        # most frequent first; among equals, the pair of smallest (left id, right id)
        pair, count = min(counts.items(), key=lambda kv: (-kv[1], vocab[kv[0][0]], vocab[kv[0][1]]))
        if count < min_frequency:
            break
        merges.append(pair)
        new_token = pair[0] + pair[1]
        vocab.setdefault(new_token, len(vocab))  # the same string can arise from two merges
        if verbose:
            print(f"merge {len(merges):4d}: {pair[0]!r} + {pair[1]!r} -> {new_token!r} (seen {count} times)")
        words = {tuple(_merge_pair(list(symbols), pair)): freq for symbols, freq in words.items()}
    return TeachingBPE(vocab=vocab, merges=merges, split_digits=split_digits)
