"""Benchmark the ttl Triton kernels against eager PyTorch, torch.compile and Liger-Kernel.

Run on a CUDA GPU::

    python benchmarks/kernels.py                      # all ops, bf16, forward and forward+backward
    python benchmarks/kernels.py --ops rms_norm,cross_entropy --dtype fp16 --no-compile

For every op, size and mode (``fwd``, ``fwd+bwd``) it times each provider with
CUDA events (median of ``--rep`` runs after ``--warmup``), and reports

* time in ms,
* achieved memory bandwidth in GB/s for the memory-bound ops (bytes a perfect
  kernel must move / time; compare with the GPU's peak, e.g. ~3,350 GB/s on an
  H100 SXM), or TFLOP/s for attention (its FLOPs / time),
* the speed-up over eager PyTorch measured in the same run.

The table goes to stdout and to ``benchmarks/results/kernels_<gpu>.md``.

Without a GPU there is nothing meaningful to time: the script says so and
exits 1; ``--allow-cpu`` makes that a clean skip (exit 0), and ``--smoke`` runs a
tiny correctness check of every kernel through Triton's CPU interpreter
instead (it sets ``TRITON_INTERPRET=1`` itself when no GPU is present).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ttl.io import atomic_write_text

OPS = ("rms_norm", "rope", "swiglu", "cross_entropy", "attention")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


# ----------------------------------------------------------------------------- helpers (tested on CPU)

def gpu_slug(name: str) -> str:
    """A file-name-safe, lower-case form of a device name: 'NVIDIA H100 80GB HBM3' -> 'nvidia_h100_80gb_hbm3'."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "unknown_gpu"


def bytes_moved(op: str, shape: dict, element_size: int, mode: str) -> int:
    """Bytes a perfect kernel must read and write: the denominator of 'achieved GB/s'.

    Small per-row statistics (rstd, lse), the weight vector and the cos/sin tables are
    ignored: they are a vanishing share at benchmark sizes.
    """
    if mode not in ("fwd", "fwd+bwd"):
        raise ValueError(f"mode must be 'fwd' or 'fwd+bwd', got {mode!r}")
    e = element_size
    if op == "rms_norm":  # fwd: read x, write y. bwd: read dy and x, write dx.
        n = shape["tokens"] * shape["hidden"]
        per = {"fwd": 2, "fwd+bwd": 2 + 3}
    elif op == "swiglu":  # fwd: read gate, up, write out. bwd: read dout, gate, up, write d_gate, d_up.
        n = shape["tokens"] * shape["inter"]
        per = {"fwd": 3, "fwd+bwd": 3 + 5}
    elif op == "rope":  # fwd: read q, k, write q', k'. bwd: the same again.
        n = shape["batch"] * shape["seq"] * (shape["q_heads"] + shape["kv_heads"]) * shape["head_dim"]
        per = {"fwd": 2, "fwd+bwd": 4}
    elif op == "cross_entropy":  # fwd: read logits. bwd: read logits, write their gradient.
        n = shape["tokens"] * shape["vocab"]
        per = {"fwd": 1, "fwd+bwd": 1 + 2}
    elif op == "attention":  # fwd: read q, k, v, write o (the T x T scores never touch memory).
        n = shape["batch"] * shape["heads"] * shape["seq"] * shape["head_dim"]
        per = {"fwd": 4, "fwd+bwd": 4 + 8}  # bwd: read q, k, v, o, do; write dq, dk, dv
    else:
        raise ValueError(f"unknown op {op!r}; choose from {OPS}")
    return per[mode] * n * e


def attention_flops(shape: dict, causal: bool, mode: str) -> float:
    """Matmul FLOPs of attention: 2 matmuls of 2*T*T*D per head forward, 5 in the backward."""
    per_matmul = 2.0 * shape["batch"] * shape["heads"] * shape["seq"] ** 2 * shape["head_dim"]
    if causal:
        per_matmul /= 2
    return per_matmul * (2 if mode == "fwd" else 2 + 5)


def measure_ms(fn: Callable[[], object], device: str, warmup: int = 5, rep: int = 20) -> float:
    """Median wall time of ``fn()`` in milliseconds: CUDA events on a GPU, perf_counter otherwise."""
    import torch

    if rep < 1:
        raise ValueError("rep must be at least 1")
    for _ in range(warmup):
        fn()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(rep):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(rep):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


