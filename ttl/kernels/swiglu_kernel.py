"""SwiGLU in Triton: ``out = silu(gate) * up`` with ``silu(g) = g * sigmoid(g)``.

In a Llama MLP, ``down(silu(gate(x)) * up(x))``, PyTorch runs the middle as
separate kernels (silu, then the product) that each read and write the whole
(tokens, intermediate) activation. Fusing them reads gate and up once and
writes out once. The op is elementwise: the tensors are viewed as rows of
the intermediate size (one per token), and a 2-D grid of programs covers
(row, block of columns), the last block of a row masked.

Backward, with ``s = sigmoid(g)``::

    d_up   = dout * g * s
    d_gate = dout * up * s * (1 + g * (1 - s))

The backward kernel recomputes ``s`` from the saved gate rather than storing
``silu(gate)`` in the forward: one exp is cheaper than another activation-sized
tensor in memory.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import block_size, check_launchable, is_interpreted

MAX_BLOCK = 1024  # columns per program; a row of 3072 takes 3 programs


@triton.jit
def _swiglu_fwd_kernel(G, U, OUT, stride_g, stride_u, stride_o, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    out = g * tl.sigmoid(g) * u
    tl.store(OUT + row * stride_o + cols, out.to(OUT.dtype.element_ty), mask=mask)


@triton.jit
def _swiglu_bwd_kernel(DOUT, G, U, DG, DU, stride_d, stride_g, stride_u, stride_dg, stride_du, n_cols,
                       BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n_cols
    dout = tl.load(DOUT + row * stride_d + cols, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(G + row * stride_g + cols, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(U + row * stride_u + cols, mask=mask, other=0.0).to(tl.float32)
    s = tl.sigmoid(g)
    du = dout * g * s
    dg = dout * u * s * (1.0 + g * (1.0 - s))
    tl.store(DG + row * stride_dg + cols, dg.to(DG.dtype.element_ty), mask=mask)
    tl.store(DU + row * stride_du + cols, du.to(DU.dtype.element_ty), mask=mask)


INTERPRETED = is_interpreted(_swiglu_fwd_kernel)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """View x as 2-D rows (..., I) -> (R, I) with unit column stride, copying only if it must.

    The halves that ``gate_up(x).chunk(2, -1)`` returns are such views (row stride 2I),
    so the usual Llama MLP reaches the kernel without a copy.
    """
    x2 = x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1)
    return x2 if x2.stride(-1) == 1 else x2.contiguous()


def _grid(x2: torch.Tensor):
    block = block_size(x2.shape[1], MAX_BLOCK)
    return (x2.shape[0], triton.cdiv(x2.shape[1], block)), block


class SwiGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate, up):
        g2, u2 = _rows(gate), _rows(up)
        out = torch.empty(g2.shape, dtype=gate.dtype, device=gate.device)
        grid, block = _grid(g2)
        if out.numel():
            _swiglu_fwd_kernel[grid](g2, u2, out, g2.stride(0), u2.stride(0), out.stride(0), g2.shape[1], BLOCK=block)
        ctx.save_for_backward(g2, u2)
        ctx.shape = gate.shape
        return out.view(gate.shape)

    @staticmethod
    def backward(ctx, dout):
        g2, u2 = ctx.saved_tensors
        d2 = _rows(dout)
        d_gate, d_up = (torch.empty(g2.shape, dtype=g2.dtype, device=g2.device),
                         torch.empty(u2.shape, dtype=u2.dtype, device=u2.device))
        grid, block = _grid(g2)
        if d_gate.numel():
            _swiglu_bwd_kernel[grid](d2, g2, u2, d_gate, d_up, d2.stride(0), g2.stride(0), u2.stride(0),
                                     d_gate.stride(0), d_up.stride(0), g2.shape[1], BLOCK=block)
        return d_gate.view(ctx.shape), d_up.view(ctx.shape)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``silu(gate) * up`` for two tensors of the same shape and dtype (no broadcasting)."""
    if gate.shape != up.shape:
        raise ValueError(f"swiglu needs gate and up of the same shape, got {tuple(gate.shape)} and {tuple(up.shape)}; "
                         "they are the two halves of the MLP's first projection")
    if gate.dtype != up.dtype or not gate.is_floating_point():
        raise ValueError(f"swiglu needs gate and up of the same floating dtype, got {gate.dtype} and {up.dtype}")
    check_launchable(gate, up, interpreted=INTERPRETED)
    return SwiGLUFunction.apply(gate, up)
