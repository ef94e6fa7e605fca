"""FlashAttention-style attention in Triton: tiled, online softmax, forward and backward.

Plain attention computes ``S = q k^T * scale`` (a T x T matrix per head), then
``P = softmax(S)`` and ``O = P v``. For T = 2048 that is 4M scores per head,
written to and read back from GPU memory several times. FlashAttention never
stores S or P: one program owns a block of ``BLOCK_M`` queries, walks over the
keys in blocks of ``BLOCK_N``, and keeps for each query row

* ``m``: the largest score seen so far,
* ``l``: the sum of ``exp(score - m)`` so far,
* ``acc``: the sum of ``exp(score - m) * v`` so far.

When a new block raises the maximum from ``m`` to ``m'``, ``l`` and ``acc`` are
multiplied by ``exp(m - m')`` -- the same *online softmax* rescaling as in the
chunked cross-entropy -- and at the end ``O = acc / l``. With ``causal=True``
a query block stops at the diagonal: blocks above it are never even loaded, so
causal attention costs about half the FLOPs. Exponentials are taken in base 2
(``exp2``, one hardware instruction) with the scale folded into ``log2(e)``.

The forward also stores ``lse = m + log(l)`` per query row (natural log). The
backward (FlashAttention-2) recomputes P block by block from it::

    P = exp(S - lse)          dV = P^T dO
    dP = dO v^T               dS = P * (dP - delta),   delta = rowsum(dO * O)
    dQ = dS k * scale         dK = dS^T q * scale

split into two kernels so that no two programs ever write the same output
(no atomics): one per key block accumulates dK and dV over the query blocks
below the diagonal, one per query block accumulates dQ. ``delta`` comes from a
small pre-processing kernel.

Grouped-query attention: k and v may have ``Hkv`` heads with ``Hq % Hkv == 0``;
query head ``h`` reads k/v head ``h // (Hq // Hkv)``. Their gradients are
computed per query head and summed over each group.

Limits: q, k and v share T (this is training attention; decoding with a KV
cache uses PyTorch's SDPA), head dim up to 256. Float32 inputs use TF32 tensor
cores exactly when PyTorch's own matmuls may (``torch.backends.cuda.matmul.allow_tf32``).
In the CPU interpreter, bf16 ``tl.dot`` is broken (it multiplies raw bit patterns),
so there the bf16 tiles are widened to float32 first (see ``_dot``); fp16 and fp32
need no workaround.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from .common import block_size, check_launchable, is_interpreted



@triton.jit
def _dot(a, b, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """``tl.dot`` with a float32 accumulator. UPCAST works around the CPU interpreter, whose
    bf16 ``tl.dot`` multiplies raw bit patterns: the operands (already rounded to bf16,
    as on a GPU) are widened to float32 first. On a GPU UPCAST is False."""
    if UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, input_precision=PRECISION)


@triton.jit
def _attn_fwd_kernel(Q, K, V, O, LSE,
                     sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sob, soh, sot,
                     n_heads, group, T, D, sm_scale,
                     CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_D: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1).to(tl.int64)
    b = bh // n_heads
    h = bh % n_heads
    hk = h // group  # the k/v head this query head reads (grouped-query attention)
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_mask = offs_d[None, :] < D

    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqt + offs_d[None, :],
                mask=(offs_m[:, None] < T) & d_mask, other=0.0)
    k_base = K + b * skb + hk * skh
    v_base = V + b * svb + hk * svh
    qk_scale = sm_scale * 1.4426950408889634  # scores in base-2 units, so exp2 works

    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)  # finite: no (-inf) - (-inf)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)

    if CAUSAL:
        hi = tl.minimum(start_m + BLOCK_M, T)  # keys past the last query of the block are all masked
    else:
        hi = T
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + offs_n
        kv_mask = (cols[:, None] < T) & d_mask
        k = tl.load(k_base + cols[:, None] * skt + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_base + cols[:, None] * svt + offs_d[None, :], mask=kv_mask, other=0.0)
        qk = _dot(q, tl.trans(k), PRECISION, UPCAST) * qk_scale
        valid = cols[None, :] < T
        if CAUSAL:
            valid = valid & (offs_m[:, None] >= cols[None, :])
        qk = tl.where(valid, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, axis=1))
        alpha = tl.exp2(m_i - m_new)  # rescales what was accumulated under the old max
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + _dot(p.to(v.dtype), v, PRECISION, UPCAST)
        m_i = m_new

    l_safe = tl.where(l_i > 0.0, l_i, 1.0)  # only padded rows (offs_m >= T) can have l = 0
    acc = acc / l_safe[:, None]
    lse = (m_i + tl.log2(l_safe)) * 0.6931471805599453  # back to natural log
    row_mask = offs_m < T
    tl.store(LSE + bh * T + offs_m, lse, mask=row_mask)
    tl.store(O + b * sob + h * soh + offs_m[:, None] * sot + offs_d[None, :], acc.to(O.dtype.element_ty),
             mask=row_mask[:, None] & d_mask)


@triton.jit
def _attn_bwd_delta_kernel(O, DO, DELTA, sob, soh, sot, sdb, sdh, sdt, n_heads, T, D,
                           BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr):
    """delta[b, h, t] = sum_d O * dO (the row-wise dot that the softmax backward needs)."""
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1).to(tl.int64)
    b = bh // n_heads
    h = bh % n_heads
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    mask = (offs_m[:, None] < T) & (offs_d[None, :] < D)
    o = tl.load(O + b * sob + h * soh + offs_m[:, None] * sot + offs_d[None, :], mask=mask, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdt + offs_d[None, :], mask=mask, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), axis=1)
    tl.store(DELTA + bh * T + offs_m, delta, mask=offs_m < T)


@triton.jit
def _attn_bwd_dkdv_kernel(Q, K, V, DO, LSE, DELTA, DK, DV,
                          sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sdb, sdh, sdt,
                          sdkb, sdkh, sdkt, n_heads, group, T, D, sm_scale,
                          CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_D: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """One program: one block of keys of one query head; loops over the query blocks that see it."""
    start_n = tl.program_id(0) * BLOCK_N
    bh = tl.program_id(1).to(tl.int64)
    b = bh // n_heads
    h = bh % n_heads
    hk = h // group
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    d_mask = offs_d[None, :] < D
    kv_mask = (offs_n[:, None] < T) & d_mask
    k = tl.load(K + b * skb + hk * skh + offs_n[:, None] * skt + offs_d[None, :], mask=kv_mask, other=0.0)
    v = tl.load(V + b * svb + hk * svh + offs_n[:, None] * svt + offs_d[None, :], mask=kv_mask, other=0.0)
    dk = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    qk_scale = sm_scale * 1.4426950408889634

    if CAUSAL:
        lo = (start_n // BLOCK_M) * BLOCK_M  # earlier queries cannot see these keys
    else:
        lo = 0
    for start_m in range(lo, T, BLOCK_M):
        rows = start_m + offs_m
        q_mask = (rows[:, None] < T) & d_mask
        q = tl.load(Q + b * sqb + h * sqh + rows[:, None] * sqt + offs_d[None, :], mask=q_mask, other=0.0)
        do = tl.load(DO + b * sdb + h * sdh + rows[:, None] * sdt + offs_d[None, :], mask=q_mask, other=0.0)
        lse = tl.load(LSE + bh * T + rows, mask=rows < T, other=0.0)
        delta = tl.load(DELTA + bh * T + rows, mask=rows < T, other=0.0)
        qk = _dot(q, tl.trans(k), PRECISION, UPCAST) * qk_scale
        p = tl.exp2(qk - lse[:, None] * 1.4426950408889634)  # recomputed softmax, [BLOCK_M, BLOCK_N]
        valid = (rows[:, None] < T) & (offs_n[None, :] < T)
        if CAUSAL:
            valid = valid & (rows[:, None] >= offs_n[None, :])
        p = tl.where(valid, p, 0.0)
        dv += _dot(tl.trans(p.to(do.dtype)), do, PRECISION, UPCAST)
        dp = _dot(do, tl.trans(v), PRECISION, UPCAST)
        ds = p * (dp - delta[:, None])
        dk += _dot(tl.trans(ds.to(q.dtype)), q, PRECISION, UPCAST)
    dk = dk * sm_scale
    out = b * sdkb + h * sdkh + offs_n[:, None] * sdkt + offs_d[None, :]
    tl.store(DK + out, dk.to(DK.dtype.element_ty), mask=kv_mask)
    tl.store(DV + out, dv.to(DV.dtype.element_ty), mask=kv_mask)


@triton.jit
def _attn_bwd_dq_kernel(Q, K, V, DO, LSE, DELTA, DQ,
                        sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sdb, sdh, sdt,
                        sdqb, sdqh, sdqt, n_heads, group, T, D, sm_scale,
                        CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                        BLOCK_D: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """One program: one block of queries; loops over the key blocks it attends to."""
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1).to(tl.int64)
    b = bh // n_heads
    h = bh % n_heads
    hk = h // group
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_mask = offs_d[None, :] < D
    q_mask = (offs_m[:, None] < T) & d_mask
    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqt + offs_d[None, :], mask=q_mask, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdt + offs_d[None, :], mask=q_mask, other=0.0)
    lse = tl.load(LSE + bh * T + offs_m, mask=offs_m < T, other=0.0)
    delta = tl.load(DELTA + bh * T + offs_m, mask=offs_m < T, other=0.0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    qk_scale = sm_scale * 1.4426950408889634

    if CAUSAL:
        hi = tl.minimum(start_m + BLOCK_M, T)
    else:
        hi = T
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + offs_n
        kv_mask = (cols[:, None] < T) & d_mask
        k = tl.load(K + b * skb + hk * skh + cols[:, None] * skt + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(V + b * svb + hk * svh + cols[:, None] * svt + offs_d[None, :], mask=kv_mask, other=0.0)
        qk = _dot(q, tl.trans(k), PRECISION, UPCAST) * qk_scale
        p = tl.exp2(qk - lse[:, None] * 1.4426950408889634)
        valid = (offs_m[:, None] < T) & (cols[None, :] < T)
        if CAUSAL:
            valid = valid & (offs_m[:, None] >= cols[None, :])
        p = tl.where(valid, p, 0.0)
        dp = _dot(do, tl.trans(v), PRECISION, UPCAST)
        ds = p * (dp - delta[:, None])
        dq += _dot(ds.to(k.dtype), k, PRECISION, UPCAST)
    dq = dq * sm_scale
    tl.store(DQ + b * sdqb + h * sdqh + offs_m[:, None] * sdqt + offs_d[None, :], dq.to(DQ.dtype.element_ty),
             mask=q_mask)


INTERPRETED = is_interpreted(_attn_fwd_kernel)


def _strides(x: torch.Tensor) -> tuple[int, int, int]:
    return x.stride(0), x.stride(1), x.stride(2)


def _precision(dtype: torch.dtype) -> str:
    """fp32 inputs: use TF32 tensor cores only if PyTorch is allowed to (same rule as its matmuls)."""
    if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32:
        return "ieee"
    return "tf32"


def _upcast(dtype: torch.dtype) -> bool:
    """Widen bf16 tiles before tl.dot only in the CPU interpreter (see ``_dot``)."""
    return INTERPRETED and dtype == torch.bfloat16


def _max_shared_memory(device: torch.device) -> int:
    """Shared memory a program may use on this GPU (bytes); a conservative 48 KiB if unknown."""
    try:
        props = triton.runtime.driver.active.utils.get_device_properties(device.index or 0)
        return int(props["max_shared_mem"])
    except Exception:  # older Triton, or a driver that does not report it
        return 48 * 1024


def default_blocks(device: torch.device, T: int, D: int = 64, element_size: int = 2) -> tuple[int, int]:
    """(BLOCK_M, BLOCK_N) for this device.

    GPU: the largest square tile (64, 32 or 16) whose working set fits shared memory,
    estimated as 9 tiles of BLOCK x D elements (q, k, v, do and pipelined copies). The
    factor comes from compiling these kernels offline (num_stages=2): with 64 x 64 tiles
    and D = 64 the backward needs 64 KiB in fp16 on sm_75 and 96 KiB in fp32 on sm_80,
    so the estimate keeps a T4 (64 KiB) on 32-wide tiles and lets an A100/H100 use 64.
    Interpreter: the smallest tile that covers T (fewer programs run faster in NumPy).
    """
    if device.type == "cuda":
        limit = _max_shared_memory(device)
        block_d = max(16, triton.next_power_of_2(D))
        for b in (64, 32, 16):
            if 9 * b * block_d * element_size <= limit:
                return b, b
        return 16, 16
    b = min(64, max(16, triton.next_power_of_2(T)))
    return b, b


class FlashAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal: bool, sm_scale: float, block_m: int, block_n: int):
        B, H, T, D = q.shape
        group = H // k.shape[1]
        o = torch.empty_like(q)
        lse = torch.empty((B, H, T), dtype=torch.float32, device=q.device)
        block_d = max(16, triton.next_power_of_2(D))  # tl.dot needs every dim >= 16
        precision, upcast = _precision(q.dtype), _upcast(q.dtype)
        grid = (triton.cdiv(T, block_m), B * H)
        _attn_fwd_kernel[grid](q, k, v, o, lse, *_strides(q), *_strides(k), *_strides(v), *_strides(o),
                               H, group, T, D, sm_scale, CAUSAL=causal, BLOCK_M=block_m, BLOCK_N=block_n,
                               BLOCK_D=block_d, PRECISION=precision, UPCAST=upcast,
                               num_warps=4, num_stages=2)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.sm_scale, ctx.blocks = causal, sm_scale, (block_m, block_n, block_d)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        block_m, block_n, block_d = ctx.blocks
        if do.stride(-1) != 1:
            do = do.contiguous()
        B, H, T, D = q.shape
        group = H // k.shape[1]
        precision, upcast = _precision(q.dtype), _upcast(q.dtype)
        delta = torch.empty((B, H, T), dtype=torch.float32, device=q.device)
        _attn_bwd_delta_kernel[(triton.cdiv(T, block_m), B * H)](o, do, delta, *_strides(o), *_strides(do), H, T, D,
                                                                 BLOCK_M=block_m, BLOCK_D=block_d)
        dq = torch.empty_like(q)
        # With GQA several query heads write gradients for one k/v head: give each query
        # head its own float32 slot and sum the groups afterwards.
        if group == 1:
            dk, dv = torch.empty_like(k), torch.empty_like(v)
        else:
            dk = torch.empty((B, H, T, D), dtype=torch.float32, device=q.device)
            dv = torch.empty_like(dk)
        common = dict(CAUSAL=ctx.causal, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, PRECISION=precision,
                      UPCAST=upcast, num_warps=4, num_stages=2)
        _attn_bwd_dkdv_kernel[(triton.cdiv(T, block_n), B * H)](
            q, k, v, do, lse, delta, dk, dv, *_strides(q), *_strides(k), *_strides(v), *_strides(do),
            *_strides(dk), H, group, T, D, ctx.sm_scale, **common)
        _attn_bwd_dq_kernel[(triton.cdiv(T, block_m), B * H)](
            q, k, v, do, lse, delta, dq, *_strides(q), *_strides(k), *_strides(v), *_strides(do),
            *_strides(dq), H, group, T, D, ctx.sm_scale, **common)
        if group > 1:
            hk = k.shape[1]
            dk = dk.view(B, hk, group, T, D).sum(2).to(k.dtype)
            dv = dv.view(B, hk, group, T, D).sum(2).to(v.dtype)
        return dq, dk, dv, None, None, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                    sm_scale: float | None = None, *, block_m: int | None = None,
                    block_n: int | None = None) -> torch.Tensor:
    """``softmax(q k^T * sm_scale [+ causal mask]) v`` for (B, H, T, D) inputs, never storing the T x T scores.

    ``sm_scale`` defaults to ``1 / sqrt(D)``. ``block_m`` / ``block_n`` (powers of two, >= 16)
    override the tile sizes; the tests use small tiles to exercise several of them.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.dim() != 4:
            raise ValueError(f"flash_attention needs (B, H, T, D) tensors, got {name} of shape {tuple(x.shape)}")
    B, H, T, D = q.shape
    if k.shape != v.shape or k.shape[0] != B or k.shape[2:] != (T, D):
        raise ValueError(f"flash_attention: k {tuple(k.shape)} and v {tuple(v.shape)} must match q {tuple(q.shape)} "
                         "in batch, T and D (q, k, v share T: for decoding with a KV cache use "
                         "torch.nn.functional.scaled_dot_product_attention)")
    if H % k.shape[1]:
        raise ValueError(f"flash_attention: q has {H} heads, which is not a multiple of the {k.shape[1]} k/v heads")
    if not (q.dtype == k.dtype == v.dtype) or not q.is_floating_point():
        raise ValueError(f"flash_attention needs q, k, v of one floating dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if D > 256:
        raise ValueError(f"flash_attention supports head dims up to 256, got {D}")
    check_launchable(q, k, v, interpreted=INTERPRETED)
    default_m, default_n = default_blocks(q.device, T, D, q.element_size())
    block_m, block_n = block_m or default_m, block_n or default_n
    for name, blk in (("block_m", block_m), ("block_n", block_n)):
        if blk < 16 or blk & (blk - 1):
            raise ValueError(f"flash_attention: {name} must be a power of two >= 16, got {blk}")
    q, k, v = (x if x.stride(-1) == 1 else x.contiguous() for x in (q, k, v))
    scale = float(sm_scale) if sm_scale is not None else 1.0 / math.sqrt(D)
    if T == 0 or B * H == 0:
        return q * 0.0  # empty, but still part of the autograd graph
    return FlashAttentionFunction.apply(q, k, v, bool(causal), scale, block_m, block_n)
