"""``ttl plan``: what a full pretraining run costs before it starts.

One convention for compute, used everywhere in the course: the training FLOPs per token of
:meth:`ttl.model.Llama.flops_per_token` (``6 N + 12 L C T``, PaLM's appendix B). From it:

* total FLOPs = tokens of the schedule x FLOPs per token, where the schedule is ``max_steps``
  steps of ``tokens_per_step`` tokens on each process (data parallelism: one process a GPU);
* hours = total FLOPs / (GPUs x peak bf16 FLOP/s x MFU): MFU is the share of the peak the run
  actually reaches (TeenyTinyLlama's 460m run: about 10% on one A100; tuned runs: 40-55%);
* energy = GPUs x board power x hours x PUE (the data centre's overhead), an upper bound since
  a GPU rarely draws its full power;
* disk: the packed tokens (2 bytes a token below 65,536 tokens of vocabulary) and the kept
  checkpoints (fp32 weights and the two AdamW moments: 12 bytes a parameter);
* memory per GPU for the weights, gradients and AdamW state (16 bytes a parameter in mixed
  precision): all of it on every GPU with DDP, a 1/N share each with FSDP (full shard).
  Activations come on top and depend on the micro-batch; they are not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .config import ConfigError, Profile

# Board power (W) of the SXM/PCIe parts as their data sheets give it; peak FLOP/s come from
# the trainer's table (ttl.train.loop.PEAK_FLOPS), the one place that has them.
BOARD_POWER_W = {"A100": 400, "H100": 700, "H200": 700, "L4": 72, "T4": 70, "A10G": 300, "A10": 150}
MEMORY_GB = {"A100": 40, "H100": 80, "H200": 141, "L4": 24, "T4": 16, "A10G": 24, "A10": 24}
BYTES_PER_PARAM_TRAINING = 16      # fp32 weights 4 + fp32 gradients 4 + AdamW moments 8
BYTES_PER_PARAM_CHECKPOINT = 12    # fp32 weights 4 + AdamW moments 8


@dataclass(frozen=True)
class Gpus:
    count: int
    name: str
    peak_flops: float
    power_w: float
    memory_gb: float


def parse_gpus(spec: str) -> Gpus:
    """``8xH100``, ``1xA100-80GB`` or ``A100`` as a count, a name and the part's figures."""
    from .train.loop import PEAK_FLOPS

    m = re.fullmatch(r"\s*(?:(\d+)\s*[xX*]\s*)?([A-Za-z0-9]+)(?:-(\d+)GB)?\s*", spec)
    if not m:
        raise ConfigError(f"--gpus takes COUNTxNAME, e.g. 8xH100 or 1xA100-80GB; got {spec!r}")
    count, name, memory = int(m.group(1) or 1), m.group(2).upper(), m.group(3)
    if count <= 0:
        raise ConfigError(f"--gpus needs at least one GPU, got {spec!r}")
    if name not in PEAK_FLOPS:
        raise ConfigError(f"unknown GPU {m.group(2)!r}; known: {', '.join(PEAK_FLOPS)}")
    return Gpus(count, name, PEAK_FLOPS[name], BOARD_POWER_W[name], float(memory or MEMORY_GB[name]))


def plan(profile: Profile, gpus: str = "1xA100", *, mfu: float = 0.4, price_per_gpu_hour: float | None = None,
         pue: float = 1.1) -> dict:
    """The figures of the module docstring for ``profile`` on ``gpus``, as a dict."""
    from .model import Llama

    if not 0 < mfu <= 1:
        raise ConfigError(f"--mfu is a share of the peak, between 0 and 1; got {mfu}")
    if pue < 1:
        raise ConfigError(f"--pue is at least 1 (1.0: no overhead at all); got {pue}")
    hw = parse_gpus(gpus)
    with torch.device("meta"):
        model = Llama(profile.model)
    params = model.num_parameters()
    t = profile.train
    flops_per_token = model.flops_per_token(t.seq_len)
    tokens = t.max_steps * t.tokens_per_step * hw.count   # each process trains on its own share
    total_flops = tokens * flops_per_token
    hours = total_flops / (hw.count * hw.peak_flops * mfu) / 3600
    bytes_per_token = 2 if profile.model.vocab_size <= 1 << 16 else 4
    checkpoint_gb = params * BYTES_PER_PARAM_CHECKPOINT / 1e9
    state_gb = params * BYTES_PER_PARAM_TRAINING / 1e9
    return {
        "profile": profile.name, "gpus": f"{hw.count}x{hw.name}", "parameters": params,
        "flops_per_token": flops_per_token, "tokens": tokens, "total_flops": total_flops, "mfu": mfu,
        "hours": hours, "gpu_hours": hours * hw.count,
        "energy_kwh": hw.count * hw.power_w * hours * pue / 1000, "pue": pue,
        "cost": None if price_per_gpu_hour is None else hours * hw.count * price_per_gpu_hour,
        "disk_tokens_gb": tokens * bytes_per_token / 1e9,
        "disk_checkpoints_gb": checkpoint_gb * (t.keep_checkpoints or 1),
        "memory_per_gpu_ddp_gb": state_gb, "memory_per_gpu_fsdp_gb": state_gb / hw.count,
        "gpu_memory_gb": hw.memory_gb,
    }


def format_plan(p: dict) -> str:
    """The plan as the table ``ttl plan`` prints."""
    rows = [
        ("parameters", f"{p['parameters']:,}"),
        ("FLOPs per token", f"{p['flops_per_token'] / 1e9:.3f} GFLOP (6N + 12LCT, forward + backward)"),
        ("tokens", f"{p['tokens'] / 1e9:.2f} B"),
        ("total compute", f"{p['total_flops']:.3e} FLOP"),
        (f"time on {p['gpus']} at {p['mfu']:.0%} MFU", f"{p['hours']:,.1f} h ({p['gpu_hours']:,.0f} GPU-hours)"),
        (f"energy (PUE {p['pue']})", f"{p['energy_kwh']:,.0f} kWh at most"),
        ("cost", "pass --price (per GPU-hour)" if p["cost"] is None else f"{p['cost']:,.0f}"),
        ("disk: packed tokens", f"{p['disk_tokens_gb']:,.1f} GB"),
        ("disk: kept checkpoints", f"{p['disk_checkpoints_gb']:,.1f} GB"),
        ("memory per GPU, DDP", f"{p['memory_per_gpu_ddp_gb']:,.1f} GB + activations "
                                f"(of {p['gpu_memory_gb']:.0f} GB)"),
        ("memory per GPU, FSDP", f"{p['memory_per_gpu_fsdp_gb']:,.1f} GB + activations"),
    ]
    width = max(len(k) for k, _ in rows)
    return f"plan for {p['profile']}\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
