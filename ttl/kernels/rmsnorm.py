"""RMSNorm in Triton: ``y = x / sqrt(mean(x**2) + eps) * w`` over the last dim.

Any input shape (..., H) is viewed as a 2-D matrix of rows (one row = one
token's hidden vector). Each row is handled in blocks of ``BLOCK`` columns, so
H need not be a power of two (masks cover the tail) and a row longer than one
block (H = 5000, say) is walked through with a loop.

Forward, one program per row: pass 1 accumulates sum(x**2) block by block in
float32, pass 2 writes ``x * rstd * w``. We keep ``rstd`` (one float per row)
for the backward, so it never recomputes the norm.

Backward, with ``xhat = x * rstd`` and ``g = dy * w``::

    dx = rstd * (g - xhat * mean(g * xhat))      (per row)
    dw = sum over rows of dy * xhat               (a reduction over all rows)

``dw`` is the awkward part: every row contributes to every column. Each program
takes a contiguous slice of rows, accumulates its share of ``dw`` in its own
float32 row of a (programs, H) scratch buffer (no two programs write the same
place, so no atomics), and one small ``sum(0)`` in PyTorch finishes it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import block_size, check_launchable, is_interpreted

MAX_BLOCK = 4096  # columns per block; longer rows loop


@triton.jit
def _rms_norm_fwd_kernel(X, Y, W, RSTD, stride_x, stride_y, n_cols, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # int64: row * stride can pass 2**31 on big batches
    x_row = X + row * stride_x
    y_row = Y + row * stride_y

    # Pass 1: sum of squares in float32, whatever the input dtype.
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
        acc += x * x
    rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / n_cols + eps)
    tl.store(RSTD + row, rstd)

    # Pass 2: normalise and scale (the row is re-read; for H <= BLOCK it is still in cache).
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=0.0).to(tl.float32)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(y_row + cols, (x * rstd * w).to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _rms_norm_bwd_kernel(DY, X, W, RSTD, DX, DW_PARTIAL, stride_dy, stride_x, stride_dx,
                         n_rows, n_cols, rows_per_program, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    row_start = pid * rows_per_program  # int64 bounds make the loop index int64 too
    row_end = tl.minimum(row_start + rows_per_program, n_rows)
    dw_row = DW_PARTIAL + pid * n_cols  # this program's private slice of dw

    for row64 in range(row_start, row_end):
        rstd = tl.load(RSTD + row64)
        # Pass 1: c = mean(dy * w * xhat) over the row.
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            dy = tl.load(DY + row64 * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
            x = tl.load(X + row64 * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
            acc += dy * w * (x * rstd)
        c = tl.sum(acc, axis=0) / n_cols
        # Pass 2: dx, and this row's contribution to dw.
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            dy = tl.load(DY + row64 * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
            x = tl.load(X + row64 * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
            w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
            xhat = x * rstd
            dx = rstd * (dy * w - xhat * c)
            tl.store(DX + row64 * stride_dx + cols, dx.to(DX.dtype.element_ty), mask=mask)
            dw = tl.load(dw_row + cols, mask=mask, other=0.0)
            tl.store(dw_row + cols, dw + dy * xhat, mask=mask)


# Built in interpreter mode? (Triton decides when the kernel is defined.)
INTERPRETED = is_interpreted(_rms_norm_fwd_kernel)


def _num_warps(block: int) -> int:
    return 4 if block <= 1024 else 8 if block <= 2048 else 16


def _num_programs(n_rows: int, device: torch.device) -> int:
    """How many backward programs share the rows: a few per SM on a GPU, few in the interpreter."""
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(n_rows, 4 * sms))
    return max(1, min(n_rows, 8))


class RMSNormFunction(torch.autograd.Function):
    """Autograd glue: forward saves ``rstd``; backward runs the fused dx/dw kernel."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if x2.stride(-1) != 1:
            x2 = x2.contiguous()
        n_rows, n_cols = x2.shape
        y = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
        rstd = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        block = block_size(n_cols, MAX_BLOCK)
        if n_rows > 0:
            _rms_norm_fwd_kernel[(n_rows,)](x2, y, weight, rstd, x2.stride(0), y.stride(0), n_cols, float(eps),
                                            BLOCK=block, num_warps=_num_warps(block))
        ctx.save_for_backward(x2, weight, rstd)
        ctx.shape = shape
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x2, weight, rstd = ctx.saved_tensors
        n_rows, n_cols = x2.shape
        dy2 = dy.reshape(-1, n_cols)
        if dy2.stride(-1) != 1:
            dy2 = dy2.contiguous()
        dx = torch.empty_like(x2)
        programs = _num_programs(n_rows, x2.device)
        rows_per_program = triton.cdiv(max(n_rows, 1), programs)
        dw_partial = torch.zeros((programs, n_cols), dtype=torch.float32, device=x2.device)
        block = block_size(n_cols, MAX_BLOCK)
        if n_rows > 0:
            _rms_norm_bwd_kernel[(programs,)](dy2, x2, weight, rstd, dx, dw_partial, dy2.stride(0), x2.stride(0),
                                              dx.stride(0), n_rows, n_cols, rows_per_program,
                                              BLOCK=block, num_warps=_num_warps(block))
        dw = dw_partial.sum(0).to(weight.dtype)
        return dx.view(ctx.shape), dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm of ``x`` (..., H) with gain ``weight`` (H,); float32 math inside for any dtype."""
    if x.dim() == 0 or weight.dim() != 1 or x.shape[-1] != weight.shape[0]:
        raise ValueError(f"rms_norm needs x of shape (..., H) and weight of shape (H,), got x {tuple(x.shape)} "
                         f"and weight {tuple(weight.shape)}")
    if x.shape[-1] == 0:
        raise ValueError("rms_norm got rows of width 0; the last dim of x must be at least 1")
    if not x.is_floating_point():
        raise ValueError(f"rms_norm needs a floating-point x, got {x.dtype}")
    if eps < 0:
        raise ValueError(f"rms_norm eps must be >= 0, got {eps}")
    check_launchable(x, weight, interpreted=INTERPRETED)
    weight = weight if weight.stride(0) == 1 else weight.contiguous()
    return RMSNormFunction.apply(x, weight, eps)
