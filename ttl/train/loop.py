"""The pretraining loop: one code path from a CPU smoke run to the A100/H100 run.

What it does, in order: build the model from the profile, pack the corpus if
needed, then for each optimizer step accumulate gradients over micro-batches,
clip, step AdamW (weight decay on weight matrices only), follow the warmup +
cosine schedule, and every so often evaluate, log and checkpoint.

Resuming is exact: the batch of every step is a pure function of (seed, step)
(see ``TokenBlocks.indices_for_step``), and the checkpoint holds the model,
the optimizer and the RNG states, so a run stopped at step k and resumed
gives the same weights as one never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import ConfigError, Profile
from ..data.packing import TokenBlocks, open_blocks, read_meta
from ..io import atomic_write_json, atomic_write_jsonl, move_aside
from ..manifest import StaleError, differences, read_manifest
from ..runs import RunDir
from .checkpoint import (STEP_PATTERN, latest_checkpoint, load_checkpoint_model, load_model_weights,
                         load_trainer_state, save_checkpoint)
from .schedule import lr_at

# Dense bf16 peak of common training GPUs (data sheets, SXM parts), for MFU (model FLOPs
# utilisation). Matched in this order against the device name, so A10G comes before A10.
PEAK_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "L4": 121e12, "T4": 65e12,
              "A10G": 70e12, "A10": 125e12}


def peak_flops_by_name(name: str) -> float | None:
    """The bf16 peak FLOP/s of a GPU given its name (e.g. 'NVIDIA H100 80GB HBM3'), or None."""
    for key, value in PEAK_FLOPS.items():
        if key in name.upper():
            return value
    return None


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return peak_flops_by_name(torch.cuda.get_device_name(device))


@dataclass
class TrainResult:
    model: torch.nn.Module
    checkpoint: Path | None
    history: list[dict] = field(default_factory=list)
    emissions: dict | None = None

    def losses(self) -> list[tuple[int, float]]:
        return [(h["step"], h["loss"]) for h in self.history if "loss" in h]

    def val_losses(self) -> list[tuple[int, float]]:
        return [(h["step"], h["val_loss"]) for h in self.history if "val_loss" in h]


def make_adamw(params, device: torch.device, **hyper) -> torch.optim.AdamW:
    """AdamW with PyTorch's fused kernel where it has one (CUDA, and the CPU since torch 2.4).

    The default implementation loops over the parameters in Python, several passes over
    memory each; the fused kernel does one. On the smoke model on 2 CPU cores a step takes
    0.7 ms fused against 6.4 ms by default (``benchmarks/train_step.py`` uses this too).
    ``hyper``: lr, betas, eps, weight_decay, as for ``torch.optim.AdamW``.
    """
    fused = torch.device(device).type in ("cuda", "cpu")
    return torch.optim.AdamW(params, fused=fused or None, **hyper)


@torch.no_grad()
def evaluate_loss(model, blocks: TokenBlocks, batch_size: int, max_batches: int, device, autocast) -> float:
    """Mean next-token loss (nats) over the first ``max_batches`` batches of ``blocks``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    n = len(blocks)
    for b in range(max_batches):
        idx = list(range(b * batch_size, min((b + 1) * batch_size, n)))
        if not idx:
            break
        x, y = blocks.batch(idx)
        with autocast():
            out = model(x.to(device), y.to(device), return_logits=False)
        total += float(out.loss) * len(idx)
        count += len(idx)
    model.train(was_training)
    return total / max(count, 1)


