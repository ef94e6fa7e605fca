"""Plain PyTorch versions of every kernel in :mod:`ttl.kernels`: the ground truth.

They are written for clarity, not speed: each computes in float32 (like the
kernels do inside) and casts the result back to the input dtype, so a kernel
and its reference can be compared at any precision. Autograd differentiates
them, which gives the reference gradients in the tests.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x / sqrt(mean(x**2, -1) + eps) * weight``, computed in float32."""
    xf = x.float()
    rstd = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (xf * rstd * weight.float()).to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` over the last dim (the Hugging Face Llama convention)."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(seq_len: int, head_dim: int, theta: float = 10000.0, device=None,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (T, D) in the layout ``cat(freqs, freqs, -1)`` used by ``apply_rope``."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    freqs = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """``x * cos + rotate_half(x) * sin`` for q and k; cos/sin broadcast over batch and heads."""
    def rot(x):
        xf = x.float()
        return (xf * cos.float() + rotate_half(xf) * sin.float()).to(x.dtype)
    return rot(q), rot(k)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``silu(gate) * up`` in float32."""
    return (F.silu(gate.float()) * up.float()).to(gate.dtype)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy over non-ignored rows, with our convention for an all-ignored batch.

    Same as ``F.cross_entropy(logits.float(), targets, ignore_index=...)`` except that
    when every target is ignored it returns 0 (connected to the graph, so the
    gradient is zero) instead of PyTorch's NaN.
    """
    valid = targets != ignore_index
    if not bool(valid.any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float(), targets, ignore_index=ignore_index)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
              sm_scale: float | None = None) -> torch.Tensor:
    """``softmax(q k^T * scale + mask) v`` with the full (T, T) score matrix, in float32.

    k/v may have fewer heads than q (grouped-query attention): each k/v head
    serves ``Hq // Hkv`` consecutive query heads.
    """
    hq, hkv = q.shape[1], k.shape[1]
    if hq != hkv:
        k = k.repeat_interleave(hq // hkv, dim=1)
        v = v.repeat_interleave(hq // hkv, dim=1)
    scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    scores = (q.float() @ k.float().transpose(-1, -2)) * scale
    if causal:
        t_q, t_k = scores.shape[-2:]
        mask = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(dim=-1) @ v.float()).to(q.dtype)
