"""Continual pretraining into a new language (``ttl continue``): T-lite's two-stage recipe.

From a pretrained checkpoint, train on a *mix* of sources (the new language and replay of the
old corpus, 85/15 in T-lite's stage 1), in two stages, each with its own schedule (constant
after warmup, then cosine), mix, and decoupled weight decay. The loop is pretraining's own
(:func:`ttl.train.loop._pretrain`, through its hooks), so checkpoints, metrics, locking and
exact resume are the same; each stage writes ``RUN/continual/stage_N/`` (checkpoints,
``checkpoints/metrics.jsonl``), and its checkpoints' manifests name the checkpoint the stage started from.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, ModelConfig, Profile
from ..data.packing import TokenBlocks, open_blocks, read_meta
from ..runs import RunDir
from ..model.resize import extend_embeddings
from .checkpoint import latest_checkpoint, load_checkpoint_model
from .loop import TrainResult, _pretrain, global_block_start, main_process_first
from .schedule import stage_lr

STAGES = ("stage_1", "stage_2")
SAMPLE_PREFIX = "sample:"   # a source "sample:es" is the embedded sample of that language
# The fractional part of the golden ratio: the Weyl sequence frac(k * PHI + offset) fills [0, 1)
# more evenly than random draws, so the realised shares are within O(log n / n) of the set ones.
_PHI = (math.sqrt(5) - 1) / 2


_DECAY_KEY = "lr_free_weight_decay"


class DecoupledAdamW(torch.optim.AdamW):
    """AdamW whose weight decay does not follow the learning rate (Loshchilov & Hutter's
    "decoupled" decay, as T-lite uses it with weight decay 1e-6).

    Each step, for a parameter ``p`` of a group with ``lr_free_weight_decay = wd``::

        p <- p - wd * p - lr_t * adam_update(grad)

    where ``torch.optim.AdamW`` applies ``p <- p - lr_t * wd * p``: its decay shrinks with the
    schedule (and is 1e-5 times smaller at lr 1e-5). The Adam part is PyTorch's AdamW (fused
    where it can) with its own decay set to 0; the decay is applied before it, on the
    parameters the gradients were computed at. The setting lives in the param groups, so it is
    saved and restored with the optimizer state.
    """

    def __init__(self, params, *, weight_decay: float = 0.0, **hyper):
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            # Not "decoupled_weight_decay": torch's Adam has a boolean option of that name, which it
            # sets to True in every group when an optimizer state is loaded (accelerate's prepare
            # does load one), and 1 - True would zero every weight.
            group.setdefault(_DECAY_KEY, float(group.pop("weight_decay", weight_decay)))
            group["weight_decay"] = 0.0
        super().__init__(groups, weight_decay=0.0, **hyper)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:  # the gradients must exist before the weights are decayed
            with torch.enable_grad():
                closure()
        for group in self.param_groups:
            wd = group.get(_DECAY_KEY, 0.0)
            if wd:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - wd)
        return super().step()


def make_decoupled_adamw(groups, device, *, lr: float, betas, eps: float) -> DecoupledAdamW:
    fused = torch.device(device).type in ("cuda", "cpu")
    return DecoupledAdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


class MixedBlocks:
    """Blocks drawn from several :class:`TokenBlocks` by share, a pure function of (seed, position).

    Position ``k`` of the global order (the same positions as pretraining's, see
    ``global_block_start``) goes to the source whose interval of cumulative shares holds
    ``frac((k + 1) * PHI + offset(seed))``, and takes position ``k`` of that source's own seeded
    order (each source a fresh permutation per epoch, as in pretraining). So a resumed run, or one
    with another number of processes, draws exactly the same blocks.
    """

    def __init__(self, sources: dict[str, TokenBlocks], shares: dict[str, float], seed: int):
        missing = sorted(set(shares) - set(sources))
        if missing:
            raise ConfigError(f"the mix names {missing}, which are not among the sources {sorted(sources)}")
        self.names = [n for n, s in shares.items() if s > 0]
        if not self.names:
            raise ConfigError("the mix gives no source a share above 0")
        total = sum(shares[n] for n in self.names)
        self.shares = {n: shares[n] / total for n in self.names}
        self.bounds = np.cumsum([self.shares[n] for n in self.names])
        self.bounds[-1] = 1.0
        self.sources, self.seed = sources, seed
        self.offset = (seed * _PHI * 7919) % 1.0

    def source_of(self, positions) -> np.ndarray:
        """Index (into ``names``) of the source of each global position."""
        k = np.asarray(positions, dtype=np.float64)
        u = np.mod((k + 1) * _PHI + self.offset, 1.0)
        return np.searchsorted(self.bounds, u, side="right").clip(max=len(self.names) - 1)

    def batch(self, start: int, count: int):
        which = self.source_of(np.arange(start, start + count))
        blocks = []
        for k, i in zip(range(start, start + count), which):
            name = self.names[int(i)]
            src = self.sources[name]
            blocks.append(src.block(src.indices_of(k, 1, self.seed + 101 * (int(i) + 1))[0]))
        data = torch.from_numpy(np.stack(blocks))
        return data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def realised(self, positions: int) -> dict[str, float]:
        """The share of each source among the first ``positions`` global positions."""
        counts = np.bincount(self.source_of(np.arange(positions)), minlength=len(self.names))
        return {n: float(c) / max(positions, 1) for n, c in zip(self.names, counts)}


def _resolve_source(name: str, spec: str, *, base_run: RunDir, out_root: Path, tokenizer, profile: Profile,
                    seed: int) -> Path:
    """The packed token folder of one source: as given, the base run's, or a corpus packed now."""
    if spec == "run":
        folder = base_run.tokens_dir
        if not (folder / "meta.json").is_file():
            raise FileNotFoundError(f"source {name!r} is 'run' but {base_run.root} has no packed tokens; "
                                    f"run `ttl pretrain --out {base_run.root}` first")
        return folder
    path = Path(spec)
    if path.is_dir() and (path / "meta.json").is_file():
        return path
    from ..data.loaders import corpus_texts, load_corpus
    from ..data.packing import pack_documents

    if tokenizer is None:
        raise ConfigError(f"source {name!r} is a corpus ({spec}); packing it needs the tokenizer")
    from ..manifest import digest_tokenizer

    # One folder per tokenizer: packing again with another (extended) tokenizer never reuses ids of the first.
    folder = out_root / "tokens" / f"{name}-{digest_tokenizer(tokenizer)[:12]}"
    if not (folder / "meta.json").is_file():
        cc = profile.continual
        if spec.startswith(SAMPLE_PREFIX):   # the embedded sample of a language, wherever ttl runs from
            corpus = load_corpus(None, language=spec[len(SAMPLE_PREFIX):], max_documents=cc.max_documents)
        else:
            corpus = load_corpus(spec, max_documents=cc.max_documents)
        texts = corpus_texts(corpus, max_documents=cc.max_documents)
        pack_documents(texts, tokenizer, folder, val_fraction=profile.data.val_fraction, seed=seed,
                       show_progress=False, manifest={"inputs": {"corpus": str(spec)}})
    return folder