@dataclass
class Result:
    op: str
    size: str
    mode: str
    provider: str
    ms: float | None          # None: the provider failed or is missing (see note)
    gbps: float | None = None
    tflops: float | None = None
    speedup: float | None = None  # eager time / this time, same op, size and mode
    note: str = ""


def add_speedups(results: list[Result], baseline: str = "eager") -> None:
    """Fill ``speedup`` of each result relative to the baseline provider of the same op/size/mode."""
    base = {(r.op, r.size, r.mode): r.ms for r in results if r.provider == baseline and r.ms}
    for r in results:
        ref = base.get((r.op, r.size, r.mode))
        r.speedup = ref / r.ms if (ref and r.ms) else None


def markdown_table(results: list[Result], title: str) -> str:
    """Results as a Markdown table (one row per op, size, mode and provider)."""
    def fmt(x, digits):
        return "-" if x is None else f"{x:.{digits}f}"
    lines = [f"# {title}", "",
             "| op | size | mode | provider | ms | GB/s | TFLOP/s | speed-up vs eager | note |",
             "|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.op} | {r.size} | {r.mode} | {r.provider} | {fmt(r.ms, 3)} | {fmt(r.gbps, 0)} | "
                     f"{fmt(r.tflops, 1)} | {fmt(r.speedup, 2)}{'x' if r.speedup else ''} | {r.note} |")
    return "\n".join(lines) + "\n"


write_atomic = atomic_write_text  # the old name, still used by tests/test_kernels.py


# ----------------------------------------------------------------------------- the cases

@dataclass
class Case:
    op: str
    size: str
    shape: dict
    make: Callable  # (device, dtype) -> (inputs tuple, upstream grad or None)
    providers: dict = field(default_factory=dict)  # name -> callable(*inputs) -> tensor


def _liger():
    """Liger-Kernel's functions if it is installed, else None."""
    try:
        from liger_kernel.ops.swiglu import LigerSiLUMulFunction
        from liger_kernel.transformers import LigerCrossEntropyLoss, LigerRMSNorm, liger_rotary_pos_emb
    except Exception:  # not installed, or an incompatible version
        return None
    return dict(rms_norm_cls=LigerRMSNorm, swiglu=LigerSiLUMulFunction.apply, rope=liger_rotary_pos_emb,
                ce_cls=LigerCrossEntropyLoss)


