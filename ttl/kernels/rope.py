"""Rotary position embedding (RoPE) in Triton, for q and k in one launch.

With the Hugging Face Llama layout (``cos = cat(freqs, freqs).cos()``) and a head
vector split in halves ``x = [x1, x2]``::

    out = x * cos + rotate_half(x) * sin,     rotate_half([x1, x2]) = [-x2, x1]
    out1 = x1 * cos1 - x2 * sin1
    out2 = x2 * cos2 + x1 * sin2

One program handles one (batch, position) pair: it loads that position's
cos/sin once and rotates every head of q and of k with them (q and k may have
different head counts, as in grouped-query attention). Heads and half-dims are
a 2-D block, padded to powers of two and masked.

RoPE is linear in x, so the backward is the transpose of the same rotation::

    dx1 = g1 * cos1 + g2 * sin2
    dx2 = g2 * cos2 - g1 * sin1

and runs through the same kernel with ``BACKWARD=True``. cos/sin are treated as
constants (they are buffers in a Llama); passing ones that require grad is an error.

q and k may be any strided view (B, H, T, D) with unit stride on D, e.g. the
``view(B, T, H, D).transpose(1, 2)`` a Llama attention layer makes: the kernel
takes the strides, so no copy is needed.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import block_size, check_launchable, is_interpreted


@triton.jit
def _rope_one(X, OUT, cos1, sin1, cos2, sin2, b, t, sxb, sxh, sxt, sob, soh, sot, n_heads, half,
              BACKWARD: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr):
    """Rotate all heads of one (b, t) position of one tensor (q or k)."""
    heads = tl.arange(0, BLOCK_H)[:, None]
    dims = tl.arange(0, BLOCK_D)[None, :]
    mask = (heads < n_heads) & (dims < half)
    x_ptr = X + b * sxb + t * sxt + heads * sxh + dims
    o_ptr = OUT + b * sob + t * sot + heads * soh + dims
    x1 = tl.load(x_ptr, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(x_ptr + half, mask=mask, other=0.0).to(tl.float32)
    if BACKWARD:  # transpose of the rotation
        o1 = x1 * cos1 + x2 * sin2
        o2 = x2 * cos2 - x1 * sin1
    else:
        o1 = x1 * cos1 - x2 * sin1
        o2 = x2 * cos2 + x1 * sin2
    tl.store(o_ptr, o1.to(OUT.dtype.element_ty), mask=mask)
    tl.store(o_ptr + half, o2.to(OUT.dtype.element_ty), mask=mask)


@triton.jit
def _rope_kernel(Q, K, QO, KO, COS, SIN,
                 sqb, sqh, sqt, skb, skh, skt,
                 sqob, sqoh, sqot, skob, skoh, skot,
                 scb, sct, seq_len, n_q_heads, n_k_heads, half,
                 BACKWARD: tl.constexpr, BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr, BLOCK_D: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    b = pid // seq_len
    t = pid % seq_len
    # cos/sin of this position, both halves (equal in the HF layout, but we do not rely on it).
    dims = tl.arange(0, BLOCK_D)[None, :]
    dmask = dims < half
    c_ptr = COS + b * scb + t * sct + dims
    s_ptr = SIN + b * scb + t * sct + dims
    cos1 = tl.load(c_ptr, mask=dmask, other=0.0).to(tl.float32)
    cos2 = tl.load(c_ptr + half, mask=dmask, other=0.0).to(tl.float32)
    sin1 = tl.load(s_ptr, mask=dmask, other=0.0).to(tl.float32)
    sin2 = tl.load(s_ptr + half, mask=dmask, other=0.0).to(tl.float32)
    _rope_one(Q, QO, cos1, sin1, cos2, sin2, b, t, sqb, sqh, sqt, sqob, sqoh, sqot, n_q_heads, half,
              BACKWARD, BLOCK_HQ, BLOCK_D)
    _rope_one(K, KO, cos1, sin1, cos2, sin2, b, t, skb, skh, skt, skob, skoh, skot, n_k_heads, half,
              BACKWARD, BLOCK_HK, BLOCK_D)


INTERPRETED = is_interpreted(_rope_kernel)


def _unit_last_stride(x: torch.Tensor) -> torch.Tensor:
    return x if x.stride(-1) == 1 else x.contiguous()


def _launch(q, k, cos, sin, backward: bool):
    """Run the kernel on q, k (B, H, T, D) and cos/sin (Bc, T, D) with Bc in {1, B}; returns new tensors."""
    q, k = _unit_last_stride(q), _unit_last_stride(k)
    B, hq, T, D = q.shape
    hk = k.shape[1]
    q_out = torch.empty_like(q)  # keeps q's strides (dense views are preserved)
    k_out = torch.empty_like(k)
    cos_b_stride = 0 if cos.shape[0] == 1 else cos.stride(0)  # broadcast over the batch
    block_d = triton.next_power_of_2(D // 2)
    if B * T > 0:
        _rope_kernel[(B * T,)](
            q, k, q_out, k_out, cos, sin,
            q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
            q_out.stride(0), q_out.stride(1), q_out.stride(2), k_out.stride(0), k_out.stride(1), k_out.stride(2),
            cos_b_stride, cos.stride(1), T, hq, hk, D // 2,
            BACKWARD=backward, BLOCK_HQ=triton.next_power_of_2(hq), BLOCK_HK=triton.next_power_of_2(hk),
            BLOCK_D=block_d)
    return q_out, k_out


class RoPEFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, cos, sin):
        ctx.save_for_backward(cos, sin)
        return _launch(q, k, cos, sin, backward=False)

    @staticmethod
    def backward(ctx, dq, dk):
        cos, sin = ctx.saved_tensors
        dq_in, dk_in = _launch(dq, dk, cos, sin, backward=True)
        return dq_in, dk_in, None, None


def _normalise_cos_sin(t: torch.Tensor, name: str, B: int, T: int, D: int) -> torch.Tensor:
    """Accept (T, D), (B|1, T, D) or (B|1, 1, T, D); return (B|1, T, D) with unit last stride."""
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[1:] != (T, D) or t.shape[0] not in (1, B):
        raise ValueError(f"apply_rope: {name} must have shape (T, D) = ({T}, {D}) (or (B, T, D) / (B, 1, T, D) "
                         f"with B = {B}), got {tuple(t.shape)}; slice the table to the positions of q")
    if t.requires_grad:
        raise ValueError(f"apply_rope treats {name} as a constant but it requires grad; pass {name}.detach() "
                         "(or use ttl.kernels.reference.apply_rope to differentiate through the tables)")
    return _unit_last_stride(t)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate q (B, Hq, T, D) and k (B, Hkv, T, D) by the angles in cos/sin (T, D); returns (q', k')."""
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError(f"apply_rope needs q and k of shape (B, heads, T, D), got {tuple(q.shape)} and {tuple(k.shape)}")
    B, _, T, D = q.shape
    if k.shape[0] != B or k.shape[2:] != (T, D):
        raise ValueError(f"apply_rope: q {tuple(q.shape)} and k {tuple(k.shape)} must agree on batch, T and D "
                         "(only the head counts may differ)")
    if D % 2:
        raise ValueError(f"apply_rope needs an even head dim D to rotate pairs of halves, got D={D}")
    if q.dtype != k.dtype or not q.is_floating_point():
        raise ValueError(f"apply_rope needs q and k of the same floating dtype, got {q.dtype} and {k.dtype}")
    cos = _normalise_cos_sin(cos, "cos", B, T, D)
    sin = _normalise_cos_sin(sin, "sin", B, T, D)
    if cos.shape[0] != sin.shape[0] or cos.stride() != sin.stride():
        cos, sin = cos.expand(B, T, D).contiguous(), sin.expand(B, T, D).contiguous()
    check_launchable(q, k, cos, sin, interpreted=INTERPRETED)
    return RoPEFunction.apply(q, k, cos, sin)
