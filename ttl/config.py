"""Typed configuration: model sizes, profiles and training settings.

A *profile* (``smoke``, ``colab``, ``ttl-160m``, ``ttl-460m``) picks every size in
the course at once. Profiles are YAML files shipped in ``ttl/configs/``; the
environment variable ``TTL_PROFILE`` selects one (default ``smoke``), and a path
to any YAML file with the same sections works too.

Every section is a dataclass whose fields are typed and range-checked when the profile
loads, so a typo in a YAML key, a number written as text or a value out of range is an
error that names the key, never a silently ignored setting or a crash mid-run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .special_tokens import BOS_ID, EOS_ID, PAD_ID

PROFILE_ENV = "TTL_PROFILE"
DEFAULT_PROFILE = "smoke"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says what to change."""


def _f(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, gt=None, ge=None, lt=None,
       le=None, choices=None) -> Any:
    """A config field with its allowed range, checked by :class:`_Section` when a profile loads."""
    meta = {k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le), ("choices", choices)) if v is not None}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class _Section:
    """Every field converted to its declared type and checked against its range on creation.

    YAML reads ``3e-3`` as a string and ``1e4`` as a string too; such values are converted
    when they are numbers, and anything that is not (``lr: abc``, ``log_every: 0``) stops with
    an error that names the key, the value and what is allowed.
    """

    section = "?"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            where = f"{self.section}.{f.name}"
            value = _coerce(getattr(self, f.name), hints[f.name], where)
            _check_range(value, f.metadata, where)
            setattr(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Checks that involve several fields (overridden by the sections that have some)."""


def _coerce(value: Any, kind: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        return _coerce(value, others[0], where) if len(others) == 1 else value
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        number = _number(value)
        if number is None or number != int(number):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(number)
    if kind is float:
        number = None if isinstance(value, bool) else _number(value)
        if number is None:
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(number)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return {_coerce(k, args[0], f"{where} key"): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _check_range(value: Any, meta: Mapping[str, Any], where: str) -> None:
    if value is None or not meta:
        return
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if "choices" in meta and v not in meta["choices"]:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, meta['choices']))}, got {v!r}")
        for op, text, ok in (("gt", "greater than", lambda a, b: a > b), ("ge", "at least", lambda a, b: a >= b),
                             ("lt", "less than", lambda a, b: a < b), ("le", "at most", lambda a, b: a <= b)):
            if op in meta and not ok(v, meta[op]):
                raise ConfigError(f"{where} must be {text} {meta[op]}, got {value!r}")


@dataclass
class ModelConfig(_Section):
    """Shape of a Llama-2-style decoder (RMSNorm, RoPE, SwiGLU, GQA)."""

    section = "model"

    vocab_size: int = _f(32000, gt=0)
    hidden_size: int = _f(768, gt=0)
    intermediate_size: int = _f(3072, gt=0)
    num_layers: int = _f(12, gt=0)
    num_heads: int = _f(12, gt=0)
    num_kv_heads: int = _f(12, gt=0)
    max_seq_len: int = _f(2048, gt=1)
    rope_theta: float = _f(10000.0, gt=0)
    rms_norm_eps: float = _f(1e-6, gt=0)
    tie_embeddings: bool = False
    initializer_range: float = _f(0.02, gt=0)
    # "sdpa" (PyTorch scaled_dot_product_attention, the default), "flash_attn" (the
    # flash-attn package, GPU only, when installed), "triton" (ttl's own tiled attention,
    # ttl.kernels.attention) or "eager" (plain matmuls, for teaching).
    attn_impl: str = _f("sdpa", choices=("sdpa", "flash_attn", "triton", "eager"))
    # Train with the Triton kernels of ttl.kernels (RMSNorm, RoPE, SwiGLU, cross-entropy):
    # the trainer swaps them in with ttl.kernels.apply(model); the model file has no branch.
    use_kernels: bool = False
    # The special tokens' ids are those of ttl.special_tokens, the one place that defines them.
    bos_token_id: int = _f(BOS_ID, ge=0)
    eos_token_id: int = _f(EOS_ID, ge=0)
    pad_token_id: int = _f(PAD_ID, ge=0)

    def check(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.hidden_size ({self.hidden_size}) must be divisible by model.num_heads "
                f"({self.num_heads}); pick a head count that divides it")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"model.num_heads ({self.num_heads}) must be a multiple of model.num_kv_heads "
                f"({self.num_kv_heads}) for grouped-query attention")
        if (self.hidden_size // self.num_heads) % 2:
            raise ConfigError("model head size (hidden_size / num_heads) must be even for RoPE")
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if getattr(self, name) >= self.vocab_size:
                raise ConfigError(f"model.{name} ({getattr(self, name)}) must be below model.vocab_size "
                                  f"({self.vocab_size})")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass
class TokenizerConfig(_Section):
    section = "tokenizer"

    # None: model.vocab_size, the one place the vocabulary size is set. A smaller value is
    # allowed (the embedding table then has unused rows); a larger one is an error.
    vocab_size: int | None = _f(None, gt=0)
    # How many characters of the corpus to train on (None: all of it).
    max_chars: int | None = _f(None, gt=0)
    byte_fallback: bool = True
    split_digits: bool = True


@dataclass
class DataConfig(_Section):
    section = "data"

    # None: the embedded sample in data/; otherwise a Hub dataset name
    # (nicholasKluge/Pt-Corpus-Instruct) or a local JSONL/parquet path.
    corpus: str | None = None
    corpus_split: str = "train"
    text_column: str = "text"
    # Stop reading the corpus after this many documents (None: all).
    max_documents: int | None = _f(None, gt=0)
    language: str = "pt"
    # The curation pipeline (a YAML path; None: the shipped ttl/data/resources/curation.yaml).
    curation: str | None = None
    # Share of packed blocks held out for validation.
    val_fraction: float = _f(0.05, ge=0, lt=1)
    # Worker processes for curating and packing the corpus: the output is byte for byte the
    # same with any number, so this is a speed setting only (it changes no digest).
    num_proc: int = _f(1, gt=0)
    # Where each task's dataset comes from, by task or dataset name (see ttl.tasks):
    # {"assin2": "my_data/assin2/", "hatebr": "owner/hatebr"}. A task not named here uses
    # the embedded sample. `--data NAME=SOURCE` on the command line adds to it.
    tasks: dict[str, str] = _f(factory=dict)


@dataclass
class TrainConfig(_Section):
    section = "train"

    # None: model.max_seq_len, the one place the context length is set; shorter is allowed.
    seq_len: int | None = _f(None, gt=1)
    micro_batch_size: int = _f(4, gt=0)
    grad_accum_steps: int = _f(1, gt=0)
    max_steps: int = _f(1000, gt=0)
    lr: float = _f(6e-4, gt=0)
    min_lr_ratio: float = _f(0.1, ge=0, le=1)
    warmup_steps: int = _f(100, ge=0)
    weight_decay: float = _f(0.01, ge=0)
    betas: tuple[float, float] = _f((0.9, 0.999), ge=0, lt=1)
    eps: float = _f(1e-8, gt=0)
    grad_clip: float = _f(1.0, ge=0)
    # "fp32", "bf16" or "fp16"; mixed precision runs through accelerate.
    precision: str = _f("fp32", choices=("fp32", "bf16", "fp16"))
    compile: bool = False
    # Recompute each block's activations in the backward pass instead of keeping them: less
    # memory (a 1.1B model on 8 GPUs), about a third more compute.
    activation_checkpointing: bool = False
    # Under `accelerate launch` with several processes: shard the weights, gradients and AdamW
    # state over them (FSDP2, full shard) instead of a full copy in each (DDP).
    fsdp: bool = False
    eval_every: int = _f(100, gt=0)
    eval_batches: int = _f(10, gt=0)
    save_every: int = _f(500, gt=0)
    log_every: int = _f(10, gt=0)
    seed: int = 1234
    num_threads: int | None = _f(None, gt=0)
    # Where the metrics go besides checkpoints/metrics.jsonl: accelerate's trackers (their
    # package must be installed; a missing one is skipped with a warning). [] for none.
    log_with: list[str] = _f(factory=lambda: ["tensorboard"], choices=("tensorboard", "wandb", "trackio"))
    # Measure energy and CO2 with CodeCarbon (its public API only).
    track_emissions: bool = False
    country_iso_code: str = "BRA"
    keep_checkpoints: int | None = _f(3, gt=0)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.micro_batch_size * self.grad_accum_steps


@dataclass
class FinetuneConfig(_Section):
    section = "finetune"

    epochs: int = _f(3, gt=0)
    batch_size: int = _f(16, gt=0)
    lr: float = _f(4e-5, gt=0)
    weight_decay: float = _f(0.01, ge=0)
    max_length: int = _f(256, gt=2)
    warmup_ratio: float = _f(0.0, ge=0, le=1)
    # Cap on training examples (None: all), drawn at random and stratified by label.
    max_train_examples: int | None = _f(None, gt=0)
    seed: int = 1234


@dataclass
class EvalConfig(_Section):
    section = "eval"

    # Cap on evaluated examples (None: all), drawn at random and stratified by label.
    max_eval_examples: int | None = _f(None, gt=0)
    num_fewshot: int | None = _f(None, ge=0)  # None: each task's published shot count


@dataclass
class SFTConfig(_Section):
    """Supervised fine-tuning on conversations (chapter 10); the defaults are the smoke values."""

    section = "sft"

    max_steps: int = _f(60, gt=0)
    batch_size: int = _f(16, gt=0)
    lr: float = _f(2e-3, gt=0)
    weight_decay: float = _f(0.0, ge=0)
    warmup_steps: int = _f(6, ge=0)
    max_length: int = _f(128, gt=2)
    grad_clip: float = _f(1.0, gt=0)
    seed: int = 1234          # chat_config gives it the profile's train.seed
    save_every: int = _f(30, gt=0)
    log_every: int = _f(10, gt=0)
    include_corpus_instructions: bool = False


@dataclass
class DPOConfig(_Section):
    """Preference tuning (DPO) from the SFT model (chapter 10); the defaults are the smoke values."""

    section = "dpo"

    beta: float = _f(0.1, gt=0)
    max_steps: int = _f(30, gt=0)
    batch_size: int = _f(8, gt=0)
    lr: float = _f(2e-4, gt=0)
    weight_decay: float = _f(0.0, ge=0)
    warmup_steps: int = _f(3, ge=0)
    max_length: int = _f(128, gt=2)
    grad_clip: float = _f(1.0, gt=0)
    seed: int = 1234
    save_every: int = _f(15, gt=0)
    log_every: int = _f(10, gt=0)


@dataclass
class ContinualStage(_Section):
    """One stage of continual pretraining (``continual.stage_1`` / ``continual.stage_2``)."""

    section = "continual.stage"

    steps: int = _f(40, gt=0)
    lr: float = _f(1e-4, gt=0)
    warmup_steps: int = _f(10, ge=0)
    # "constant" (after the warmup) or "cosine" (to min_lr_ratio * lr at the last step).
    schedule: str = _f("constant", choices=("constant", "cosine"))
    min_lr_ratio: float = _f(0.1, ge=0, le=1)
    # Decoupled decay: p <- p - weight_decay * p each step, whatever the learning rate
    # (ttl.train.continual.DecoupledAdamW); T-lite: 1e-6.
    weight_decay: float = _f(1e-6, ge=0)
    betas: tuple[float, float] = _f((0.9, 0.95), ge=0, lt=1)
    grad_clip: float = _f(1.0, ge=0)
    # Share of the blocks drawn from each source of continual.sources (they must add up to 1).
    mix: dict[str, float] = _f(factory=lambda: {"new": 0.85, "replay": 0.15})

    def check(self) -> None:
        if not self.mix or any(v < 0 for v in self.mix.values()) or abs(sum(self.mix.values()) - 1) > 1e-6:
            raise ConfigError(f"{self.section}.mix must give each source a share >= 0, adding up to 1; "
                              f"got {self.mix}")


def _stage_2() -> ContinualStage:
    return ContinualStage(steps=20, lr=1e-4, warmup_steps=0, schedule="cosine", mix={"new": 0.7, "replay": 0.3})


@dataclass
class PublishedConfig(_Section):
    """A released model in place of the run's own (chapters 6-9 on Colab with the real thing).

    ``model`` is a Hub name (``nicholasKluge/TeenyTinyLlama-160m``) or a local folder with the
    same layout (config.json, model.safetensors, the tokenizer); ``revision`` a branch, tag or
    commit (pin a commit so that a class sees one model; the cards list the branches that hold
    intermediate checkpoints).
    With a model set nothing is pretrained: the run adopts its tokenizer, and generation,
    evaluation and fine-tuning load it through the loaders an export of our own goes through
    (ttl.model.published).
    """

    section = "published"

    model: str | None = None
    revision: str | None = None


@dataclass
class ContinualConfig(_Section):
    """Continual pretraining into a new language (``ttl continue``), T-lite's recipe.

    T-lite (stage 1: 85% new language, 15% replay, constant LR 1e-5 after 10 warmup steps,
    AdamW betas 0.9/0.95, decoupled weight decay 1e-6, clipping 1.0; stage 2: a smaller,
    cleaner mix, cosine schedule). The defaults keep the shares, betas, decay, clipping and
    schedules, scaled to smoke size: tens of steps, and a larger LR (1e-4) since a tiny model
    trained for seconds moves little at 1e-5.
    """

    section = "continual"

    # Source name -> a packed token folder (with meta.json), a corpus (JSONL/parquet path or
    # Hub name) packed with the run's tokenizer, or "run": the --from run's own token files.
    # "sample:<code>" is the embedded sample of that language.
    sources: dict[str, str] = _f(factory=lambda: {"new": "sample:es", "replay": "run"})
    max_documents: int | None = _f(None, gt=0)   # per corpus source, when packing it
    stage_1: ContinualStage = _f(factory=ContinualStage)
    stage_2: ContinualStage = _f(factory=_stage_2)

    def __post_init__(self) -> None:
        defaults = {"stage_1": ContinualStage, "stage_2": _stage_2}
        for name in ("stage_1", "stage_2"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                # The keys a profile gives replace that stage's defaults (stage 2's are its own:
                # cosine, no warmup, 70/30), not those of a bare ContinualStage.
                base = dataclasses.asdict(defaults[name]())
                if "mix" in value:
                    base.pop("mix")
                setattr(self, name, _build(ContinualStage, {**base, **value}, f"continual.{name}"))
            elif not isinstance(value, ContinualStage):
                raise ConfigError(f"continual.{name} must be a mapping of stage settings, got {value!r}")
        super().__post_init__()

    def check(self) -> None:
        for name in ("stage_1", "stage_2"):
            unknown = sorted(set(getattr(self, name).mix) - set(self.sources))
            if unknown:
                raise ConfigError(f"continual.{name}.mix names {unknown}, which continual.sources does not "
                                  f"define (it has {sorted(self.sources)})")


@dataclass
class Profile:
    name: str
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    continual: ContinualConfig = field(default_factory=ContinualConfig)
    published: PublishedConfig = field(default_factory=PublishedConfig)

    def __post_init__(self) -> None:
        # One source for the vocabulary size and the context length: the model's.
        m = self.model
        if self.tokenizer.vocab_size is None:
            self.tokenizer.vocab_size = m.vocab_size
        elif self.tokenizer.vocab_size > m.vocab_size:
            raise ConfigError(f"tokenizer.vocab_size ({self.tokenizer.vocab_size}) is larger than model.vocab_size "
                              f"({m.vocab_size}); leave tokenizer.vocab_size out to use the model's")
        if self.train.seq_len is None:
            self.train.seq_len = m.max_seq_len
        elif self.train.seq_len > m.max_seq_len:
            raise ConfigError(f"train.seq_len ({self.train.seq_len}) exceeds model.max_seq_len ({m.max_seq_len}); "
                              "leave train.seq_len out to train at the model's context length")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        m, t, p = self.model, self.train, self.published
        if p.model:   # its shape is that of its own config.json; nothing is pretrained
            at = f" at {p.revision}" if p.revision else ""
            model_lines = f"  model   published: {p.model}{at} (its own shape and tokenizer)\n"
        else:
            model_lines = (f"  model   hidden {m.hidden_size}, layers {m.num_layers}, heads {m.num_heads}/"
                           f"{m.num_kv_heads}, vocab {m.vocab_size}, context {m.max_seq_len}\n"
                           f"  train   {t.max_steps} steps x {t.tokens_per_step:,} tokens, lr {t.lr}, "
                           f"{t.precision}\n")
        return (f"profile {self.name!r}: {self.description}\n" + model_lines +
                f"  corpus  {self.data.corpus or 'embedded sample (data/)'}\n"
                + "".join(f"  {name:7s} {source}\n" for name, source in self.data.tasks.items()) +
                f"  switch with: export {PROFILE_ENV}=colab (or smoke, ttl-160m, ttl-460m, "
                "published-160m) before starting Python")


_SECTIONS = {"model": ModelConfig, "tokenizer": TokenizerConfig, "data": DataConfig,
             "train": TrainConfig, "finetune": FinetuneConfig, "eval": EvalConfig, "sft": SFTConfig,
             "dpo": DPOConfig, "continual": ContinualConfig, "published": PublishedConfig}


def _build(cls: type, values: dict[str, Any] | None, where: str):
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in section '{where}'; known keys: {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as exc:  # wrong type that the dataclass could not take
        raise ConfigError(f"invalid value in section '{where}': {exc}") from exc


def profile_from_dict(raw: dict[str, Any], name: str | None = None) -> Profile:
    if not isinstance(raw, dict):
        raise ConfigError("a profile must be a YAML mapping with sections model, tokenizer, data, train, ...")
    raw = dict(raw)
    pname = raw.pop("name", name) or "custom"
    desc = raw.pop("description", "")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; a profile has: {sorted(_SECTIONS)}")
    parts = {key: _build(cls, raw.get(key), key) for key, cls in _SECTIONS.items()}
    return Profile(name=pname, description=desc, **parts)


def with_data_sources(profile: Profile, assignments: list[str] | None) -> Profile:
    """The profile with ``NAME=SOURCE`` assignments (``--data``) added to its data sources.

    ``corpus=SOURCE`` sets ``data.corpus``; any other name is a task or dataset of
    :mod:`ttl.tasks` and goes to ``data.tasks``.
    """
    if not assignments:
        return profile
    from .tasks import TaskError, get_dataset

    data = dataclasses.replace(profile.data, tasks=dict(profile.data.tasks))
    for item in assignments:
        name, sep, source = item.partition("=")
        if not sep or not name.strip() or not source.strip():
            raise ConfigError(f"--data takes NAME=SOURCE (e.g. hatebr=my_data/hatebr/, or a Hub name: assin2=owner/name), "
                              f"got {item!r}")
        name, source = name.strip(), source.strip()
        if name == "corpus":
            data.corpus = source
            continue
        try:
            data.tasks[get_dataset(name).name] = source
        except TaskError as exc:
            raise ConfigError(f"--data {item}: {exc}") from None
    return dataclasses.replace(profile, data=data)


def available_profiles() -> list[str]:
    folder = resources.files("ttl") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_profile(choice: str, seen: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The raw mapping of profile ``choice`` with its ``extends`` chain merged in, and its name."""
    path = Path(choice)
    if choice.endswith((".yaml", ".yml")):
        if not path.is_file():
            raise ConfigError(f"profile file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        name = path.stem
    else:
        names = available_profiles()
        if choice not in names:
            raise ConfigError(f"unknown profile {choice!r}; choose one of {names} or give a path to a YAML file "
                              f"(set it with {PROFILE_ENV}=... or --profile ...)")
        text = (resources.files("ttl") / "configs" / f"{choice}.yaml").read_text(encoding="utf-8")
        name = choice
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {choice!r} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"profile {choice!r} must be a YAML mapping of sections")
    base = raw.pop("extends", None)
    if base is None:
        return raw, name
    base = str(base)
    if path.suffix in (".yaml", ".yml") and base.endswith((".yaml", ".yml")) and not Path(base).is_absolute():
        base = str(path.parent / base)  # a base file named relative to the profile that extends it
    key = str(Path(choice).resolve()) if choice.endswith((".yaml", ".yml")) else choice
    base_key = str(Path(base).resolve()) if base.endswith((".yaml", ".yml")) else base
    if base_key in seen + (key,):
        raise ConfigError(f"profile {choice!r}: 'extends: {base}' makes a loop")
    merged, _ = _read_profile(base, seen + (key,))
    for own in ("name", "description"):  # these describe the base, not this profile
        merged.pop(own, None)
    for section, values in raw.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged, name


def load_profile(name_or_path: str | os.PathLike | None = None, **overrides: Any) -> Profile:
    """Load a profile by name (``smoke``...), by YAML path, or from ``TTL_PROFILE``.

    A profile may start from another with ``extends: <name or path>``: its sections'
    keys replace the base's (``smoke-es`` is ``smoke`` with ``data.language: es``).
    ``overrides`` replace whole sections' keys, e.g. ``train={"max_steps": 10}``; a dotted key
    sets one setting inside a nested one and keeps the rest, e.g.
    ``continual={"stage_1.steps": 40}`` (``--set continual.stage_1.steps=40``).
    """
    choice = name_or_path if name_or_path is not None else os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    raw, name = _read_profile(str(choice).strip(), seen=())
    for section, values in overrides.items():
        if section not in _SECTIONS:
            raise ConfigError(f"cannot override unknown section {section!r}")
        target = raw.setdefault(section, {})
        for key, value in values.items():
            *path, leaf = key.split(".")
            node = target
            for part in path:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                elif not isinstance(child, dict):
                    raise ConfigError(f"{section}.{key}: {section}.{part} is {child!r}, not a group of "
                                      "settings, so it has no setting of that name")
                node = child
            node[leaf] = value
    return profile_from_dict(raw, name=name)
