"""Learning-rate schedule: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math


def lr_at(step: int, *, max_lr: float, warmup_steps: int, max_steps: int, min_lr_ratio: float = 0.1) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    Warmup rises linearly from ``max_lr / warmup_steps`` to ``max_lr`` over
    ``warmup_steps`` steps; the cosine then falls to ``min_lr_ratio * max_lr`` at
    ``max_steps`` and stays there.
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    min_lr = max_lr * min_lr_ratio
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


SCHEDULES = ("constant", "cosine")


def stage_lr(step: int, *, schedule: str, max_lr: float, warmup_steps: int, max_steps: int,
             min_lr_ratio: float = 0.1) -> float:
    """Learning rate of step ``step`` (0-based) of one continual-pretraining stage.

    ``constant``: the same linear warmup as :func:`lr_at`, then ``max_lr`` to the end (T-lite's
    stage 1: 1e-5 after 10 warmup steps). ``cosine``: exactly :func:`lr_at` (stage 2).
    """
    if schedule == "constant":
        return max_lr * (step + 1) / warmup_steps if step < warmup_steps else max_lr
    if schedule == "cosine":
        return lr_at(step, max_lr=max_lr, warmup_steps=warmup_steps, max_steps=max_steps, min_lr_ratio=min_lr_ratio)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