def _read_history(path: Path, up_to_step: int) -> list[dict]:
    """The logged rows up to ``up_to_step``. Rows past it (a run resumed from an older checkpoint)
    are kept in a copy beside the file, and a last line cut by a crash is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # only the last line can be cut: each row is appended whole
            continue
    kept = [r for r in rows if r.get("step", 0) <= up_to_step]
    if len(kept) < len(rows):
        aside = path.with_name(f"{path.name}.until-{max(r.get('step', 0) for r in rows)}")
        shutil.copyfile(path, aside)
    return kept


def main_process_first():
    """Under ``accelerate launch``, let the main process build what all need before the others."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return contextlib.nullcontext()
    from accelerate import PartialState

    # cpu= as the trainer's Accelerator says it: on a machine without a GPU, a state made
    # without it would not be distributed at all, and the trainer would then share it.
    return PartialState(cpu=not torch.cuda.is_available()).main_process_first()


def global_block_start(step: int, micro: int, rank: int, micro_batch: int, accum: int, world: int) -> int:
    """Position, in the seeded order of blocks, of the first block of one micro-batch.

    The global batch of a step is ``micro_batch * accum * world`` consecutive positions of that
    order; micro-batch ``micro`` of process ``rank`` takes its own ``micro_batch`` of them. So
    the data depends on (seed, step) only: 2 processes with micro-batch b see exactly the
    blocks 1 process sees with micro-batch 2b (or b with 2 accumulation steps).
    """
    return (step * accum * world + micro * world + rank) * micro_batch


def shard_model(model, reshard_after_forward: bool = True) -> None:
    """FSDP2 (``torch.distributed.fsdp.fully_shard``): each block, then the rest, sharded over the
    processes. It runs on GPUs (NCCL) and, for the tests, on CPU processes (gloo).
    ``reshard_after_forward=False`` keeps each block's gathered weights from the forward to the
    backward pass (ZeRO-2-like: more memory, less communication)."""
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block, reshard_after_forward=reshard_after_forward)
    fully_shard(model, reshard_after_forward=reshard_after_forward)


def _env_flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes")


def launched_with_fsdp() -> bool:
    """Whether ``accelerate launch`` was given an FSDP config (ttl/configs/accelerate/fsdp.yaml)."""
    return _env_flag("ACCELERATE_USE_FSDP", False)


