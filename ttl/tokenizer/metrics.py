"""How good is a tokenizer for a language? Measured on held-out text.

* **fertility**: tokens per word (words = whitespace-separated strings). Lower is better:
  the same context window holds more text and training sees more text per token.
  TeenyTinyLlama's tokenizer needed 9,937 tokens for a 7,400-word Portuguese text
  (1.34 tokens a word) where a multilingual tokenizer needed 14,813 (2.0).
* **split_word_share**: share of word occurrences cut into more than one token.
* **bytes_per_token**: UTF-8 bytes per token (a measure of compression).
* **unk_rate**: share of tokens that are ``<unk>``: information lost for good.
* **byte_fallback_rate**: share of tokens that are byte tokens ``<0x..>``: characters the
  vocabulary does not hold, spelled byte by byte (lossless, but costly).

Every function accepts a trained tokenizer of any of the kinds the course builds: a
``transformers`` fast tokenizer, a ``tokenizers.Tokenizer``, a SentencePiece processor,
or the teaching BPE.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
METRIC_COLUMNS = ["fertility", "split_word_share", "bytes_per_token", "unk_rate", "byte_fallback_rate"]


@dataclass
class _Encoder:
    """A uniform view of a tokenizer: ids without special tokens, and which ids are unk/bytes."""

    encode_batch: Callable[[list[str]], list[list[int]]]
    unk_ids: set[int]
    byte_ids: set[int]
    vocab_size: int


def _as_encoder(tokenizer) -> _Encoder:
    import sentencepiece as spm
    from tokenizers import Tokenizer

    from .teaching_bpe import TeachingBPE

    if isinstance(tokenizer, spm.SentencePieceProcessor):
        sp = tokenizer
        n = sp.get_piece_size()
        return _Encoder(lambda texts: sp.encode(texts),
                        {i for i in range(n) if sp.is_unknown(i)},
                        {i for i in range(n) if sp.is_byte(i)}, n)
    if isinstance(tokenizer, TeachingBPE):
        bpe = tokenizer
        return _Encoder(lambda texts: [bpe.encode(t) for t in texts],
                        {bpe.vocab["<unk>"]}, {bpe.vocab[b] for b in BYTE_TOKENS if b in bpe.vocab},
                        len(bpe.vocab))
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not isinstance(backend, Tokenizer):
        raise TypeError(
            f"cannot measure a {type(tokenizer).__name__}: pass a transformers fast tokenizer, a "
            "tokenizers.Tokenizer, a sentencepiece.SentencePieceProcessor or a TeachingBPE")
    vocab = backend.get_vocab(with_added_tokens=True)
    unk = {vocab["<unk>"]} if "<unk>" in vocab else set()
    return _Encoder(lambda texts: [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)],
                    unk, {vocab[b] for b in BYTE_TOKENS if b in vocab}, backend.get_vocab_size())


def tokenizer_metrics(tokenizer, texts: Iterable[str]) -> dict[str, float]:
    """Fertility, split-word share, bytes per token, unk and byte-fallback rates on ``texts``."""
    enc = _as_encoder(tokenizer)
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise ValueError("no held-out text to measure: pass a non-empty list of non-blank strings")
    ids = enc.encode_batch(texts)
    n_tokens = sum(len(x) for x in ids)
    n_unk = sum(1 for x in ids for i in x if i in enc.unk_ids)
    n_byte = sum(1 for x in ids for i in x if i in enc.byte_ids)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    # Each distinct word is encoded once, alone (it gets the same leading "▁" as mid-text).
    words = Counter(w for t in texts for w in t.split())
    unique = list(words)
    word_ids = enc.encode_batch(unique)
    n_words = sum(words.values())
    n_split = sum(words[w] for w, x in zip(unique, word_ids) if len(x) > 1)
    return {
        "vocab_size": enc.vocab_size,
        "words": n_words,
        "tokens": n_tokens,
        "fertility": n_tokens / n_words,
        "split_word_share": n_split / n_words,
        "bytes_per_token": n_bytes / max(n_tokens, 1),
        "unk_rate": n_unk / max(n_tokens, 1),
        "byte_fallback_rate": n_byte / max(n_tokens, 1),
    }


def holdout_split(texts: Sequence[str], heldout_fraction: float = 0.1) -> tuple[list[str], list[str]]:
    """Deterministic train / held-out split: every k-th text is held out (k = 1/fraction)."""
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError(f"need at least 2 texts to hold one out, got {len(texts)}")
    every = max(2, round(1 / heldout_fraction))
    held = [t for i, t in enumerate(texts) if i % every == every - 1]
    train = [t for i, t in enumerate(texts) if i % every != every - 1]
    return train, held


def compare_tokenizers(train_texts: Sequence[str], heldout_texts: Sequence[str],
                       vocab_sizes: Iterable[int] = (1000, 2000, 4000, 8000),
                       trainers: Iterable[str] = ("tokenizers", "sentencepiece"),
                       max_chars: int | None = None):
    """Train one tokenizer per (trainer, vocabulary size) and measure each on held-out text.

    Returns a ``pandas.DataFrame`` with one row per tokenizer: ``trainer``,
    ``requested_vocab``, ``vocab_size`` (what was actually learned: small text cannot
    fill a large vocabulary), ``train_seconds`` and the metrics of
    :func:`tokenizer_metrics`.
    """
    import pandas as pd

    from .spm import train_spm
    from .train import train_tokenizer

    train_texts = list(train_texts)
    rows = []
    for trainer in trainers:
        for vocab_size in vocab_sizes:
            start = time.perf_counter()
            if trainer == "tokenizers":
                tok = train_tokenizer(train_texts, vocab_size, max_chars=max_chars, show_progress=False)
            elif trainer == "sentencepiece":
                tok = train_spm(train_texts, vocab_size, max_chars=max_chars)
            else:
                raise ValueError(f"unknown trainer {trainer!r}; use 'tokenizers' or 'sentencepiece'")
            seconds = time.perf_counter() - start
            row = {"trainer": trainer, "requested_vocab": int(vocab_size)}
            row.update(tokenizer_metrics(tok, heldout_texts))
            row["train_seconds"] = seconds
            rows.append(row)
    return pd.DataFrame(rows)
