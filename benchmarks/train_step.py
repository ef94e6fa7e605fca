"""One training step of ttl's Llama vs transformers' LlamaForCausalLM, same config, same run.

A step is forward + backward + AdamW step + zero_grad, on the same batch, with the same
weights (the transformers model is made with ``to_hf(model)``) and the same number of threads.
After warm-up steps the two models take turns in blocks of steps (the order flips every
round) and we report the median tokens/s of each and the ratio ours / transformers. Then the
same again with ``torch.compile`` on both, compile time reported apart. On the CPU all of it
runs twice: with glibc's heap as it comes, then with a heap that keeps freed memory
(``keep_freed_memory``), under which neither model page-faults every step, so the second
table compares the computation alone. On a GPU, also tokens/s and MFU of the TTL-160m and TTL-460m configs in bf16.

Our loss is on ``targets`` shifted by the caller; transformers gets ``labels=input_ids`` and
shifts itself (so its loss covers T-1 positions instead of T: the same work up to 1/T).

    python benchmarks/train_step.py                          # smoke profile, 2 threads, CPU
    python benchmarks/train_step.py --steps 60 --block 10 --heap default --profile smoke
    python benchmarks/train_step.py --gpu-only               # on a GPU box: MFU table only

Results are printed as a markdown table and written to benchmarks/results/train_step_<device>.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from ttl.config import load_profile
from ttl.io import atomic_write_text
from ttl.model import Llama, to_hf
from ttl.train import make_adamw
from ttl.train.loop import peak_flops_by_name

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# The largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2); larger values are refused.
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 1024 * 1024 * 1024
_TOP_PAD = 64 * 1024 * 1024

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc to keep freed memory instead of returning it to the OS; True if it took effect.

    glibc gives large freed blocks back to the OS (blocks above the mmap threshold at once, the
    top of the heap when more than the trim threshold is free), so a training step that frees
    and reallocates the same tens of megabytes every step page-faults them in again, one fault
    per 4 KiB. Raising both thresholds keeps them in the heap. Process-wide and idempotent;
    blocks over 32 MiB (glibc's limit) are still unmapped. The heap 'kept' rows measure the two
    models without that cost, i.e. their computation alone.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in
             ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD)))
    _applied = ok
    return ok


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_step(model, optimizer, x, y, is_hf: bool, autocast):
    """A closure doing one full training step of ``model``."""
    def step():
        with autocast():
            if is_hf:
                loss = model(input_ids=x, labels=x).loss
            else:
                loss = model(x, y, return_logits=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step


def build_pair(config, device, seed: int, weights_dtype=torch.float32):
    """Our model and a transformers copy with the same weights, both in train mode."""
    torch.manual_seed(seed)
    ours = Llama(config).to(device=device, dtype=weights_dtype)
    hf = to_hf(ours).to(device=device, dtype=weights_dtype)
    ours.train()
    hf.train()
    return ours, hf


def time_blocks(steps: dict, warmup: int, n: int, block: int, device) -> tuple[dict, dict]:
    """Warm up each step function, then time them in alternating blocks of ``block`` steps.

    Returns ({name: [[seconds per step] per block]}, {name: seconds of the first call,
    compilation included}). Blocks rather than single interleaved steps: a training run does
    one model's steps back to back, and the heap and caches one model leaves behind change the
    next step of the other (step by step interleaving favoured whichever model allocates
    less). The order flips every round, and each round's two blocks see about the same load
    from other processes, which is what the per-round ratios rely on.
    """
    first = {}
    for name, fn in steps.items():
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        first[name] = time.perf_counter() - t0
        for _ in range(max(0, warmup - 1)):
            fn()
    sync(device)
    times = {name: [] for name in steps}
    names = list(steps)
    for r in range(max(1, -(-n // block))):
        for name in (names if r % 2 == 0 else names[::-1]):
            block_times = []
            for _ in range(block):
                sync(device)
                t0 = time.perf_counter()
                steps[name]()
                sync(device)
                block_times.append(time.perf_counter() - t0)
            times[name].append(block_times)
    return times, first


def bench_config(config, batch: int, seq_len: int, device, *, warmup: int, steps: int, compile_: bool,
                 bf16: bool, block: int = 10, seed: int = 0) -> dict:
    """tokens/s of ours and transformers for one config; with ``compile_`` both are torch.compile'd."""
    ours, hf = build_pair(config, device, seed)
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, config.vocab_size, (batch, seq_len + 1), generator=g).to(device)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    # The optimizer ttl's trainer uses (fused AdamW), the same for both models.
    opt_ours = make_adamw(ours.parameters(), device, lr=1e-4, weight_decay=0.01)
    opt_hf = make_adamw(hf.parameters(), device, lr=1e-4, weight_decay=0.01)
    if compile_:
        ours_run, hf_run = torch.compile(ours), torch.compile(hf)
    else:
        ours_run, hf_run = ours, hf
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    fns = {"ours": make_step(ours_run, opt_ours, x, y, False, autocast),
           "hf": make_step(hf_run, opt_hf, x, y, True, autocast)}
    blocks, first = time_blocks(fns, warmup, steps, block, device)
    flat = {name: [t for b in bl for t in b] for name, bl in blocks.items()}
    tokens = batch * seq_len
    result = {"ours_tps": tokens / statistics.median(flat["ours"]),
              "hf_tps": tokens / statistics.median(flat["hf"]),
              "ours_first_s": first["ours"], "hf_first_s": first["hf"],
              "flops_per_token": ours.flops_per_token(seq_len), "params": ours.num_parameters()}
    # Speed ratio of each round (median step of the transformers block over median step of
    # ours), then the median over rounds: robust to the load of other processes drifting
    # during the run. The quartiles over rounds say how much to trust it on a shared machine.
    round_ratios = [statistics.median(h) / statistics.median(o) for o, h in zip(blocks["ours"], blocks["hf"])]
    result["ratio"] = statistics.median(round_ratios)
    q1, _, q3 = statistics.quantiles(round_ratios, n=4) if len(round_ratios) > 1 else (round_ratios[0],) * 3
    result["ratio_iqr"] = (q1, q3)
    result["best_ratio"] = min(flat["hf"]) / min(flat["ours"])     # fastest step of each
    del ours, hf, fns, opt_ours, opt_hf
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="smoke", help="profile whose model config (and train batch) to use")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    ap.add_argument("--batch", type=int, default=None, help="micro-batch size (default: the profile's)")
    ap.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the profile's)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per model before timing")
    ap.add_argument("--steps", type=int, default=120, help="timed steps per model")
    ap.add_argument("--block", type=int, default=30, help="steps per block; the models alternate block by block")
    ap.add_argument("--heap", choices=["default", "kept", "both"], default="both",
                    help="CPU: glibc's default heap (freed memory goes back to the OS), a heap that keeps "
                         "freed memory (no page faults every step), or both, default first")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile comparison")
    ap.add_argument("--gpu-only", action="store_true", help="on a GPU: only the TTL-160m/460m bf16 MFU table")
    ap.add_argument("--gpu-profiles", nargs="+", default=["ttl-160m", "ttl-460m"])
    ap.add_argument("--gpu-compile", action="store_true", help="also torch.compile the GPU runs")
    ap.add_argument("--peak-flops", type=float, default=None,
                    help="GPU peak bf16 FLOP/s for MFU (default by GPU name: A100 312e12, H100 989e12)")
    ap.add_argument("--keep-compile-cache", action="store_true",
                    help="reuse torch.compile's on-disk cache (default: a fresh one, so compile times are first-use times)")
    ap.add_argument("--out", default=None, help="markdown output (default benchmarks/results/train_step_<device>.md)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    if not args.keep_compile_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="ttl-bench-inductor-")
    profile = load_profile(args.profile)
    batch = args.batch or profile.train.micro_batch_size
    seq_len = args.seq_len or profile.train.seq_len
    on_gpu = torch.cuda.is_available()
    lines = ["# Training step: ttl Llama vs transformers LlamaForCausalLM",
             "",
             f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with "
             f"`{' '.join(['python benchmarks/train_step.py', *(argv if argv is not None else sys.argv[1:])])}`; torch {torch.__version__}, "
             f"transformers {__import__('transformers').__version__}, Python {platform.python_version()}.",
             ""]
    device_tag = "cpu"

    if not args.gpu_only:
        device = torch.device("cpu")
        cfg = profile.model
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        lines += [f"CPU: {cpu_name()}, {args.threads} threads (os.cpu_count() = {os.cpu_count()}; "
                  f"1-minute load average {load:.1f} at the start, i.e. other processes' demand for cores). "
                  f"Profile `{args.profile}`: hidden {cfg.hidden_size}, {cfg.num_layers} layers, heads "
                  f"{cfg.num_heads}/{cfg.num_kv_heads}, vocab {cfg.vocab_size}; batch {batch} x {seq_len} tokens, "
                  f"float32, fused AdamW; {args.warmup} warm-up + {args.steps} timed steps each, in alternating blocks "
                  f"of {args.block}; tokens/s from the median step time; the speed ratio is the median over rounds "
                  f"of (median transformers step / median ours step) in one round's two blocks "
                  f"(in brackets: its quartiles over the rounds), and "
                  f"'best steps' compares the fastest step of each (the least disturbed by other processes). "
                  f"First-step times are {'with a warm' if args.keep_compile_cache else 'with an empty'} "
                  f"torch.compile cache. Heap 'default' is glibc's as it comes (freed memory goes back to "
                  f"the OS and is page-faulted in again next step); 'kept' tells glibc to keep freed memory "
                  f"(`keep_freed_memory()` here), so the rows compare the two models' computation alone.",
                  "",
                  "| heap | mode | ours tokens/s | transformers tokens/s | speed ours / transformers | same, best steps | first step (compile) ours / transformers |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        modes = [("eager", False)] + ([] if args.no_compile else [("torch.compile", True)])
        heaps = ["default", "kept"] if args.heap == "both" else [args.heap]
        for heap in heaps:
            if heap == "kept" and not keep_freed_memory():
                lines.append("| kept | (not available: this C library has no glibc mallopt) | | | | | |")
                continue
            for name, comp in modes:
                print(f"[cpu] heap {heap}, {name} ...", flush=True)
                r = bench_config(cfg, batch, seq_len, device, warmup=args.warmup, steps=args.steps,
                                 compile_=comp, bf16=False, block=args.block)
                # torch.compile reuses the code compiled for the first heap: no second compile time.
                first = ("(compiled above)" if comp and heap != heaps[0]
                         else f"{r['ours_first_s']:.1f} s / {r['hf_first_s']:.1f} s")
                lines.append(f"| {heap} | {name} | {r['ours_tps']:,.0f} | {r['hf_tps']:,.0f} | **{r['ratio']:.2f}x** "
                             f"[{r['ratio_iqr'][0]:.2f}-{r['ratio_iqr'][1]:.2f}] | {r['best_ratio']:.2f}x | {first} |")
                print(lines[-1], flush=True)
        lines.append("")

    if on_gpu:
        device = torch.device("cuda")
        name = torch.cuda.get_device_name()
        device_tag = "gpu_" + "".join(ch for ch in name.lower().replace(" ", "_") if ch.isalnum() or ch == "_")
        peak = args.peak_flops or peak_flops_by_name(name)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        lines += [f"GPU: {name}; bf16 autocast with float32 weights, fused AdamW, attention "
                  f"`sdpa`; MFU = flops_per_token x tokens/s / peak, peak "
                  f"{peak / 1e12 if peak else float('nan'):.0f} TFLOP/s.",
                  "",
                  "| config | mode | batch x seq | ours tokens/s | ours MFU | transformers tokens/s | transformers MFU | ours / transformers |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for pname in args.gpu_profiles:
            p = load_profile(pname)
            cfg = dataclasses.replace(p.model, attn_impl="sdpa")
            b, t = p.train.micro_batch_size, p.train.seq_len
            for mode, comp in [("eager", False)] + ([("torch.compile", True)] if args.gpu_compile else []):
                print(f"[gpu] {pname} {mode} ...", flush=True)
                r = bench_config(cfg, b, t, device, warmup=args.warmup, steps=args.steps, compile_=comp, bf16=True,
                                 block=args.block)
                mfu = (lambda tps: f"{100 * r['flops_per_token'] * tps / peak:.1f}%" if peak else "n/a")
                lines.append(f"| {pname} | {mode} | {b} x {t} | {r['ours_tps']:,.0f} | {mfu(r['ours_tps'])} | "
                             f"{r['hf_tps']:,.0f} | {mfu(r['hf_tps'])} | {r['ratio']:.2f}x |")
                print(lines[-1], flush=True)
        lines.append("")

    text = "\n".join(lines)
    print(text)
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"train_step_{device_tag}.md"
    atomic_write_text(out, text + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