@contextlib.contextmanager
def _ttl_shards_itself():
    """Make the Accelerator without accelerate's FSDP plugin: under an FSDP launch config ttl
    shards the model with its own FSDP2 path (``shard_model``), as with ``train.fsdp: true``,
    so that checkpoints, evaluation and resuming work the same way under either launcher."""
    saved = os.environ.pop("ACCELERATE_USE_FSDP", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["ACCELERATE_USE_FSDP"] = saved


def gather_full_state(model, optimizer) -> dict:
    """The full (unsharded) model and optimizer state dicts, on the main process (collective)."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {"model_state": get_model_state_dict(model, options=options),
            "optimizer_state": get_optimizer_state_dict(model, optimizer, options=options)}


def _load_optimizer_state(model, optimizer, trainer_state: dict, fsdp: bool, checkpoint: Path) -> None:
    saved = trainer_state.get("optimizer_format", "ids")
    if saved != ("fqn" if fsdp else "ids"):
        raise ConfigError(f"{checkpoint} was saved {'with' if saved == 'fqn' else 'without'} FSDP; resume it with "
                          f"train.fsdp: {str(saved == 'fqn').lower()} (the optimizer state is laid out differently)")
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, trainer_state["optimizer"],
                                 options=StateDictOptions(full_state_dict=True))
    else:
        optimizer.load_state_dict(trainer_state["optimizer"])


def available_trackers(names: list[str]) -> list[str]:
    """The trackers of ``train.log_with`` whose package is installed; a missing one is skipped, said once."""
    import importlib.util

    found = []
    for name in names:
        if importlib.util.find_spec(name) is None:
            warnings.warn(f"train.log_with names {name!r}, which is not installed (pip install {name}); "
                          "the metrics still go to checkpoints/metrics.jsonl", stacklevel=3)
        else:
            found.append(name)
    return found


EMISSIONS_FILE = "emissions.json"


def _add_emissions(ckpt_root: Path, session: dict, *, country: str, steps: tuple[int, int]) -> dict:
    """Add this session's CodeCarbon figures to the run's total in ``checkpoints/emissions.json``
    (a resumed run adds up its sessions); the model card reports the total."""
    path = ckpt_root / EMISSIONS_FILE
    total = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"co2_kg": 0.0, "energy_kwh": 0.0,
                                                                                 "sessions": []}
    for key in ("co2_kg", "energy_kwh"):
        total[key] = float(total.get(key) or 0.0) + float(session.get(key) or 0.0)
    total["sessions"].append({**session, "steps": list(steps)})
    total.update(source="CodeCarbon", country_iso_code=country)
    atomic_write_json(path, total)
    return total


def tracker_config(profile: Profile) -> dict:
    """The profile as the flat table of scalars trackers show (hyperparameters), nothing else:
    no environment, no tokens or keys ever go into a run's logs."""
    flat = {}
    for section, values in profile.to_dict().items():
        if isinstance(values, dict):
            for key, value in values.items():
                flat[f"{section}.{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def _checkpoint_manifest(profile: Profile, tokens_dir: Path) -> dict:
    """What a checkpoint of this run is made of: the token files, their tokenizer, the configs."""
    tokens = read_manifest(tokens_dir) or {}
    return {"inputs": {"tokens": tokens.get("digest"), "tokenizer": tokens.get("inputs", {}).get("tokenizer")},
            "config": {"model": dataclasses.asdict(profile.model), "train": dataclasses.asdict(profile.train)},
            "profile": profile.name}


def _refuse_foreign(checkpoint: Path, manifest: dict) -> None:
    """Resuming is only for the same model on the same tokenizer: anything else would train
    embeddings of one vocabulary on the ids of another, or fail halfway through loading."""
    found = read_manifest(checkpoint)
    if found is not None:
        found = {**found, "config": {"model": found.get("config", {}).get("model")}}
    problems = differences(found, inputs={"tokenizer": manifest["inputs"]["tokenizer"]},
                           config={"model": manifest["config"]["model"]})
    if problems:
        raise StaleError(f"will not resume from {checkpoint}: {'; '.join(problems)}. Train into a new run folder "
                         f"(--out NEW), or move {checkpoint.parent} aside and train again.")


def pretrain(profile: Profile, run: RunDir, *, tokens_dir: str | os.PathLike | None = None,
             max_steps: int | None = None, resume: bool = True, stop_after: int | None = None,
             show_progress: bool = True, model=None) -> TrainResult:
    """Train the profile's model on the packed tokens in ``tokens_dir`` (default: the run's).

    ``max_steps`` overrides the profile's schedule length; ``stop_after`` stops the
    loop early (as a crash or a preemption would) while keeping the schedule of
    ``max_steps``, which is how the resume test interrupts a run. ``resume=False`` starts
    over: the previous checkpoints are moved aside (``checkpoints.old-N``), never deleted.
    The run folder is locked while training: a second process gets an error naming this one.

    Under ``accelerate launch`` (DDP on several GPUs, or gloo processes on a CPU) the global
    batch of a step (micro-batch x accumulation x processes) is a pure function of (seed,
    step) and each process trains on its own share; gradients are synchronised once a step,
    on the last micro-batch; the logged loss is the mean over processes; tokens/s and MFU
    count every process; only the main process writes checkpoints and metrics.
    """
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps <= 0):
        raise ConfigError(f"max_steps must be a positive number of steps, got {max_steps!r}")
    with run.lock("pretrain"):
        return _pretrain(profile, run, tokens_dir=tokens_dir, max_steps=max_steps, resume=resume,
                         stop_after=stop_after, show_progress=show_progress, model=model)


def _pretrain(profile: Profile, run: RunDir, *, tokens_dir, max_steps, resume, stop_after, show_progress,
              model, ckpt_root: Path | None = None, lr_fn=None, batch_fn=None, optimizer_fn=None,
              manifest_extra: dict | None = None, row_extra=None) -> TrainResult:
    """The loop of :func:`pretrain`. The keyword hooks let continual pretraining
    (:mod:`ttl.train.continual`) reuse it unchanged; left out, the loop is pretraining's:
    ``ckpt_root`` (default the run's checkpoints folder), ``lr_fn(step, total_steps)`` (default
    warmup + cosine), ``batch_fn(step, micro, rank, world)`` giving (x, y) (default the seeded order
    of ``tokens_dir``), ``optimizer_fn(groups, device)`` (default AdamW), ``manifest_extra`` (added to
    each checkpoint's manifest), ``row_extra(done)`` (columns added to each logged row)."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from ..model import Llama

    cfg = profile.train
    total_steps = max_steps or cfg.max_steps
    tokens_dir = Path(tokens_dir or run.tokens_dir)
    meta = read_meta(tokens_dir)
    if meta["vocab_size"] > profile.model.vocab_size:
        raise ValueError(f"the tokenizer has {meta['vocab_size']} tokens but model.vocab_size is "
                         f"{profile.model.vocab_size}; raise model.vocab_size in the profile or retrain "
                         f"the tokenizer with a smaller vocabulary")
    if cfg.seq_len > profile.model.max_seq_len:
        raise ValueError(f"train.seq_len ({cfg.seq_len}) exceeds model.max_seq_len ({profile.model.max_seq_len})")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)

    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[cfg.precision]
    log_with = available_trackers(cfg.log_with)
    fsdp_launch = launched_with_fsdp()
    with _ttl_shards_itself():
        accelerator = Accelerator(mixed_precision=mixed, cpu=not torch.cuda.is_available(),
                                  log_with=log_with or None, project_dir=str(run.root / "logs"))
    device = accelerator.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 as in the published run
        torch.backends.cudnn.allow_tf32 = True

    train_blocks = open_blocks(tokens_dir, "train", cfg.seq_len)
    val_blocks = open_blocks(tokens_dir, "val", cfg.seq_len) if meta["tokens"]["val"] > cfg.seq_len else None

    model = model if model is not None else Llama(profile.model)
    model.activation_checkpointing = cfg.activation_checkpointing
    if profile.model.use_kernels:
        from .. import kernels

        kernels.apply(model)  # the Triton RMSNorm, RoPE, SwiGLU and cross-entropy, swapped in
    ckpt_root = Path(ckpt_root) if ckpt_root is not None else run.checkpoints_dir
    start_step = 0
    trainer_state = None
    manifest = {**_checkpoint_manifest(profile, tokens_dir), **(manifest_extra or {})}
    main = accelerator.is_main_process
    world, rank = accelerator.num_processes, accelerator.process_index
    show_progress = show_progress and main
    if main and not resume and ckpt_root.exists() and any(ckpt_root.iterdir()):
        aside = move_aside(ckpt_root, "old")
        if show_progress:
            print(f"[ttl] starting over: the previous run is kept as {aside}", flush=True)
    if main and resume and ckpt_root.is_dir() and latest_checkpoint(ckpt_root, warn=False) is None \
            and any(STEP_PATTERN.fullmatch(p.name) for p in ckpt_root.iterdir()):
        # Checkpoints, but none usable (damaged, or written by an older ttl): a fresh run must
        # not mix its steps with theirs, so they are kept aside, never pruned as if they were ours.
        latest_checkpoint(ckpt_root, warn=True)
        aside = move_aside(ckpt_root, "old")
        print(f"[ttl] no intact checkpoint to resume: training from scratch; the old ones are kept as {aside}",
              flush=True)
    accelerator.wait_for_everyone()   # every process sees the same checkpoint folder
    if resume and (last := latest_checkpoint(ckpt_root, warn=main)) is not None:
        _refuse_foreign(last, manifest)
        load_model_weights(model, last)
        trainer_state = load_trainer_state(last)
        start_step = int(trainer_state["step"])
    fsdp = (cfg.fsdp or fsdp_launch) and world > 1
    if fsdp:  # FSDP2: each block's parameters split over the processes, gathered per use
        shard_model(model, reshard_after_forward=_env_flag("FSDP_RESHARD_AFTER_FORWARD", True))
    groups = model.optimizer_groups(cfg.weight_decay)
    if optimizer_fn is not None:
        optimizer = optimizer_fn(groups, device)
    else:
        optimizer = make_adamw(groups, device, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if trainer_state is not None:
        _load_optimizer_state(model, optimizer, trainer_state, fsdp, last)
        torch.set_rng_state(trainer_state["rng_cpu"])
    if fsdp:  # the model is already sharded: accelerate must not wrap it in DDP as well
        optimizer = accelerator.prepare(optimizer)
    else:
        model, optimizer = accelerator.prepare(model, optimizer)
    train_model = torch.compile(model) if cfg.compile else model

    history_path = ckpt_root / "metrics.jsonl"
    history = _read_history(history_path, start_step) if main else []
    if main:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        atomic_write_jsonl(history_path, history)  # the rows up to the resumed step, never a half-written file

    tracker = None
    if cfg.track_emissions and start_step < total_steps and main:
        from codecarbon import OfflineEmissionsTracker
        tracker = OfflineEmissionsTracker(country_iso_code=cfg.country_iso_code, log_level="error",
                                          save_to_file=False)
        tracker.start()

    if log_with:  # TensorBoard (or wandb, trackio) through accelerate; the main process writes
        accelerator.init_trackers("pretraining", config=tracker_config(profile))
    flops_per_token = accelerator.unwrap_model(model).flops_per_token(cfg.seq_len)
    peak = peak_flops(device)
    end_step = min(total_steps, stop_after) if stop_after is not None else total_steps
    checkpoint = latest_checkpoint(ckpt_root, warn=False)
    tokens_per_step = cfg.tokens_per_step * world         # every process's share of the global batch
    # The logging window is part of the state: a resume between two log rows logs the same
    # averages as a run never stopped, whatever save_every and log_every are.
    window = (trainer_state or {}).get("window") or {"loss": 0.0, "tokens": 0, "steps": 0}
    window_loss, window_tokens, window_steps = window["loss"], window["tokens"], window["steps"]
    window_start = time.perf_counter()
    bar = tqdm(range(start_step, end_step), desc="pretraining", unit="step", disable=not show_progress,
               initial=start_step, total=end_step)
    model.train()
    for step in bar:
        lr = lr_fn(step, total_steps) if lr_fn is not None else lr_at(
            step, max_lr=cfg.lr, warmup_steps=cfg.warmup_steps, max_steps=total_steps, min_lr_ratio=cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum_steps):
            if batch_fn is not None:
                x, y = batch_fn(step, micro, rank, world)
            else:
                idx = train_blocks.indices_of(global_block_start(step, micro, rank, cfg.micro_batch_size,
                                                                 cfg.grad_accum_steps, world),
                                              cfg.micro_batch_size, cfg.seed)
                x, y = train_blocks.batch(idx)
            last_micro = micro == cfg.grad_accum_steps - 1
            # Gradients are all-reduced once a step, on the last micro-batch, not on each one.
            if fsdp:
                model.set_requires_gradient_sync(last_micro)
                sync = contextlib.nullcontext()
            else:
                sync = contextlib.nullcontext() if last_micro or world == 1 else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    out = train_model(x.to(device), y.to(device), return_logits=False)
                loss = out.loss / cfg.grad_accum_steps
                accelerator.backward(loss)
            step_loss += loss.detach().float()
        if world > 1:
            step_loss = accelerator.reduce(step_loss, reduction="mean")    # the loss of the global batch
        step_loss = float(step_loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"loss became {step_loss} at step {step}; lower train.lr or use bf16 "
                                     f"instead of fp16")
        window_loss += step_loss
        window_tokens += tokens_per_step
        window_steps += 1
        done = step + 1
        # A row every log_every steps and at the end of the schedule; not where stop_after cuts
        # the run short (as a crash would), so a resumed run logs the rows of one never stopped.
        log_now = done % cfg.log_every == 0 or done == total_steps
        val_loss = None
        if log_now and val_blocks is not None and (done % cfg.eval_every == 0 or done == total_steps) and (main or fsdp):
            # Under FSDP every process takes part in each forward; otherwise only the main one
            # evaluates, on the unwrapped model (a DDP forward would wait for the others).
            val_loss = evaluate_loss(model if fsdp else accelerator.unwrap_model(model), val_blocks,
                                     cfg.micro_batch_size, cfg.eval_batches, device, accelerator.autocast)
        if log_now and main:
            elapsed = time.perf_counter() - window_start
            row = {"step": done, "loss": window_loss / window_steps, "lr": lr,
                   "tokens": done * tokens_per_step, "tokens_per_s": window_tokens / max(elapsed, 1e-9)}
            if row_extra is not None:
                row.update(row_extra(done))
            if peak:
                row["mfu"] = flops_per_token * row["tokens_per_s"] / peak
            if val_loss is not None:
                row["val_loss"] = val_loss
                row["val_ppl"] = math.exp(row["val_loss"])  # perplexity is e**loss: the loss is in nats
            history.append(row)
            with history_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            if log_with:
                accelerator.log({k: v for k, v in row.items() if k != "step"}, step=done)
            bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{row['tokens_per_s']:,.0f}")
            window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
        elif log_now:
            window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.perf_counter()
        if done % cfg.save_every == 0 or done == end_step:
            # Under FSDP the full weights and optimizer state are gathered (every process takes
            # part) and the main process writes them: the checkpoint loads into one process.
            states = gather_full_state(model, optimizer) if fsdp else {}
            if main:
                checkpoint = save_checkpoint(ckpt_root, done, accelerator.unwrap_model(model), optimizer,
                                             {"config": profile.to_dict(), "tokens_dir": str(tokens_dir),
                                              "window": {"loss": window_loss, "tokens": window_tokens,
                                                         "steps": window_steps},
                                              "optimizer_format": "fqn" if fsdp else "ids"},
                                             keep_last=cfg.keep_checkpoints, manifest=manifest, **states)
            accelerator.wait_for_everyone()   # no process runs ahead of a checkpoint being written
    bar.close()
    if log_with:
        # The trackers only: Accelerator.end_training also destroys the process group, and a caller
        # may train again in this process (ttl continue's second stage); exit releases the group.
        for logger in accelerator.trackers:
            logger.finish()
    if not main:
        checkpoint = latest_checkpoint(ckpt_root, warn=False)
    emissions = None
    if tracker is not None:
        kg = tracker.stop()
        data = tracker.final_emissions_data  # public attribute, not the private counters
        emissions = _add_emissions(ckpt_root, {"co2_kg": kg, "energy_kwh": getattr(data, "energy_consumed", None)},
                                   country=cfg.country_iso_code, steps=(start_step, total_steps))
    return TrainResult(accelerator.unwrap_model(model), checkpoint, history, emissions)


def load_trained_model(profile: Profile, run: RunDir, checkpoint: str | os.PathLike | None = None):
    """The model of the latest (or given) checkpoint of ``run``, rebuilt from the config the
    checkpoint saved (the pipeline checks beforehand that it is the profile's model)."""
    ckpt = Path(checkpoint) if checkpoint else latest_checkpoint(run.checkpoints_dir)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint in {run.checkpoints_dir}; run `ttl pretrain` first")
    return load_checkpoint_model(ckpt)
