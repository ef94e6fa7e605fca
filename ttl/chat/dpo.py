"""Direct Preference Optimization (Rafailov et al., 2023), written from the paper's formula.

Given a prompt x, a preferred answer y_w and a rejected one y_l, a frozen reference model
pi_ref (the SFT model) and the model being trained pi_theta (initialised from it)::

    loss = -log sigmoid( beta * [ (log pi_theta(y_w|x) - log pi_ref(y_w|x))
                                 - (log pi_theta(y_l|x) - log pi_ref(y_l|x)) ] )

where log pi(y|x) is the SUM of the log-probabilities of the answer's tokens (its end-of-turn
``</s>`` included; the prompt's tokens and the padding count for nothing). The implicit reward of
an answer is beta * (log pi_theta - log pi_ref); we log the mean rewards of chosen and rejected
answers, their margin, and the accuracy (the share of pairs whose chosen reward is the larger),
with the names TRL uses (``rewards/chosen``, ``rewards/margins``, ``rewards/accuracies``).
tests/test_chat.py checks loss and metrics against TRL's ``DPOTrainer`` to 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..config import DPOConfig  # noqa: F401  (a profile section; re-exported for the chapter)
from ..special_tokens import PAD_ID
from .sft import IGNORE_INDEX, batch_indices
from .template import encode_chat


def pair_example(tokenizer, triple: dict, max_length: int | None = None) -> dict[str, list[int]]:
    """Token ids of prompt + chosen and prompt + rejected, with a 1 on each answer's tokens."""
    out = {}
    for side in ("chosen", "rejected"):
        messages = [*triple["prompt"], {"role": "assistant", "content": triple[side]}]
        enc = encode_chat(tokenizer, messages, max_length=max_length)
        # The answer is the final assistant message: earlier assistant turns of a multi-turn
        # prompt belong to the prompt.
        prompt_len = len(encode_chat(tokenizer, triple["prompt"], add_generation_prompt=True).input_ids)
        mask = [m if i >= prompt_len else 0 for i, m in enumerate(enc.assistant_mask)]
        out[f"{side}_ids"], out[f"{side}_mask"] = enc.input_ids, mask
    return out


def collate_pairs(examples: Sequence[dict], pad_id: int = PAD_ID) -> dict[str, torch.Tensor]:
    """One right-padded batch of 2B rows: the B chosen sequences, then the B rejected ones
    (TRL's layout), with ``completion_mask`` (1 on answer tokens) and ``attention_mask``."""
    seqs = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
    masks = [e["chosen_mask"] for e in examples] + [e["rejected_mask"] for e in examples]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    completion = torch.zeros((len(seqs), width), dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, (s, m) in enumerate(zip(seqs, masks)):
        ids[row, :len(s)] = torch.tensor(s)
        completion[row, :len(s)] = torch.tensor(m)
        attention[row, :len(s)] = 1
    return {"input_ids": ids, "completion_mask": completion, "attention_mask": attention}


def sequence_logps(logits: torch.Tensor, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """Sum over the answer tokens of log p(token | everything before it): (B,) from logits (B, T, V).

    Position t predicts token t + 1; a token counts when ``completion_mask`` is 1 on it.
    """
    # bf16/fp16 logits are summed in float32 at least; float64 stays float64.
    logp = torch.log_softmax(logits[:, :-1].to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
    picked = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (picked * completion_mask[:, 1:]).sum(-1)


def model_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """:func:`sequence_logps` of every row of a :func:`collate_pairs` batch under ttl's Llama."""
    device = next(model.parameters()).device
    ids = batch["input_ids"].to(device)
    return sequence_logps(model(ids).logits, ids, batch["completion_mask"].to(device))


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The DPO loss (mean over pairs) and its metrics, from summed answer log-probabilities (B,)."""
    chosen_reward = beta * (policy_chosen - ref_chosen)
    rejected_reward = beta * (policy_rejected - ref_rejected)
    margin = chosen_reward - rejected_reward
    loss = -F.logsigmoid(margin).mean()
    metrics = {"rewards/chosen": chosen_reward.detach().mean(), "rewards/rejected": rejected_reward.detach().mean(),
               "rewards/margins": margin.detach().mean(),
               "rewards/accuracies": (chosen_reward > rejected_reward).float().mean()}
    return loss, metrics


def dpo_batch_loss(policy, reference, batch: dict[str, torch.Tensor], beta: float):
    """Loss and metrics of one batch: the policy with gradients, the frozen reference without."""
    logps = model_logps(policy, batch)
    with torch.no_grad():
        ref = model_logps(reference, batch)
    b = logps.shape[0] // 2
    return dpo_loss(logps[:b], logps[b:], ref[:b], ref[b:], beta)


def train_dpo(policy, reference, tokenizer, triples: Sequence[dict], cfg: DPOConfig, out_dir, *,
              manifest: dict | None = None, stop_after: int | None = None, show_progress: bool = False):
    """Train ``policy`` (in place) with DPO against the frozen ``reference``; checkpoints into
    ``out_dir/checkpoints`` and resumes from them exactly (see :func:`ttl.chat.loops.run_loop`)."""
    from pathlib import Path

    from .loops import run_loop

    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    max_length = min(cfg.max_length, policy.config.max_seq_len)   # never past the model's context
    examples = [pair_example(tokenizer, t, max_length) for t in triples]
    examples = [e for e in examples if sum(e["chosen_mask"]) and sum(e["rejected_mask"])]
    if not examples:
        raise ValueError("no preference pair has answer tokens within max_length; raise max_length")

    def step_loss(step: int):
        batch = collate_pairs([examples[i] for i in batch_indices(step, len(examples), cfg.batch_size, cfg.seed)])
        loss, metrics = dpo_batch_loss(policy, reference, batch, cfg.beta)
        return loss, {k: float(v) for k, v in metrics.items()}

    return run_loop(policy, step_loss, cfg, Path(out_dir), manifest=manifest, stop_after=stop_after,
                    show_progress=show_progress, desc="DPO")
