"""Tokenizer training (chapter 2): SentencePiece-style BPE with byte fallback.

* :func:`train_tokenizer` / :func:`load_tokenizer`: the course's tokenizer, trained with
  Hugging Face ``tokenizers`` from a stream of texts and saved as a ``transformers`` folder.
* :func:`train_spm`: the same tokenizer trained with ``sentencepiece``, for comparison.
* :func:`train_bpe`: the pure-Python teaching BPE (same merges as ``tokenizers``).
* :func:`tokenizer_metrics` / :func:`compare_tokenizers`: fertility and friends.

The texts come from :func:`ttl.data.corpus_texts` (the one reader of every corpus).
"""

from .metrics import compare_tokenizers, holdout_split, tokenizer_metrics
from .spm import load_spm, train_spm
from .teaching_bpe import TeachingBPE, pre_tokenize, train_bpe
from .train import BYTE_TOKENS, SPECIAL_TOKENS, load_tokenizer, save_tokenizer, train_tokenizer

__all__ = [
    "BYTE_TOKENS", "SPECIAL_TOKENS", "TeachingBPE", "compare_tokenizers", "holdout_split",
    "load_spm", "load_tokenizer", "pre_tokenize", "save_tokenizer", "tokenizer_metrics",
    "train_bpe", "train_spm", "train_tokenizer",
]
