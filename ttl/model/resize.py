"""Grow a model's vocabulary to an extended tokenizer (continual pretraining into a new language).

:func:`ttl.tokenizer.extend.extend_tokenizer` appends tokens and keeps every old id. The
model then needs a row for each new id in the input embedding and in the output head. A
random row would make the new tokens noise at first (and a large output row would steal
probability from every old token); the mean of the rows of the token's *old* tokenization
starts it where the model already understands the same characters, so the new language
begins at roughly the loss the base model had on it (T-lite and most vocabulary-extension
work use this initialisation). Old rows are copied unchanged, so the model's outputs on old
ids are exactly the base model's (with the new tokens' logits added to the softmax).
"""

from __future__ import annotations

import dataclasses

import torch

from ttl.config import ConfigError
from ttl.model.llama import Llama


def new_token_pieces(base_tokenizer, extended_tokenizer) -> dict[int, list[int]]:
    """For each id the extended tokenizer adds, the base ids of its text (its old tokenization).

    Raises when the two tokenizers disagree on an old id: extending must never renumber.
    """
    n_base = len(base_tokenizer)
    if len(extended_tokenizer) < n_base:
        raise ConfigError(f"the 'extended' tokenizer has {len(extended_tokenizer)} tokens, fewer than the "
                          f"base's {n_base}: pass them in the order (base, extended)")
    old = base_tokenizer.convert_ids_to_tokens(list(range(n_base)))
    if extended_tokenizer.convert_ids_to_tokens(list(range(n_base))) != old:
        raise ConfigError("the extended tokenizer changes ids of the base tokenizer; make it with "
                          "`ttl tokenizer extend --base <the model's tokenizer>` (it keeps every id)")
    backend = base_tokenizer.backend_tokenizer
    pieces = {}
    for new_id in range(n_base, len(extended_tokenizer)):
        token = extended_tokenizer.convert_ids_to_tokens(new_id)
        # The token's text as the base's model sees it: its symbols go through the base BPE
        # directly (no normalizer or pre-tokenizer: "▁" already stands for the space).
        ids = [t.id for t in backend.model.tokenize(token)]
        if not ids:
            raise ConfigError(f"new token {token!r} (id {new_id}) cannot be spelled with the base tokenizer")
        pieces[new_id] = [int(i) for i in ids]
    return pieces


@torch.no_grad()
def extend_embeddings(model: Llama, base_tokenizer, extended_tokenizer) -> Llama:
    """A copy of ``model`` with a vocabulary of ``len(extended_tokenizer)`` (at least its own).

    Each new id's input embedding and output (lm_head) row is the mean of the rows of its old
    tokenization (:func:`new_token_pieces`); every old row is copied unchanged. ``model`` itself is
    not modified. A tied model stays tied (one table, initialised from the embedding rows).
    """
    if not isinstance(model, Llama):
        raise TypeError(f"extend_embeddings takes a ttl Llama, got {type(model).__name__}")
    pieces = new_token_pieces(base_tokenizer, extended_tokenizer)
    old_vocab = model.config.vocab_size
    if len(base_tokenizer) > old_vocab:
        raise ConfigError(f"the base tokenizer has {len(base_tokenizer)} tokens but the model only "
                          f"{old_vocab} rows: it is not this model's tokenizer")
    new_vocab = max(old_vocab, len(extended_tokenizer))
    config = dataclasses.replace(model.config, vocab_size=new_vocab)
    param = next(model.parameters())
    grown = Llama(config).to(device=param.device, dtype=param.dtype)
    state = model.state_dict()
    embed, head = state["embed.weight"], state["lm_head.weight"]

    def widen(old: torch.Tensor) -> torch.Tensor:
        # A model whose vocabulary is padded past its tokenizer already has rows for the
        # first new ids; they are overwritten (no id produced them before).
        rows = torch.empty((new_vocab, old.size(1)), dtype=old.dtype, device=old.device)
        rows[:old_vocab] = old
        for new_id, ids in pieces.items():
            rows[new_id] = old[ids].float().mean(dim=0).to(old.dtype)
        return rows

    state["embed.weight"] = widen(embed)
    state["lm_head.weight"] = state["embed.weight"] if config.tie_embeddings else widen(head)
    grown.load_state_dict(state)
    return grown
