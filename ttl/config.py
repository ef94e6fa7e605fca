"""Typed configuration: model sizes, profiles and training settings.

A *profile* (``smoke``, ``colab``, ``ttl-160m``, ``ttl-460m``) picks every size in
the course at once. Profiles are YAML files shipped in ``ttl/configs/``; the
environment variable ``TTL_PROFILE`` selects one (default ``smoke``), and a path
to any YAML file with the same sections works too.

Every section is a frozen-ish dataclass so that a typo in a YAML key is an
error that names the key, never a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

PROFILE_ENV = "TTL_PROFILE"
DEFAULT_PROFILE = "smoke"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says what to change."""


@dataclass
class ModelConfig:
    """Shape of a Llama-2-style decoder (RMSNorm, RoPE, SwiGLU, GQA)."""

    vocab_size: int = 32000
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    num_kv_heads: int = 12
    max_seq_len: int = 2048
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    tie_embeddings: bool = False
    initializer_range: float = 0.02
    # "sdpa" (PyTorch scaled_dot_product_attention, the default), "flash"
    # (flash-attn, GPU only, when installed) or "eager" (plain matmuls, for teaching).
    attn_impl: str = "sdpa"
    # Use the Triton kernels of ttl.kernels (RMSNorm, RoPE, SwiGLU, cross-entropy).
    use_kernels: bool = False
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 3

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers",
                     "num_heads", "num_kv_heads", "max_seq_len"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"model.{name} must be a positive integer, got {getattr(self, name)!r}")
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
        if self.attn_impl not in ("sdpa", "flash", "eager"):
            raise ConfigError(f"model.attn_impl must be 'sdpa', 'flash' or 'eager', got {self.attn_impl!r}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass
class TokenizerConfig:
    vocab_size: int = 32000
    # How many characters of the corpus to train on (None: all of it).
    max_chars: int | None = None
    byte_fallback: bool = True
    split_digits: bool = True


@dataclass
class DataConfig:
    # None: the embedded sample in data/; otherwise a Hub dataset name
    # (nicholasKluge/Pt-Corpus-Instruct) or a local JSONL/parquet path.
    corpus: str | None = None
    corpus_split: str = "train"
    text_column: str = "text"
    # Stop reading the corpus after this many documents (None: all).
    max_documents: int | None = None
    language: str = "pt"
    # Share of packed blocks held out for validation.
    val_fraction: float = 0.05
    # Where each task's dataset comes from, by task or dataset name (see ttl.tasks):
    # {"assin2": "nilc-nlp/assin2", "hatebr": "my_data/hatebr/"}. A task not named here uses
    # the embedded sample. `--data NAME=SOURCE` on the command line adds to it.
    tasks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tasks, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in self.tasks.items()):
            raise ConfigError(f"data.tasks must map task names to sources (a path or a Hub name), got "
                              f"{self.tasks!r}")
        if not 0 <= float(self.val_fraction) < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}")


@dataclass
class TrainConfig:
    seq_len: int = 2048
    micro_batch_size: int = 4
    grad_accum_steps: int = 1
    max_steps: int = 1000
    lr: float = 6e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0
    # "fp32", "bf16" or "fp16"; mixed precision runs through accelerate.
    precision: str = "fp32"
    compile: bool = False
    eval_every: int = 100
    eval_batches: int = 10
    save_every: int = 500
    log_every: int = 10
    seed: int = 1234
    num_threads: int | None = None
    # Measure energy and CO2 with CodeCarbon (its public API only).
    track_emissions: bool = False
    country_iso_code: str = "BRA"
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # YAML gives a list
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"train.precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.max_steps <= 0 or self.micro_batch_size <= 0 or self.seq_len <= 1:
            raise ConfigError("train.max_steps, train.micro_batch_size must be positive and train.seq_len > 1")

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.micro_batch_size * self.grad_accum_steps


@dataclass
class FinetuneConfig:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 4e-5
    weight_decay: float = 0.01
    max_length: int = 256
    warmup_ratio: float = 0.0
    # Cap on training examples (None: all), so a smoke run stays short.
    max_train_examples: int | None = None
    seed: int = 1234


@dataclass
class EvalConfig:
    max_eval_examples: int | None = None
    num_fewshot: int | None = None  # None: each task's published shot count


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        m, t = self.model, self.train
        return (f"profile {self.name!r}: {self.description}\n"
                f"  model   hidden {m.hidden_size}, layers {m.num_layers}, heads {m.num_heads}/{m.num_kv_heads}, "
                f"vocab {m.vocab_size}, context {m.max_seq_len}\n"
                f"  train   {t.max_steps} steps x {t.tokens_per_step:,} tokens, lr {t.lr}, {t.precision}\n"
                f"  corpus  {self.data.corpus or 'embedded sample (data/)'}\n"
                + "".join(f"  {name:7s} {source}\n" for name, source in self.data.tasks.items()) +
                f"  switch with: export {PROFILE_ENV}=colab (or smoke, ttl-160m, ttl-460m) before starting Python")


_SECTIONS = {"model": ModelConfig, "tokenizer": TokenizerConfig, "data": DataConfig,
             "train": TrainConfig, "finetune": FinetuneConfig, "eval": EvalConfig}


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


def load_profile(name_or_path: str | os.PathLike | None = None, **overrides: Any) -> Profile:
    """Load a profile by name (``smoke``...), by YAML path, or from ``TTL_PROFILE``.

    ``overrides`` replace whole sections' keys, e.g. ``train={"max_steps": 10}``.
    """
    choice = name_or_path if name_or_path is not None else os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    choice = str(choice).strip()
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
    for section, values in overrides.items():
        if section not in _SECTIONS:
            raise ConfigError(f"cannot override unknown section {section!r}")
        raw.setdefault(section, {}).update(values)
    return profile_from_dict(raw, name=name)
