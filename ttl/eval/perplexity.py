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
def text_perplexity(model, tokenizer, texts: Iterable[str], *, max_length: int | None = None,
                    stride: int | None = None) -> dict[str, float]:
    """Perplexity of ``model`` on ``texts``, each scored on its own (with ``<s>`` and ``</s>``).

    Returns mean loss (nats per token), perplexity, bits per UTF-8 byte, token count and the
    number of forward passes. A text longer than the window (``max_length``, default the
    model's context) is scored in windows: consecutive ones by default, so the first tokens of
    each window see little context; with ``stride`` < window, overlapping ones that move by
    ``stride`` tokens and score only their last ``stride`` targets, so every target after the
    first window has at least ``window - stride`` tokens of context (``stride=1``: a full
    window for every token, one forward pass per token).
    """
    model.eval()
    device = next(model.parameters()).device
    window = max_length or model.config.max_seq_len
    step = stride or window
    if not 0 < step <= window:
        raise ValueError(f"stride must be between 1 and the window ({window}), got {stride}")
    total_nats, total_tokens, total_bytes, passes = 0.0, 0, 0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        seq = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
        total_bytes += len(text.encode("utf-8"))
        n_targets = len(seq) - 1      # target t is seq[t + 1], predicted from seq[:t + 1]
        for begin in range(0, n_targets, step):
            end = min(begin + step, n_targets)           # this window scores targets begin..end-1
            first = max(0, begin - (window - step))      # after up to window - step of context
            chunk = torch.tensor([seq[first:end + 1]], device=device)
            logits = model(chunk[:, :-1]).logits[0, begin - first:]
            nats = F.cross_entropy(logits.float(), chunk[0, begin - first + 1:], reduction="sum")
            total_nats += float(nats)
            total_tokens += end - begin
            passes += 1
    if total_tokens == 0:
        raise ValueError("no text to score: give at least one non-empty text")
    loss = total_nats / total_tokens
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": total_tokens, "forward_passes": passes,
            "bits_per_byte": total_nats / math.log(2) / max(total_bytes, 1)}
