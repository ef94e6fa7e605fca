"""The special tokens and their ids: the one place that defines them.

The tokenizer puts them first in its vocabulary, in this order, so their ids are their
positions; the model config, the tokenizer trainer, the teaching BPE and fine-tuning all read
them from here. (TeenyTinyLlama's tokenizer uses the same four, with the same ids.)
"""

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")
UNK, BOS, EOS, PAD = SPECIAL_TOKENS
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(len(SPECIAL_TOKENS))
