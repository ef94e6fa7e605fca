"""Supervised fine-tuning on conversations with the loss on the assistant's tokens only.

A conversation is one token sequence (:func:`ttl.chat.template.encode_chat`); its labels are the
token ids where the assistant speaks and ``-100`` everywhere else (system, user, role markers,
padding), so the model is trained to *answer*, not to write questions::

    ids     <s> <|user|> Qual é a capital do Peru ? </s> <|assistant|> A capital ... Lima . </s> <pad>
    labels  -100 ......................................................  A capital ... Lima . </s> -100

The loss is the mean next-token cross-entropy over the labelled tokens (the prediction at
position t is scored against labels[t + 1]), the definition of TRL's ``SFTTrainer`` with
``assistant_only_loss=True`` (tested equal to 1e-5 in tests/test_chat.py).

The original mistake (TeenyTinyLlama's chat fine-tuning) was ``labels = input_ids``: the loss
then also covers the prompt, which the model is not asked to write, and the padding, which it
learns to predict after an end of turn; :func:`naive_labels` reproduces it for the chapter.

Batches are padded on the right. A causal model never looks at the positions after a token, so
the logits of the real tokens are the same with or without an attention mask; the padding is
excluded from the loss by its -100 labels (packing several conversations into one row would
need a block-diagonal mask and positions restarting per conversation, which ttl's Llama does
not take: padding is the correct choice here).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import SFTConfig  # noqa: F401  (a profile section; re-exported for the chapter)
from ..special_tokens import PAD_ID
from .template import encode_chat

IGNORE_INDEX = -100


# --------------------------------------------------------------------------- examples and batches

def sft_example(tokenizer, messages, max_length: int | None = None) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (the id on assistant tokens, -100 elsewhere) of one conversation."""
    enc = encode_chat(tokenizer, messages, max_length=max_length)
    labels = [i if m else IGNORE_INDEX for i, m in zip(enc.input_ids, enc.assistant_mask)]
    return {"input_ids": enc.input_ids, "labels": labels}


def collate(examples: Sequence[dict], pad_id: int = PAD_ID) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples: ``input_ids`` with ``pad_id``, ``labels`` with -100, and the
    ``attention_mask`` (1 on real tokens) for models that take one."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e.get("labels", e["input_ids"]))
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def naive_labels(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The original mistake: every position is a target, prompt and padding included."""
    return batch["input_ids"].clone()


# --------------------------------------------------------------------------- the loss

def shift_targets(labels: torch.Tensor) -> torch.Tensor:
    """Targets for ttl's Llama (targets[:, t] is what position t predicts): labels moved one to the left."""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE_INDEX)], dim=1)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) of each position's prediction of the next labelled token.

    logits (B, T, V), labels (B, T) with -100 where no loss is wanted. Written out: position t
    predicts token t + 1, so the last logit and the first label are dropped; the mean is over
    the labelled tokens of the whole batch (a long answer weighs more than a short one).
    """
    pred = logits[:, :-1].float()
    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    logp = torch.log_softmax(pred, dim=-1)
    picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * keep).sum() / keep.sum().clamp(min=1)


def sft_loss(model, batch: dict[str, torch.Tensor], labels: torch.Tensor | None = None) -> torch.Tensor:
    """The masked SFT loss of ttl's ``Llama`` on a batch from :func:`collate` (or other ``labels``)."""
    labels = batch["labels"] if labels is None else labels
    device = next(model.parameters()).device
    out = model(batch["input_ids"].to(device), shift_targets(labels).to(device))
    return out.loss


def per_token_losses(model, batch, labels=None) -> torch.Tensor:
    """Cross-entropy of every predicted token (B, T-1), 0 where the label is -100 (for plots)."""
    labels = batch["labels"] if labels is None else labels
    with torch.no_grad():
        logits = model(batch["input_ids"]).logits
    target = labels[:, 1:]
    ce = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), target.clamp(min=0), reduction="none")
    return ce * (target != IGNORE_INDEX)


# --------------------------------------------------------------------------- training

def batch_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """The examples of ``step``: consecutive slices of a permutation per epoch, seeded by (seed, epoch).

    A pure function of (seed, step), so a resumed run sees exactly the batches of one never stopped.
    """
    per_epoch = max(1, n // batch_size)
    epoch, slot = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[slot * batch_size:(slot + 1) * batch_size]


def lr_at(step: int, cfg) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_sft(model, tokenizer, conversations: Sequence[dict], cfg: SFTConfig, out_dir, *,
              manifest: dict | None = None, stop_after: int | None = None, show_progress: bool = False,
              naive: bool = False):
    """Fine-tune ``model`` (in place) on ``conversations`` and checkpoint into ``out_dir/checkpoints``.

    Resumes from the latest checkpoint there (exactly: the batch of a step depends on (seed,
    step) only, and the checkpoint holds the optimizer and the step). ``stop_after`` stops early
    as a crash would; ``naive=True`` trains with the original mistake (loss on every token),
    for the chapter's comparison. Returns the logged rows.
    """
    from ..train.checkpoint import latest_checkpoint, load_model_weights, load_trainer_state, save_checkpoint
    from ..train.loop import make_adamw
    from .loops import run_loop

    max_length = min(cfg.max_length, model.config.max_seq_len)   # never past the model's context
    examples = [sft_example(tokenizer, c["messages"], max_length) for c in conversations]
    examples = [e for e in examples if any(x != IGNORE_INDEX for x in e["labels"][1:])]
    if not examples:
        raise ValueError("no conversation has an assistant token within max_length; raise max_length")

    def step_loss(step: int) -> torch.Tensor:
        batch = collate([examples[i] for i in batch_indices(step, len(examples), cfg.batch_size, cfg.seed)])
        return sft_loss(model, batch, naive_labels(batch) if naive else None), {}

    return run_loop(model, step_loss, cfg, Path(out_dir), manifest=manifest, stop_after=stop_after,
                    show_progress=show_progress, desc="SFT")