def build_cases(ops: list[str], compile_ref: bool, smoke: bool = False) -> list[Case]:
    import torch
    import torch.nn.functional as F

    import ttl.kernels as K
    from ttl.kernels import reference as R

    liger = None if smoke else _liger()
    comp = (lambda f: torch.compile(f)) if compile_ref else None
    cases = []

    def providers(ttl_fn, eager_fn, liger_fn=None, extra=None):
        p = {"ttl (triton)": ttl_fn, "eager": eager_fn}
        if comp is not None:
            p["torch.compile"] = comp(eager_fn)
        if liger_fn is not None:
            p["liger"] = liger_fn
        p.update(extra or {})
        return p

    def eager_rms(x, w):  # what a plain PyTorch Llama does (HF LlamaRMSNorm)
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w

    sizes = {
        "rms_norm": [dict(tokens=64, hidden=33)] if smoke else
                    [dict(tokens=t, hidden=h) for t in (4096, 16384) for h in (768, 1024, 4096)],
        "swiglu": [dict(tokens=16, inter=100)] if smoke else
                  [dict(tokens=t, inter=i) for t in (4096, 16384) for i in (3072, 4096)],
        "rope": [dict(batch=1, seq=9, q_heads=4, kv_heads=2, head_dim=16)] if smoke else
                [dict(batch=b, seq=2048, q_heads=h, kv_heads=h, head_dim=64) for b in (4, 8) for h in (12, 16)],
        "cross_entropy": [dict(tokens=5, vocab=999)] if smoke else
                         [dict(tokens=t, vocab=32000) for t in (2048, 8192)],
        "attention": [dict(batch=1, heads=2, seq=33, head_dim=16)] if smoke else
                     [dict(batch=b, heads=12, seq=t, head_dim=64) for b, t in ((8, 1024), (4, 2048))]
                     + [dict(batch=2, heads=16, seq=2048, head_dim=64)],
    }

    for op in ops:
        for s in sizes[op]:
            label = ",".join(f"{k}={v}" for k, v in s.items())
            if op == "rms_norm":
                def make(dev, dt, s=s):
                    x = torch.randn(s["tokens"], s["hidden"], device=dev, dtype=dt)
                    w = torch.ones(s["hidden"], device=dev, dtype=dt) + 0.1 * torch.randn(s["hidden"], device=dev, dtype=dt)
                    return (x, w), torch.randn_like(x)
                lig = None
                if liger:
                    modules = {}

                    def lig(x, w, modules=modules):
                        m = modules.get(w.shape[0])
                        if m is None:
                            m = modules[w.shape[0]] = liger["rms_norm_cls"](w.shape[0], eps=1e-6).to(w.device, w.dtype)
                        m.weight = torch.nn.Parameter(w, requires_grad=w.requires_grad)
                        return m(x)
                prov = providers(lambda x, w: K.rms_norm(x, w, 1e-6), eager_rms, lig)
            elif op == "swiglu":
                def make(dev, dt, s=s):
                    g = torch.randn(s["tokens"], s["inter"], device=dev, dtype=dt)
                    return (g, torch.randn_like(g)), torch.randn_like(g)
                prov = providers(K.swiglu, lambda g, u: F.silu(g) * u, liger["swiglu"] if liger else None)
            elif op == "rope":
                def make(dev, dt, s=s):
                    B, T, D = s["batch"], s["seq"], s["head_dim"]
                    # the layout a Llama layer produces: (B, T, H, D) viewed as (B, H, T, D)
                    q = torch.randn(B, T, s["q_heads"], D, device=dev, dtype=dt).transpose(1, 2)
                    k = torch.randn(B, T, s["kv_heads"], D, device=dev, dtype=dt).transpose(1, 2)
                    cos, sin = R.rope_cos_sin(T, D, device=dev, dtype=dt)
                    return (q, k, cos, sin), None
                lig = (lambda q, k, c, s_: liger["rope"](q, k, c[None], s_[None])) if liger else None
                prov = providers(K.apply_rope, R.apply_rope, lig)
            elif op == "cross_entropy":
                def make(dev, dt, s=s):
                    x = torch.randn(s["tokens"], s["vocab"], device=dev, dtype=dt)
                    t = torch.randint(0, s["vocab"], (s["tokens"],), device=dev)
                    t[::7] = -100
                    return (x, t), None
                lig = None
                if liger:
                    ce = liger["ce_cls"](ignore_index=-100)
                    lig = lambda x, t, ce=ce: ce(x, t)  # noqa: E731
                prov = providers(K.cross_entropy, lambda x, t: F.cross_entropy(x.float(), t), lig)
            else:  # attention
                def make(dev, dt, s=s):
                    q = torch.randn(s["batch"], s["heads"], s["seq"], s["head_dim"], device=dev, dtype=dt)
                    return (q, torch.randn_like(q), torch.randn_like(q)), torch.randn_like(q)
                prov = providers(lambda q, k, v: K.flash_attention(q, k, v, causal=True),
                                 lambda q, k, v: R.attention(q, k, v, causal=True),
                                 extra={"sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)})
            cases.append(Case(op, label, s, make, prov))
    return cases


def _runner(fn, inputs, grad, mode):
    """A no-argument callable running forward (and backward) of ``fn`` on ``inputs``."""
    import torch

    diff = [x for x in inputs if x.is_floating_point() and x.requires_grad]

    def fwd():
        with torch.no_grad():
            return fn(*inputs)

    def fwd_bwd():
        for x in diff:
            x.grad = None
        out = fn(*inputs)
        if isinstance(out, tuple):  # rope returns (q, k): backprop both
            torch.autograd.backward(list(out), [torch.ones_like(o) for o in out])
        elif out.dim() == 0:
            out.backward()
        else:
            out.backward(grad if grad is not None else torch.ones_like(out))
    return fwd if mode == "fwd" else fwd_bwd


def run_benchmarks(cases: list[Case], device: str, dtype, modes, warmup: int, rep: int,
                   check: bool = True) -> list[Result]:
    """Time every provider of every case; with ``check``, first verify the ttl kernel's output."""
    import torch

    results = []
    for case in cases:
        inputs, grad = case.make(device, dtype)
        for i, x in enumerate(inputs):
            if x.is_floating_point() and not (case.op == "rope" and i >= 2):  # cos/sin stay constants
                x.requires_grad_(True)
        if check:
            with torch.no_grad():
                ours, ref = case.providers["ttl (triton)"](*inputs), case.providers["eager"](*inputs)
            ours, ref = (ours, ref) if isinstance(ours, tuple) else ((ours,), (ref,))
            for a, b in zip(ours, ref):
                torch.testing.assert_close(a.float(), b.float(), rtol=3e-2, atol=3e-2)
        for mode in modes:
            for name, fn in case.providers.items():
                try:
                    ms = measure_ms(_runner(fn, inputs, grad, mode), device, warmup, rep)
                except Exception as exc:  # one failing provider (e.g. an old Liger) must not end the run
                    results.append(Result(case.op, case.size, mode, name, None, note=f"failed: {type(exc).__name__}"))
                    continue
                r = Result(case.op, case.size, mode, name, ms)
                if case.op == "attention":
                    r.tflops = attention_flops(case.shape, True, mode) / (ms * 1e-3) / 1e12
                else:
                    r.gbps = bytes_moved(case.op, case.shape, inputs[0].element_size(), mode) / (ms * 1e-3) / 1e9
                results.append(r)
        del inputs, grad
        if device == "cuda":
            torch.cuda.empty_cache()
    add_speedups(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--modes", default="fwd,fwd+bwd", help="fwd, fwd+bwd or both")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rep", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile provider")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for kernels_<gpu>.md")
    parser.add_argument("--allow-cpu", action="store_true", help="without a GPU, skip cleanly (exit 0)")
    parser.add_argument("--smoke", action="store_true",
                        help="without a GPU: tiny correctness run of every kernel through the Triton interpreter")
    args = parser.parse_args(argv)

    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = sorted(set(ops) - set(OPS))
    if unknown:
        parser.error(f"unknown op(s) {unknown}; choose from {','.join(OPS)}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"fwd", "fwd+bwd"}:
        parser.error("--modes takes fwd, fwd+bwd or 'fwd,fwd+bwd'")

    import torch

    if not torch.cuda.is_available():
        if args.smoke:
            os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel file is imported
            from ttl.kernels import kernels_available
            ok, reason = kernels_available("cpu")
            if not ok:
                print(f"cannot run the smoke check: {reason}")
                return 1
            cases = build_cases(ops, compile_ref=False, smoke=True)
            results = run_benchmarks(cases, "cpu", torch.float32, modes, warmup=0, rep=1)
            print(markdown_table(results, "Interpreter smoke run (CPU): correctness only, times mean nothing"))
            print("all kernels match their references")
            return 0
        msg = ("benchmarks/kernels.py needs a CUDA GPU: Triton kernels on the CPU only run through the "
               "interpreter, whose timings mean nothing. Run it on a GPU machine (e.g. Colab), or use "
               "--smoke for an interpreter correctness run.")
        print(msg + (" Skipping (--allow-cpu)." if args.allow_cpu else ""))
        return 0 if args.allow_cpu else 1

    from ttl.kernels import kernels_available
    ok, reason = kernels_available("cuda")
    if not ok:
        print(f"cannot benchmark: {reason}")
        return 1
    dtype = getattr(torch, DTYPES[args.dtype])
    gpu = torch.cuda.get_device_name()
    cases = build_cases(ops, compile_ref=not args.no_compile)
    results = run_benchmarks(cases, "cuda", dtype, modes, args.warmup, args.rep)
    title = (f"ttl kernels on {gpu} ({args.dtype}, torch {torch.__version__}, "
             f"median of {args.rep} runs, {time.strftime('%Y-%m-%d')})")
    table = markdown_table(results, title)
    print(table)
    path = args.out / f"kernels_{gpu_slug(gpu)}.md"
    atomic_write_text(path, table)  # a crash never leaves half a results file
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
