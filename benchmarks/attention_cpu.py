"""Causal grouped-query attention on the CPU: PyTorch's sdpa against plain matmuls.

Why this exists: on the smoke model the attention takes about 9 of a training step's 61 ms,
and for short sequences (T = 128, head_dim 32) the CPU flash kernel behind
``scaled_dot_product_attention`` runs its small matmuls far below the machine's peak. The
obvious alternative is to write attention as two batched matmuls; to make them as large as
possible, the query heads that share a key/value head are folded into the rows of one matmul,
so keys and values are never repeated; and the backward pass can reuse the forward's
probabilities instead of recomputing them. This measures all three, forward + backward, eager
and compiled, so the choice in ``ttl.model.llama.Attention`` rests on a number.

    python benchmarks/attention_cpu.py                # smoke shapes, 2 threads
    python benchmarks/attention_cpu.py --seq-len 512
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def sdpa_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=q.shape[1] != k.shape[1])


def folded_matmul_attention(q, k, v):
    """q (B, H, T, D), k and v (B, K, T, D); the G = H / K query heads of a group are adjacent."""
    B, H, T, D = q.shape
    K = k.shape[1]
    G = H // K
    scores = (q.reshape(B, K, G * T, D) @ k.transpose(-2, -1)) * D ** -0.5      # (B, K, G*T, T)
    allowed = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    scores = scores.view(B, K, G, T, T).masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1).view(B, K, G * T, T)
    return (weights @ v).view(B, H, T, D)


class SavedProbsAttention(torch.autograd.Function):
    """The folded matmuls with a hand-written backward that reuses the forward's probabilities
    instead of recomputing them (what a flash kernel does to save memory): 4 batched matmuls in
    the backward pass instead of 6 for the recomputing kernels."""

    @staticmethod
    def forward(ctx, q, k, v):
        B, H, T, D = q.shape
        K = k.shape[1]
        G, scale = H // K, D ** -0.5
        qf, kf, vf = q.reshape(B * K, G * T, D), k.reshape(B * K, T, D), v.reshape(B * K, T, D)
        scores = torch.bmm(qf, kf.transpose(1, 2)).mul_(scale)                  # (B*K, G*T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu_(1).repeat(G, 1)
        probs = torch.softmax(scores.masked_fill_(future, float("-inf")), dim=-1)
        out = torch.bmm(probs, vf)
        ctx.save_for_backward(qf, kf, vf, probs, out)
        ctx.scale, ctx.shapes = scale, (q.shape, k.shape)
        return out.view(q.shape)

    @staticmethod
    def backward(ctx, grad_out):
        qf, kf, vf, probs, out = ctx.saved_tensors
        q_shape, k_shape = ctx.shapes
        g = grad_out.reshape(out.shape)
        grad_v = torch.bmm(probs.transpose(1, 2), g)
        grad_p = torch.bmm(g, vf.transpose(1, 2))
        grad_s = probs * (grad_p - (g * out).sum(-1, keepdim=True)) * ctx.scale   # softmax backward
        grad_q = torch.bmm(grad_s, kf)
        grad_k = torch.bmm(grad_s.transpose(1, 2), qf)
        return grad_q.view(q_shape), grad_k.view(k_shape), grad_v.view(k_shape)


def saved_probs_attention(q, k, v):
    return SavedProbsAttention.apply(q, k, v)


def time_fwd_bwd(fn, shapes, steps: int) -> float:
    (B, H, K, T, D) = shapes
    q = torch.randn(B, H, T, D, requires_grad=True)
    k = torch.randn(B, K, T, D, requires_grad=True)
    v = torch.randn(B, K, T, D, requires_grad=True)
    grad = torch.randn(B, H, T, D)
    for _ in range(5):
        fn(q, k, v).backward(grad)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn(q, k, v).backward(grad)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = (args.batch, args.heads, args.kv_heads, args.seq_len, args.head_dim)
    q = torch.randn(*shapes[:2], args.seq_len, args.head_dim)
    k = torch.randn(args.batch, args.kv_heads, args.seq_len, args.head_dim)
    v = torch.randn_like(k)
    diff = max((sdpa_attention(q, k, v) - fn(q, k, v)).abs().max().item()
               for fn in (folded_matmul_attention, saved_probs_attention))
    print(f"B, H, K, T, D = {shapes}, {args.threads} threads; max |sdpa - others| = {diff:.1e}")
    print("| implementation | eager, ms (fwd + bwd) | torch.compile, ms (fwd + bwd) |")
    print("|---|---:|---:|")
    for name, fn in [("sdpa", sdpa_attention), ("folded matmuls", folded_matmul_attention),
                     ("folded matmuls, probabilities kept for backward", saved_probs_attention)]:
        eager = time_fwd_bwd(fn, shapes, args.steps)
        compiled = time_fwd_bwd(torch.compile(fn), shapes, args.steps)
        print(f"| {name} | {eager * 1e3:.2f} | {compiled * 1e3:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
