"""Cross-entropy over a large vocabulary in Triton, chunked with an online logsumexp.

For one row of logits ``x`` (V = 32,000 in TeenyTinyLlama) and its target ``t``::

    loss = logsumexp(x) - x[t]

PyTorch's ``F.cross_entropy`` first materialises ``log_softmax(x)``, another
(N, V) tensor as big as the logits. Here one program walks a row in blocks of
``BLOCK`` columns and keeps a *running* maximum ``m`` and a running sum
``s = sum(exp(x - m))``. When a block raises the maximum from ``m`` to ``m'``,
the old sum is rescaled by ``exp(m - m')`` -- the *online softmax* trick -- so
a single pass gives ``lse = m + log(s)`` and nothing of size V is ever stored.
Each lane of the block keeps its own ``(m, s)`` pair (no cross-lane reduction in
the loop); the lanes are merged once at the end.

Per row we keep only ``lse`` (one float). The backward recomputes the softmax
from it and writes the gradient of the mean loss::

    dlogits[i, j] = dloss / n_valid * (exp(x[i, j] - lse[i]) - [j == t[i]])

and zero for rows whose target is ``ignore_index``.

Convention: a batch where *every* target is ``ignore_index`` has loss 0 and a
zero gradient. (``F.cross_entropy`` returns NaN there, which would poison the
weights of a training step whose micro-batch happens to be all padding or all
prompt tokens.)

Targets are checked on the host: one outside ``[0, V)`` that is not
``ignore_index`` raises ValueError (this costs one small device sync).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .common import block_size, check_launchable, is_interpreted

MAX_BLOCK = 4096  # columns per block; V = 32000 takes 8 blocks


@triton.jit
def _ce_fwd_kernel(X, T, LOSS, LSE, stride_x, n_cols, ignore_index, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = X + row * stride_x
    # Per-lane running max and running sum of exp(x - max). A finite "minus infinity"
    # start avoids (-inf) - (-inf) = NaN in lanes that only ever see masked columns.
    m = tl.full([BLOCK], -1.0e30, dtype=tl.float32)
    s = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
        m_new = tl.maximum(m, x)
        s = s * tl.exp(m - m_new) + tl.exp(x - m_new)  # rescale the old sum to the new max
        m = m_new
    m_row = tl.max(m, axis=0)
    s_row = tl.sum(s * tl.exp(m - m_row), axis=0)
    lse = m_row + tl.log(s_row)

    target = tl.load(T + row).to(tl.int64)
    valid = target != ignore_index
    in_range = valid & (target >= 0) & (target < n_cols)  # never read outside the row
    x_t = tl.load(x_row + target, mask=in_range, other=0.0).to(tl.float32)
    tl.store(LOSS + row, tl.where(valid, lse - x_t, 0.0))
    tl.store(LSE + row, lse)


@triton.jit
def _ce_bwd_kernel(X, T, LSE, SCALE, DX, stride_x, stride_dx, n_cols, ignore_index, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    target = tl.load(T + row).to(tl.int64)
    lse = tl.load(LSE + row)
    # dloss / n_valid, read from memory so the host never has to sync to learn it.
    scale = tl.where(target != ignore_index, tl.load(SCALE), 0.0)
    for start in range(0, n_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        p = tl.exp(x - lse)
        grad = (p - tl.where(cols == target, 1.0, 0.0)) * scale
        tl.store(DX + row * stride_dx + cols, grad.to(DX.dtype.element_ty), mask=mask)


INTERPRETED = is_interpreted(_ce_fwd_kernel)


class CrossEntropyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, targets, ignore_index: int):
        if logits.stride(-1) != 1:
            logits = logits.contiguous()
        targets = targets.contiguous()
        n_rows, n_cols = logits.shape
        losses = torch.empty(n_rows, dtype=torch.float32, device=logits.device)
        lse = torch.empty(n_rows, dtype=torch.float32, device=logits.device)
        block = block_size(n_cols, MAX_BLOCK)
        if n_rows:
            _ce_fwd_kernel[(n_rows,)](logits, targets, losses, lse, logits.stride(0), n_cols, ignore_index,
                                      BLOCK=block, num_warps=8 if block >= 2048 else 4)
        # clamp(min=1): an all-ignored batch gives 0 / 1 = 0 instead of 0 / 0.
        n_valid = (targets != ignore_index).sum().clamp(min=1).to(torch.float32)
        ctx.save_for_backward(logits, targets, lse, n_valid)
        ctx.ignore_index = ignore_index
        return losses.sum() / n_valid

    @staticmethod
    def backward(ctx, dloss):
        logits, targets, lse, n_valid = ctx.saved_tensors
        n_rows, n_cols = logits.shape
        scale = (dloss.float() / n_valid).reshape(1)
        dlogits = torch.empty_like(logits)
        block = block_size(n_cols, MAX_BLOCK)
        if n_rows:
            _ce_bwd_kernel[(n_rows,)](logits, targets, lse, scale, dlogits, logits.stride(0), dlogits.stride(0),
                                      n_cols, ctx.ignore_index, BLOCK=block, num_warps=8 if block >= 2048 else 4)
        return dlogits, None, None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy (nats) of ``logits`` (N, V) against ``targets`` (N,), skipping ``ignore_index``.

    Returns a float32 scalar whatever the logits' dtype (the math is float32 inside).
    """
    if logits.dim() != 2:
        raise ValueError(f"cross_entropy needs 2-D logits (N, V), got shape {tuple(logits.shape)}; "
                         "flatten batch and time first: logits.view(-1, V), targets.view(-1)")
    if targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(f"cross_entropy needs targets of shape (N,) = ({logits.shape[0]},), got {tuple(targets.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"cross_entropy needs floating-point logits, got {logits.dtype}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise ValueError(f"cross_entropy needs integer class indices as targets, got {targets.dtype}; "
                         "use targets.long()")
    if logits.shape[1] == 0:
        raise ValueError("cross_entropy got logits with a vocabulary of size 0")
    check_launchable(logits, targets, interpreted=INTERPRETED)
    n_cols = logits.shape[1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= n_cols))
    if bool(bad.any()):
        first = int(targets[bad][0])
        raise ValueError(f"cross_entropy: target {first} is outside the vocabulary [0, {n_cols}) and is not "
                         f"ignore_index ({ignore_index}); check the tokenizer's vocab_size against model.vocab_size")
    return CrossEntropyFunction.apply(logits, targets, int(ignore_index))
