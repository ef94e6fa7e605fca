"""Greedy generation: ttl's decoder (with and without its KV cache) vs transformers' generate.

The same weights (the transformers model is ``to_hf(model)``), the same prompt, the same
number of new tokens (no stop at ``</s>``: every run writes exactly ``--new-tokens``), the same
threads, in one process. The three decoders take turns, in an order that rotates every
round, and we report the median time of each over ``--rounds`` rounds, the tokens/s it gives,
and two ratios measured in this run: ours (cached) / transformers, and ours cached / ours
uncached (what the cache buys). Chapter 6 shows the same comparison once, in the notebook.

The model is the run's trained checkpoint when ``--run`` holds one, else a model of the
profile's shape with random weights (generation costs the same either way).

    python benchmarks/generation.py                        # smoke profile, 2 threads, CPU
    python benchmarks/generation.py --new-tokens 32,128 --rounds 5 --run runs/smoke

Results are printed as a markdown table and written to benchmarks/results/generation_<device>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from ttl.config import load_profile
from ttl.generate import SamplingConfig, generate_ids
from ttl.io import atomic_write_text
from ttl.model import Llama, to_hf


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--run", type=Path, help="a run folder whose latest checkpoint to load")
    p.add_argument("--new-tokens", default="32,128,240", help="comma-separated counts")
    p.add_argument("--prompt-tokens", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="markdown report (default: benchmarks/results/)")
    return p.parse_args(argv)


def load_model(profile, run: Path | None, device: torch.device):
    if run is not None:
        from ttl.runs import RunDir
        from ttl.train import latest_checkpoint, load_trained_model

        if latest_checkpoint(RunDir(run).checkpoints_dir) is not None:
            return load_trained_model(profile, RunDir(run)).to(device).eval(), "trained"
    torch.manual_seed(0)
    return Llama(profile.model).to(device).eval(), "random weights"


def decoders(model, hf_model, ids: torch.Tensor, n: int) -> dict:
    """The three ways to write ``n`` greedy tokens after ``ids``; each returns the new ids."""
    cfg = SamplingConfig(max_new_tokens=n, temperature=0.0, stop_at_eos=False)

    def ours(use_cache):
        return lambda: torch.cat(list(generate_ids(model, ids, cfg, use_cache=use_cache)), 1)

    def hf():
        out = hf_model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                pad_token_id=model.config.pad_token_id)
        return out[:, ids.size(1):]

    return {"ours, cached": ours(True), "ours, no cache": ours(False), "transformers": hf}


@torch.no_grad()
def time_round_robin(fns: dict, rounds: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each function; the order of the calls rotates every round."""
    names = list(fns)
    for fn in fns.values():  # warm-up
        fn()
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fns[name]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    profile = load_profile(args.profile)
    model, weights = load_model(profile, args.run, device)
    hf_model = to_hf(model).to(device).eval()
    counts = [int(n) for n in args.new_tokens.split(",")]
    limit = model.config.max_seq_len - args.prompt_tokens
    if max(counts) > limit:
        raise SystemExit(f"--new-tokens {max(counts)} does not fit: the context leaves {limit}")
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(4, model.config.vocab_size, (1, args.prompt_tokens), generator=gen)
    ids = ids.to(device)
    rows = []
    for n in counts:
        fns = decoders(model, hf_model, ids, n)
        outputs = {name: fn() for name, fn in fns.items()}
        same = all(torch.equal(o, outputs["ours, cached"]) for o in outputs.values())
        times = time_round_robin(fns, args.rounds, device)
        med = {name: statistics.median(t) for name, t in times.items()}
        rows.append({"new tokens": n, "same tokens": same,
                     **{f"{name} tok/s": n / t for name, t in med.items()},
                     "ours / transformers": med["transformers"] / med["ours, cached"],
                     "cache speed-up": med["ours, no cache"] / med["ours, cached"]})
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else (
        f"CPU, {args.threads} threads ({platform.processor() or platform.machine()}; "
        f"1-minute load average {os.getloadavg()[0]:.1f} at the end)")
    lines = [f"# Greedy generation: ttl vs transformers' generate, profile `{profile.name}`", "",
             f"Measured {now} with `python benchmarks/generation.py "
             f"--new-tokens {args.new_tokens} --rounds {args.rounds}`; {where}; torch "
             f"{torch.__version__}; model {model.num_parameters():,} parameters ({weights}), "
             f"prompt {args.prompt_tokens} tokens; median of {args.rounds} rounds, the three "
             "decoders in rotating order. Ratios above 1: ours is faster.", "",
             "| new tokens | same tokens | ours, cached tok/s | ours, no cache tok/s | "
             "transformers tok/s | ours / transformers | cache speed-up |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['new tokens']} | {'yes' if r['same tokens'] else 'NO'} | "
                     f"{r['ours, cached tok/s']:,.0f} | {r['ours, no cache tok/s']:,.0f} | "
                     f"{r['transformers tok/s']:,.0f} | {r['ours / transformers']:.2f}x | "
                     f"{r['cache speed-up']:.2f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    out = args.out or Path(__file__).parent / "results" / f"generation_{device.type}.md"
    atomic_write_text(out, report)
    return 0 if all(r["same tokens"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
