"""Extend a trained tokenizer with the tokens of a new language, keeping every existing id.

The first step of continual pretraining on a new language (the T-lite recipe, issue 15):
train a tokenizer of the same design on the new language, append the merges (and the
tokens they make) that the base lacks, then grow the model's embedding with
:func:`ttl.model.resize.extend_embeddings`.

Why appended merges leave old text alone (and when they do not): the BPE model applies, at
every step, the best-ranked merge among the adjacent pairs of a word. Appended merges rank
below every base merge, so a word first goes all the way to its base tokenization; only then
can a new merge fire, and it does when its two pieces are adjacent there (``"▁cas"`` +
``"as"`` when the base split ``"▁casas"`` that way). Filtering on ``old_texts`` removes exactly
those merges, for the texts checked.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer

from ttl.special_tokens import SPECIAL_TOKENS

from .metrics import tokenizer_metrics
from .train import BYTE_TOKENS, VocabularyWarning, build_hf_tokenizer, load_tokenizer, save_tokenizer, train_tokenizer


def _backend(tokenizer) -> Tokenizer:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not isinstance(backend, Tokenizer):
        raise TypeError(f"expected a transformers fast tokenizer or a tokenizers.Tokenizer, got "
                        f"{type(tokenizer).__name__}; load one with ttl.tokenizer.load_tokenizer(folder)")
    return backend


def _merge_pairs(model_json: dict) -> list[tuple[str, str]]:
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model_json["merges"]]


def _texts(texts, name: str) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be an iterable of texts, not a single string; wrap it: [text]")
    out = [t for t in texts if isinstance(t, str) and t.strip()]
    if not out:
        raise ValueError(f"{name} holds no non-blank text; pass the text column of a corpus "
                         "(e.g. ttl.data.corpus_texts(path))")
    return out


def old_adjacent(base, old_texts: Iterable[str]) -> tuple[set[tuple[str, str]], set[str]]:
    """Pairs of base tokens adjacent *inside one word* in the base tokenization, and the characters seen.

    Tokens of two different pre-tokens (words, newline runs, digits) are never merged, so
    only pairs within a word count. The characters are needed for new one-character tokens:
    the base spells a character it lacks with byte tokens, and a new token for it would
    change every text that contains it.
    """
    backend = _backend(base)
    texts = list(old_texts)
    pairs: set[tuple[str, str]] = set()
    for enc in backend.encode_batch(texts, add_special_tokens=False):
        tokens, words = enc.tokens, enc.word_ids
        for i in range(len(tokens) - 1):
            if words[i] is not None and words[i] == words[i + 1]:
                pairs.add((tokens[i], tokens[i + 1]))
    chars = {c for t in texts for c in t}
    return pairs, chars


def extend_tokenizer(base, texts: Iterable[str], add: int, *, old_texts: Iterable[str] | None = None,
                     out_dir: str | os.PathLike | None = None, train_vocab_size: int | None = None):
    """Add up to ``add`` tokens of a new language to ``base``; every base id and merge unchanged.

    Args:
        base: the base tokenizer (a folder saved by :func:`train_tokenizer`, or the loaded tokenizer).
        texts: text of the new language; a BPE tokenizer of the same design (Metaspace, digits
            split, newlines isolated, byte fallback) is trained on it.
        add: how many tokens to add at most (fewer when the new tokenizer runs out of candidates).
        old_texts: text of the base language (e.g. the Portuguese corpus). When given, every
            candidate token that one of its merges would form from two base tokens adjacent
            inside a word of the base tokenization of ``old_texts`` is dropped, and so is a new
            one-character token for a character that occurs in ``old_texts``. Then no new merge
            fires on these texts and their ids are exactly unchanged. The guarantee holds for
            the texts checked, not for any text of the old language: an unseen Portuguese word
            can still meet a new merge. It costs tokens: the dropped candidates (often the
            commonest shared endings) are reported in ``dropped``, and the walk goes further
            down the new tokenizer's merges to make up the number.
        out_dir: if given, the extended tokenizer is saved there in ``load_tokenizer``'s format.
        train_vocab_size: vocabulary of the new-language tokenizer (default: base size + 3 x add,
            so that enough candidates remain after those the base already has).

    Returns:
        ``(tokenizer, report)``: the extended ``PreTrainedTokenizerFast`` and a dict with
        ``added``, ``dropped`` (candidates dropped by the ``old_texts`` filter), ``skipped``
        (candidates whose pieces were not available), ``base_vocab``, ``vocab``, ``new_tokens``
        (the added strings, in id order), ``fertility_new_before/after`` on ``texts`` and, with
        ``old_texts``, ``fertility_old_before/after`` (equal by construction).

    Each new token gets its learned merge first, then every other split into two tokens of
    the extended vocabulary at the same rank, as :func:`complete_merges` does for the base
    (so the SentencePiece reading with score = -id still equals the merge list).
    """
    if isinstance(base, (str, os.PathLike)):
        base = load_tokenizer(base)
    base_backend = _backend(base)
    add = int(add)
    if add < 1:
        raise ValueError(f"add must be a positive number of tokens, got {add}")
    texts = _texts(texts, "texts")
    old = _texts(old_texts, "old_texts") if old_texts is not None else None

    data = json.loads(base_backend.to_str())
    model = data["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"the base tokenizer is a {model.get('type')} model; extend_tokenizer needs a BPE "
                         "tokenizer trained by ttl.tokenizer.train_tokenizer")
    vocab: dict[str, int] = dict(model["vocab"])
    base_vocab = set(vocab)
    n_base = len(vocab)
    if n_base != base_backend.get_vocab_size(with_added_tokens=True):
        raise ValueError("the base tokenizer has added tokens outside its BPE vocabulary; extend_tokenizer "
                         "only handles tokenizers trained by ttl.tokenizer.train_tokenizer")

    size = int(train_vocab_size) if train_vocab_size else n_base + 3 * add
    with warnings.catch_warnings():
        # A small new-language corpus supports fewer merges than asked: only the merges matter here.
        warnings.simplefilter("ignore", VocabularyWarning)
        new = train_tokenizer(texts, size, show_progress=False, sentencepiece_merges=False,
                              byte_fallback=model.get("byte_fallback", True))
    new_merges = _merge_pairs(json.loads(_backend(new).to_str())["model"])

    pairs, old_chars = old_adjacent(base, old) if old is not None else (set(), set())
    fixed = set(SPECIAL_TOKENS) | set(BYTE_TOKENS)
    added: list[str] = []
    dropped: list[str] = []
    skipped = 0

    def conflicts(token: str) -> bool:
        # Only merges of two *base* tokens can meet in the base tokenization of old text.
        return any((token[:k], token[k:]) in pairs for k in range(1, len(token))
                   if token[:k] in base_vocab and token[k:] in base_vocab)

    def take(token: str) -> bool:
        if len(added) >= add:
            return False
        if old is not None and (conflicts(token) or (len(token) == 1 and token in old_chars)):
            dropped.append(token)
            return False
        vocab[token] = len(vocab)
        added.append(token)
        return True

    rejected: set[str] = set()
    for a, b in new_merges:
        if len(added) >= add:
            break
        token = a + b
        if token in vocab or token in rejected or token in fixed:
            continue
        ok = True
        for part in (a, b):
            # A character the base lacks (spelled as bytes there) becomes a token itself first.
            if part not in vocab and not (len(part) == 1 and part not in rejected and take(part)):
                rejected.add(part)
                ok = False
                break
        if not ok or not take(token):
            rejected.add(token)
            skipped += ok is False
    if len(added) < add:
        warnings.warn(f"added {len(added)} of the {add} tokens asked: the new-language tokenizer ran out of "
                      f"candidates ({len(dropped)} dropped by the old_texts filter); pass more text, a larger "
                      "train_vocab_size, or ask for fewer", VocabularyWarning, stacklevel=2)

    learned = {a + b: (a, b) for a, b in new_merges}
    merges = [list(m) for m in _merge_pairs(model)]
    for token in added:
        if len(token) == 1:
            continue                  # a character is a base symbol of the BPE model, made by no merge
        splits = [learned[token]] if token in learned else []
        splits += [(token[:k], token[k:]) for k in range(1, len(token))
                   if token[:k] in vocab and token[k:] in vocab and (token[:k], token[k:]) not in splits]
        merges += [list(s) for s in splits]
    model["vocab"] = vocab
    model["merges"] = merges
    tok = Tokenizer.from_str(json.dumps(data, ensure_ascii=False))
    hf = build_hf_tokenizer(tok)

    report = {"base_vocab": n_base, "vocab": len(vocab), "added": len(added), "dropped": len(dropped),
              "skipped": skipped, "new_tokens": added, "dropped_tokens": dropped,
              "fertility_new_before": tokenizer_metrics(base, texts)["fertility"],
              "fertility_new_after": tokenizer_metrics(hf, texts)["fertility"]}
    if old is not None:
        report["fertility_old_before"] = tokenizer_metrics(base, old)["fertility"]
        report["fertility_old_after"] = tokenizer_metrics(hf, old)["fertility"]
    if out_dir is not None:
        report["out_dir"] = str(save_tokenizer(hf, Path(out_dir)))
    return hf, report
