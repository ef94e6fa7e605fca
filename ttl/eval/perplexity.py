"""Perplexity: e to the power of the mean next-token loss in nats.

The original evaluation computed ``2 ** loss`` although PyTorch's cross-entropy
is in nats (natural log); that understates perplexity badly (for a loss of
3.0 nats: 8.0 instead of 20.1). ``bits_per_byte`` gives a tokenizer-independent
figure for comparing models with different vocabularies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F


def perplexity_from_loss(loss_nats: float) -> float:
    return math.exp(loss_nats)


@torch.no_grad()
def text_perplexity(model, tokenizer, texts: Iterable[str], *, max_length: int | None = None) -> dict[str, float]:
    """Perplexity of ``model`` on ``texts``, each scored on its own (with ``<s>`` and ``</s>``).

    Returns mean loss (nats per token), perplexity, bits per UTF-8 byte and token count.
    Texts longer than the context are scored in consecutive windows.
    """
    model.eval()
    device = next(model.parameters()).device
    window = max_length or model.config.max_seq_len
    total_nats, total_tokens, total_bytes = 0.0, 0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        seq = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
        total_bytes += len(text.encode("utf-8"))
        for start in range(0, len(seq) - 1, window):
            chunk = torch.tensor([seq[start:start + window + 1]], device=device)
            if chunk.size(1) < 2:
                break
            logits = model(chunk[:, :-1]).logits
            nats = F.cross_entropy(logits.float().flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum")
            total_nats += float(nats)
            total_tokens += chunk.size(1) - 1
    if total_tokens == 0:
        raise ValueError("no text to score: give at least one non-empty text")
    loss = total_nats / total_tokens
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": total_tokens,
            "bits_per_byte": total_nats / math.log(2) / max(total_bytes, 1)}
