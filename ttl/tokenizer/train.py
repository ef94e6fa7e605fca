"""Train a SentencePiece-style BPE tokenizer with byte fallback, using Hugging Face ``tokenizers``.

What "SentencePiece-style" means here, piece by piece (the same design as Llama-2's
tokenizer, which TeenyTinyLlama reused with a Portuguese vocabulary):

* **No Unicode normalization.** ``decode(encode(text)) == text`` for any Unicode string
  (with the single exception listed below). Unicode normalization (NFC), mojibake repair and
  whitespace clean-up belong to corpus curation (chapter 1), which runs them once on the
  training text. A tokenizer that normalized would silently change what a user typed,
  and evaluation code that compares decoded strings with references would then see
  differences that are not in the model's output.
* **Metaspace pre-tokenization.** Spaces become ``"▁"`` (U+2581) and a ``"▁"`` is
  prepended to the text (the only job of the normalizer), so ``"casa"`` at the start of a text and ``" casa"`` in the
  middle are the same token ``"▁casa"``. Words are split before each ``"▁"``, so a
  token never spans two words; runs of spaces give lone ``"▁"`` tokens.
* **Newlines isolated.** A run of ``"\\n"`` is its own pre-token, so merges never glue
  a newline to a word (``".\\n"`` would waste vocabulary).
* **Digits split.** Every digit is its own token (as in Llama and TTL), so numbers are
  spelled digit by digit and arithmetic sees consistent pieces.
* **Real byte fallback.** The 256 tokens ``<0x00>`` ... ``<0xFF>`` are in the vocabulary
  (ids 4..259) and the BPE model falls back to them for any character it does not
  know: an emoji or a character never seen in training becomes its UTF-8 bytes, never
  ``<unk>``. (The original TTL script switched ``byte_fallback`` on but left the byte
  tokens out of the vocabulary, so unknown characters still became ``<unk>``.)
* **Special tokens** ``<unk>``=0, ``<s>``=1, ``</s>``=2, ``<pad>``=3; ``<s>`` is added
  at the start of every encoded text and ``</s>`` is not, like Llama.

The one unavoidable normalization: a literal ``"▁"`` (U+2581) in the input is
indistinguishable from an encoded space, so it decodes as ``" "``. SentencePiece
and Llama's tokenizer behave the same way.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from ttl.io import atomic_dir
from ttl.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS, UNK  # noqa: F401  (re-exported)


class VocabularyWarning(UserWarning):
    """The trained vocabulary is smaller than asked (the corpus is too small for it)."""


SPACE_MARK = "\u2581"  # "▁", SentencePiece's visible space
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
BATCH_SIZE = 1000  # texts handed to the Rust trainer at a time
DEFAULT_LIMIT_ALPHABET = 1000


def build_normalizer() -> normalizers.Normalizer:
    """Mark spaces only: prepend one "▁" and turn every space into "▁" (no Unicode normalization).

    Doing this here rather than with Metaspace's own ``prepend_scheme`` matters for
    exact round trips: Metaspace skips the prepended "▁" when the text already starts
    with a space, so a leading space would be lost on decoding.
    """
    return normalizers.Sequence([normalizers.Prepend(SPACE_MARK), normalizers.Replace(" ", SPACE_MARK)])


def build_pre_tokenizer(split_digits: bool = True) -> pre_tokenizers.PreTokenizer:
    """Split before every "▁", then isolate runs of newlines and (optionally) single digits."""
    steps = [
        pre_tokenizers.Metaspace(replacement=SPACE_MARK, prepend_scheme="never", split=True),
        pre_tokenizers.Split(Regex(r"\n+"), behavior="isolated"),
    ]
    if split_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    return pre_tokenizers.Sequence(steps)


def build_decoder() -> decoders.Decoder:
    """"▁" back to spaces, byte tokens back to bytes (then UTF-8), drop the prepended space."""
    return decoders.Sequence([
        decoders.Replace(SPACE_MARK, " "),
        decoders.ByteFallback(),
        decoders.Fuse(),
        decoders.Strip(content=" ", left=1, right=0),
    ])


def _batches(texts: Iterable[str], max_chars: int | None, stats: dict) -> Iterator[list[str]]:
    """Yield lists of texts, checking types and stopping after ``max_chars`` characters.

    Only one batch is held in memory at a time, so the corpus can be a stream of any size.
    """
    batch: list[str] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"train_tokenizer expects an iterable of str, but item {index} is "
                f"{type(text).__name__}; pass the text column (e.g. dataset['text'] or "
                f"(row['text'] for row in dataset)), not whole rows")
        if max_chars is not None:
            text = text[:max_chars - stats["chars"]]
        stats["texts"] += 1
        stats["chars"] += len(text)
        if text:
            batch.append(text)
        if max_chars is not None and stats["chars"] >= max_chars:
            break                        # stop before pulling another document from a stream
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _reorder_vocab(tokenizer_json: dict, byte_fallback: bool) -> dict:
    """Put the vocabulary in Llama's order: specials, then the 256 byte tokens, then the rest.

    The trainer gives specials 0..3, then the alphabet, then merged tokens. The byte
    tokens cannot be handed to the trainer (as special tokens they would be matched in
    raw text, e.g. a literal "<0x41>"), so they are inserted here and every other id
    moves up by 256. Merges name tokens by their strings, so they stay valid.
    """
    model = tokenizer_json["model"]
    trained = sorted(model["vocab"].items(), key=lambda item: item[1])
    order = list(SPECIAL_TOKENS)
    if byte_fallback:
        order += BYTE_TOKENS
    seen = set(order)
    order += [token for token, _ in trained if token not in seen]
    model["vocab"] = {token: i for i, token in enumerate(order)}
    model["byte_fallback"] = byte_fallback
    model["fuse_unk"] = True  # consecutive unknown characters give one <unk> (only without bytes)
    for added in tokenizer_json.get("added_tokens", []):
        added["id"] = model["vocab"][added["content"]]
    return tokenizer_json


def complete_merges(tokenizer_json: dict) -> dict:
    """Give every token all the merges that make it, ranked by the token's id (SentencePiece's rule).

    The trainer records one merge per token, the one it learned. A SentencePiece BPE model
    (Llama's, and llama.cpp's "llama" tokenizer) has no merge list: it joins *any* two
    adjacent pieces whose concatenation is in the vocabulary, best-scored first. The two
    disagree on rare words: with "bc" learned before "ab" and "abc" learned as "ab"+"c",
    the trainer's merges turn "abc" into ["a", "bc"] (no merge "a"+"bc"), SentencePiece into
    ["abc"]. Listing every split of every token at the token's own rank makes the merge list
    a function of the vocabulary alone, as transformers' own converter of SentencePiece
    models builds it. The tokenizer then equals its SentencePiece reading with score = -id,
    which is what lets it travel to llama.cpp unchanged (chapter 11).
    """
    model = tokenizer_json["model"]
    vocab = model["vocab"]
    learned = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    by_token: dict[str, list[tuple[str, str]]] = {}
    for a, b in learned:
        by_token.setdefault(a + b, []).append((a, b))  # the learned merge keeps first place
    fixed = set(SPECIAL_TOKENS) | set(BYTE_TOKENS)  # matched whole or spelled out, never merged into
    for token in vocab:
        if token in fixed:
            continue
        known = by_token.setdefault(token, [])
        for cut in range(1, len(token)):
            pair = (token[:cut], token[cut:])
            if pair[0] in vocab and pair[1] in vocab and pair not in known:
                known.append(pair)
    merges = [list(pair) for token in sorted(by_token, key=lambda t: vocab.get(t, len(vocab)))
              for pair in by_token[token] if token in vocab]
    model["merges"] = merges
    return tokenizer_json


def build_hf_tokenizer(tok: Tokenizer):
    """Wrap a ``tokenizers.Tokenizer`` as a transformers fast tokenizer with Llama's special tokens."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD,
        add_bos_token=True, add_eos_token=False,
        clean_up_tokenization_spaces=False,
        padding_side="right",
        model_max_length=int(1e30),
    )
    return hf


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | os.PathLike | None = None, *,
                    byte_fallback: bool = True, split_digits: bool = True, max_chars: int | None = None,
                    show_progress: bool = True, min_frequency: int = 2,
                    limit_alphabet: int | None = None, sentencepiece_merges: bool = True):
    """Train a SentencePiece-style BPE tokenizer from an iterable of texts.

    Args:
        texts: any iterable of strings (a list, a generator, a streamed dataset column);
            it is read once, in batches, never held whole in memory.
        vocab_size: total vocabulary size, counting the 4 special tokens and, with
            ``byte_fallback``, the 256 byte tokens. The result can be smaller when the
            text is too small to support that many merges of ``min_frequency``.
        out_dir: if given, the tokenizer is saved there (atomically) as a folder that
            ``transformers.AutoTokenizer.from_pretrained(out_dir)`` loads.
        byte_fallback: add the 256 byte tokens so that no character is ever unknown.
        split_digits: give every digit its own token.
        max_chars: train on at most this many characters (the rest is not read).
        show_progress: show the trainer's progress bars.
        min_frequency: a pair seen fewer times than this is never merged.
        limit_alphabet: keep at most this many distinct characters as base tokens.
            Default: with byte fallback, ``min(1000, half the non-byte budget)``: rarer
            characters are spelled with byte tokens; without byte fallback, no limit
            (every character seen in training must stay, or it would become ``<unk>``).
        sentencepiece_merges: list every merge that makes each token (:func:`complete_merges`),
            so the tokenizer behaves as SentencePiece and llama.cpp read it; ``False`` keeps
            only the merges the trainer learned (what chapter 2's own BPE is compared with).

    Returns:
        a ``transformers.PreTrainedTokenizerFast`` (bos added, eos not, pad = ``<pad>``).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("train_tokenizer expects an iterable of texts, not a single string; wrap it: [text]")
    vocab_size = int(vocab_size)
    reserved = len(SPECIAL_TOKENS) + (len(BYTE_TOKENS) if byte_fallback else 0)
    min_vocab = reserved + 10
    if vocab_size < min_vocab:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: {len(SPECIAL_TOKENS)} special tokens"
            + (f" and {len(BYTE_TOKENS)} byte tokens" if byte_fallback else "")
            + f" already take {reserved} ids; use vocab_size >= {min_vocab} (TTL used 32000)")
    if max_chars is not None and int(max_chars) <= 0:
        raise ValueError(f"max_chars must be a positive number of characters or None, got {max_chars!r}")
    if min_frequency < 1:
        raise ValueError(f"min_frequency must be >= 1, got {min_frequency!r}")

    trainer_vocab = vocab_size - (len(BYTE_TOKENS) if byte_fallback else 0)
    if limit_alphabet is None and byte_fallback:
        limit_alphabet = min(DEFAULT_LIMIT_ALPHABET, max(1, (trainer_vocab - len(SPECIAL_TOKENS)) // 2))

    tok = Tokenizer(models.BPE(unk_token=UNK, byte_fallback=byte_fallback, fuse_unk=True))
    tok.normalizer = build_normalizer()
    tok.pre_tokenizer = build_pre_tokenizer(split_digits)
    tok.decoder = build_decoder()
    # "▁" must stay a token whatever limit_alphabet drops: spelled as bytes, it would decode
    # as a literal "▁" instead of a space.
    trainer_kwargs = dict(vocab_size=trainer_vocab, min_frequency=min_frequency,
                          special_tokens=list(SPECIAL_TOKENS), show_progress=show_progress,
                          initial_alphabet=[SPACE_MARK])
    if limit_alphabet is not None:
        trainer_kwargs["limit_alphabet"] = int(limit_alphabet)
    trainer = trainers.BpeTrainer(**trainer_kwargs)

    stats = {"texts": 0, "chars": 0}
    tok.train_from_iterator(_batches(texts, None if max_chars is None else int(max_chars), stats),
                            trainer=trainer)
    if stats["chars"] == 0:
        raise ValueError(
            f"no text to train on: the iterable gave {stats['texts']} text(s) and 0 characters; "
            "check that the corpus is not empty and that you passed its text column")

    data = _reorder_vocab(json.loads(tok.to_str()), byte_fallback)
    if sentencepiece_merges:
        data = complete_merges(data)
    tok = Tokenizer.from_str(json.dumps(data, ensure_ascii=False))
    if tok.get_vocab_size() > vocab_size:
        raise ValueError(
            f"the training text has more distinct characters than vocab_size={vocab_size} can hold "
            f"({tok.get_vocab_size()} tokens needed); raise vocab_size, keep byte_fallback=True so rare "
            "characters are spelled with bytes, or pass limit_alphabet (rare characters become <unk>)")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 1)])

    if tok.get_vocab_size() < vocab_size:
        # Not an error (a small corpus cannot support 32,000 merges), but never silent.
        warnings.warn(f"asked for {vocab_size:,} tokens, the training text supports {tok.get_vocab_size():,} "
                      f"(pairs seen fewer than min_frequency={min_frequency} times are not merged, "
                      f"{stats['chars']:,} characters read); train on more text or ask for fewer tokens",
                      VocabularyWarning, stacklevel=2)
    hf = build_hf_tokenizer(tok)
    if out_dir is not None:
        save_tokenizer(hf, out_dir)
    return hf


def save_tokenizer(tokenizer, out_dir: str | os.PathLike) -> Path:
    """Save a transformers tokenizer folder atomically.

    Everything is written to a temporary sibling folder first and swapped in whole
    (:func:`ttl.io.atomic_dir`); an existing tokenizer at ``out_dir`` is replaced only once
    the new one is complete, so a crash never leaves a half-written folder behind.
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder; choose another out_dir for the tokenizer")
    with atomic_dir(out) as tmp:
        tokenizer.save_pretrained(str(tmp))
        pin_tokenizer_class(tmp)
    return out


