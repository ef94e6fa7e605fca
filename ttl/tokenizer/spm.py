"""The same tokenizer trained with Google's ``sentencepiece`` library, for comparison.

Llama-2 (and so TeenyTinyLlama) tokenizers were first trained with SentencePiece; the
course trains with Hugging Face ``tokenizers`` (:mod:`ttl.tokenizer.train`) because it
trains from a stream and exports straight to ``transformers``. This module trains the
SentencePiece equivalent (BPE, byte fallback, split digits, the same special ids,
no Unicode normalization) so the two can be compared on the same held-out text.

Two differences worth knowing:

* SentencePiece trains on *sentences*: documents are cut into lines here, and it keeps
  all of them in memory (``input_sentence_size`` samples when there are too many), so it
  cannot stream a corpus of any size the way ``tokenizers`` does.
* ``character_coverage`` (default 0.9995) decides which characters get their own piece;
  the rarest characters are left to byte fallback, like ``limit_alphabet`` does for
  ``tokenizers``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from ttl.io import atomic_write_bytes

SPECIAL_IDS = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": 3}
MAX_SENTENCE_CHARS = 8192  # longer lines are cut into pieces of this size


def _sentences(texts: Iterable[str], max_chars: int | None, stats: dict) -> Iterator[str]:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"train_spm expects an iterable of str, but item {index} is {type(text).__name__}")
        if max_chars is not None:
            room = max_chars - stats["chars"]
            if room <= 0:
                return
            text = text[:room]
        stats["chars"] += len(text)
        for line in text.split("\n"):
            # SentencePiece skips sentences over max_sentence_length bytes; cut them instead
            for start in range(0, len(line), MAX_SENTENCE_CHARS):
                piece = line[start:start + MAX_SENTENCE_CHARS]
                if piece.strip():
                    stats["sentences"] += 1
                    yield piece


def train_spm(texts: Iterable[str], vocab_size: int, out_path: str | os.PathLike | None = None, *,
              byte_fallback: bool = True, split_digits: bool = True, max_chars: int | None = None,
              character_coverage: float = 0.9995, num_threads: int | None = None,
              input_sentence_size: int = 0) -> spm.SentencePieceProcessor:
    """Train a SentencePiece BPE model and return a loaded ``SentencePieceProcessor``.

    ``vocab_size`` counts the special tokens and, with ``byte_fallback``, the 256 byte
    pieces, as in :func:`ttl.tokenizer.train.train_tokenizer`; like there, the result
    has fewer pieces when the text is too small to fill the vocabulary. If ``out_path`` is given
    (a ``.model`` file), the model is written there atomically.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("train_spm expects an iterable of texts, not a single string; wrap it: [text]")
    reserved = len(SPECIAL_IDS) + (256 if byte_fallback else 0)
    if vocab_size < reserved + 10:
        raise ValueError(f"vocab_size={vocab_size} is too small: specials and byte pieces take {reserved} ids; "
                         f"use vocab_size >= {reserved + 10}")
    stats = {"chars": 0, "sentences": 0}
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sentences(texts, max_chars, stats),
            model_writer=model,
            model_type="bpe",
            vocab_size=int(vocab_size),
            byte_fallback=byte_fallback,
            split_digits=split_digits,
            normalization_rule_name="identity",   # no NFKC: keep text exactly as given
            add_dummy_prefix=True,                 # the prepended "▁", like ours
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,
            character_coverage=character_coverage,
            max_sentence_length=4 * MAX_SENTENCE_CHARS,  # in bytes
            input_sentence_size=input_sentence_size,
            shuffle_input_sentence=True,
            hard_vocab_limit=False,                # small text: fewer pieces, not an error
            num_threads=num_threads or os.cpu_count() or 1,
            minloglevel=2,                         # errors only; training is chatty otherwise
            **SPECIAL_IDS,
        )
    except RuntimeError as exc:
        if stats["sentences"] == 0:
            raise ValueError("no text to train on: the iterable gave no non-empty line") from exc
        raise ValueError(f"sentencepiece could not train a {vocab_size}-token model: {exc} "
                         "(SentencePiece needs room for every character it keeps besides the "
                         "special and byte pieces: raise vocab_size or lower character_coverage)") from exc
    data = model.getvalue()
    if out_path is not None:
        atomic_write_bytes(out_path, data)
    return spm.SentencePieceProcessor(model_proto=data)


def load_spm(path: str | os.PathLike) -> spm.SentencePieceProcessor:
    """Load a ``.model`` file written by :func:`train_spm`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SentencePiece model at {path}; train one with ttl.tokenizer.spm.train_spm")
    return spm.SentencePieceProcessor(model_file=str(path))
