"""The small training loop SFT and DPO share: AdamW, warmup + cosine, clipping, exact resume.

Each step's loss comes from a function of the step number only (its batch is a pure function of
(seed, step)), and a checkpoint (``ttl.train.checkpoint``: atomic, safetensors, sha256-checked)
holds the weights, the optimizer and the step, so a run stopped at step k and resumed gives the
weights of a run never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch

from ..io import atomic_write_jsonl


def run_loop(model, step_loss, cfg, out: Path, *, manifest=None, stop_after=None, show_progress=False,
             desc="training") -> list[dict]:
    from tqdm.auto import tqdm

    from ..train.checkpoint import latest_checkpoint, load_model_weights, load_trainer_state, save_checkpoint
    from ..train.loop import make_adamw
    from .sft import lr_at

    ckpts = out / "checkpoints"
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_adamw(params, torch.device("cpu") if not torch.cuda.is_available() else
                           next(model.parameters()).device, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
                           weight_decay=cfg.weight_decay)
    start, history, window = 0, [], {}
    last = latest_checkpoint(ckpts)
    if last is not None:
        load_model_weights(model, last)
        state = load_trainer_state(last)
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        history = [r for r in state.get("history", []) if r["step"] <= start]
        window = {k: list(v) for k, v in (state.get("window") or {}).items()}
    end = min(cfg.max_steps, stop_after) if stop_after is not None else cfg.max_steps
    model.train()
    for step in tqdm(range(start, end), desc=desc, disable=not show_progress, initial=start, total=end):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, metrics = step_loss(step)
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"{desc} loss became {float(loss)} at step {step}; lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        for key, value in {"loss": float(loss.detach()), **metrics}.items():
            window.setdefault(key, []).append(float(value))
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            history.append({"step": done, "lr": lr_at(step, cfg),
                            **{k: sum(v) / len(v) for k, v in window.items()}})
            window = {}
        if done % cfg.save_every == 0 or done == end:
            save_checkpoint(ckpts, done, model, optimizer,
                            {"config": {"model": dataclasses.asdict(model.config), desc: dataclasses.asdict(cfg)},
                             "history": history, "window": window}, keep_last=2, manifest=manifest)
    model.eval()
    atomic_write_jsonl(out / "metrics.jsonl", history)
    return history