def _fit_tokenizer(model, model_config: ModelConfig, tokenizer, base_tokenizer):
    """The model, grown to the tokenizer's vocabulary if an extended tokenizer is given."""
    if tokenizer is None or len(tokenizer) <= model_config.vocab_size:
        return model, model_config
    if base_tokenizer is None:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens and the checkpoint {model_config.vocab_size}: "
                          "growing the embeddings to an extended tokenizer needs the base tokenizer too")
    model = extend_embeddings(model, base_tokenizer, tokenizer)
    return model, dataclasses.replace(model_config, vocab_size=model.config.vocab_size)


def continue_pretraining(profile: Profile, run: RunDir, *, from_checkpoint: str | os.PathLike,
                         tokenizer=None, base_tokenizer=None, stages=STAGES, stop_after: int | None = None,
                         show_progress: bool = True, source_dirs: dict[str, str | os.PathLike] | None = None,
                         base_run: RunDir | None = None) -> dict[str, TrainResult]:
    """Continue pretraining the model of ``from_checkpoint`` through ``stages`` of ``profile.continual``.

    ``run``: where ``continual/stage_N`` goes. ``source_dirs`` overrides sources by name with packed
    token folders; ``base_run`` (default the run holding ``from_checkpoint``) is what "run" sources
    mean. Stage 1 starts from ``from_checkpoint``; stage 2 from stage 1's last checkpoint, with a
    fresh optimizer (its schedule and mix are its own). ``stop_after`` stops the stage being run at
    that step (as a crash would); calling again resumes it exactly. Returns each stage's result.
    """
    cc = profile.continual
    from_checkpoint = Path(from_checkpoint)
    if not (from_checkpoint / "model.safetensors").is_file():
        found = latest_checkpoint(from_checkpoint / "checkpoints", warn=False) if from_checkpoint.is_dir() else None
        if found is None:
            raise FileNotFoundError(f"{from_checkpoint} is not a checkpoint (no model.safetensors) nor a run "
                                    f"with one; pretrain first (`ttl pretrain`)")
        from_checkpoint = found
    base_run = base_run or RunDir(from_checkpoint.parent.parent)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; choose among {list(STAGES)}")
    out_root = run.root / "continual"
    results: dict[str, TrainResult] = {}
    start = from_checkpoint
    with run.lock("continue"):
        for name in STAGES:
            if name not in stages:
                prev = latest_checkpoint(out_root / name / "checkpoints", warn=False)
                start = prev or start
                continue
            stage = getattr(cc, name)
            model = load_checkpoint_model(start)
            model_config = model.config
            model, model_config = _fit_tokenizer(model, model_config, tokenizer, base_tokenizer)
            train = dataclasses.replace(profile.train, max_steps=stage.steps, lr=stage.lr,
                                        warmup_steps=stage.warmup_steps, min_lr_ratio=stage.min_lr_ratio,
                                        weight_decay=stage.weight_decay, betas=stage.betas,
                                        grad_clip=stage.grad_clip)
            # The checkpoint's model and the tokenizer in use describe this run, not the profile's sizes.
            tok_cfg = dataclasses.replace(profile.tokenizer, vocab_size=len(tokenizer) if tokenizer is not None
                                          else model_config.vocab_size)
            prof = dataclasses.replace(profile, model=model_config, tokenizer=tok_cfg, train=train)
            dirs = {}
            with main_process_first():  # under accelerate launch one process packs, the others read
                for src in stage.mix:
                    given = (source_dirs or {}).get(src)
                    dirs[src] = Path(given) if given else _resolve_source(
                        src, cc.sources[src], base_run=base_run, out_root=out_root, tokenizer=tokenizer,
                        profile=profile, seed=train.seed)
            for src, folder in dirs.items():
                vocab = read_meta(folder)["vocab_size"]
                if vocab > model_config.vocab_size:
                    raise ConfigError(f"source {src!r} ({folder}) was packed with {vocab} tokens but the model "
                                      f"has {model_config.vocab_size}; pack it with the model's tokenizer")
            blocks = {src: open_blocks(folder, "train", train.seq_len) for src, folder in dirs.items()}
            mix = MixedBlocks(blocks, stage.mix, train.seed)
            per_step = train.micro_batch_size * train.grad_accum_steps

            def batch_fn(step, micro, rank, world, mix=mix, train=train):
                first = global_block_start(step, micro, rank, train.micro_batch_size, train.grad_accum_steps, world)
                return mix.batch(first, train.micro_batch_size)

            def lr_fn(step, total, stage=stage):
                return stage_lr(step, schedule=stage.schedule, max_lr=stage.lr, warmup_steps=stage.warmup_steps,
                                max_steps=total, min_lr_ratio=stage.min_lr_ratio)

            def row_extra(done, mix=mix, per_step=per_step):
                # Every process's positions: world 1 here; under accelerate the shares are the same
                # function of the global positions (per_step * world of them per step).
                return {f"share_{n}": v for n, v in mix.realised(done * per_step).items()}

            def optimizer_fn(groups, device, train=train):
                return make_decoupled_adamw(groups, device, lr=train.lr, betas=train.betas, eps=train.eps)

            primary = dirs[max(stage.mix, key=stage.mix.get)]   # its validation split is the logged val_loss
            results[name] = _pretrain(
                prof, run, tokens_dir=primary, max_steps=stage.steps, resume=True, stop_after=stop_after,
                show_progress=show_progress, model=model, ckpt_root=out_root / name / "checkpoints",
                lr_fn=lr_fn, batch_fn=batch_fn, optimizer_fn=optimizer_fn, row_extra=row_extra,
                manifest_extra={"from_checkpoint": str(start), "continual_stage": name,
                                "mix": {src: {"share": stage.mix[src], "tokens": str(d)} for src, d in dirs.items()}})
            if stop_after is not None and stop_after < stage.steps:
                break
            start = results[name].checkpoint
    return results


def perplexity_by_language(model, tokenizer, texts_by_language: dict[str, list[str]], *,
                           max_length: int | None = None) -> dict[str, dict[str, float]]:
    """Perplexity (and bits per byte) of ``model`` on each language's texts: {language: figures}.

    The table of a continual-pretraining chapter: call it on the base model, after stage 1,
    after stage 2, and on a model trained from scratch on the same new-language tokens.
    """
    from ..eval.perplexity import text_perplexity

    if not texts_by_language:
        raise ValueError("give at least one language with texts, e.g. {'pt': [...], 'es': [...]}")
    return {lang: text_perplexity(model, tokenizer, texts, max_length=max_length)
            for lang, texts in texts_by_language.items()}