def pin_tokenizer_class(folder: Path) -> None:
    """Name ``PreTrainedTokenizerFast`` in tokenizer_config.json.

    In transformers 5, ``LlamaTokenizerFast`` is an alias of ``LlamaTokenizer``, whose
    constructor rebuilds its own pipeline from the vocabulary (no digit or newline
    splitting). ``PreTrainedTokenizerFast`` loads tokenizer.json exactly as trained, in
    transformers 4 and 5 alike, and behaves as a Llama tokenizer (same specials, bos
    added, Metaspace, byte fallback).

    ``model_input_names`` is Llama's too: without it, transformers 4.x's
    ``PreTrainedTokenizerFast`` also returns ``token_type_ids``, which
    ``model(**tokenizer(text))`` and ``pipeline("text-classification")`` then pass to a
    Llama model, whose forward has no such argument (a TypeError).

    A chat template that transformers 5 saved as ``chat_template.jinja`` (a file 4.x does not
    read) is written into tokenizer_config.json as well, where both find it.
    """
    folder = Path(folder)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if (folder / "chat_template.jinja").is_file() and "chat_template" not in config:
        config["chat_template"] = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config.update(bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD,
                  add_bos_token=True, add_eos_token=False, clean_up_tokenization_spaces=False,
                  model_input_names=["input_ids", "attention_mask"])
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_tokenizer(path: str | os.PathLike):
    """Load a tokenizer folder saved by :func:`train_tokenizer` (or any HF tokenizer folder)."""
    from transformers import AutoTokenizer

    folder = Path(path).expanduser()
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer at {folder} (tokenizer.json is missing); train one first with "
            "ttl.tokenizer.train_tokenizer(texts, vocab_size, out_dir) or `ttl tokenizer`")
    return AutoTokenizer.from_pretrained(str(folder))
