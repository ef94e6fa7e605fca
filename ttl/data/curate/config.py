"""The curation config: which steps run, in which order, with which thresholds.

Loaded from YAML (default: ``ttl/data/resources/curation.yaml``). Every step
entry is ``{name: <step>, ...its settings}``; an unknown step or key is an
error that lists the valid ones, so a typo never switches a filter off.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ttl.config import ConfigError
from ttl.resources import language_resources, missing_warning

from .base import Step, check_keys
from .dedup import ExactDedup
from .langid import LanguageFilter
from .lines import LineFilter
from .minhash import NearDedup
from .normalize import Normalize
from .pii import PIIMasker
from .quality import QualityFilter
from .resources import default_config_path
from .toxicity import ToxicityFilter

STEP_TYPES: dict[str, type[Step]] = {cls.name: cls for cls in (
    Normalize, LineFilter, LanguageFilter, QualityFilter, ToxicityFilter, PIIMasker, ExactDedup, NearDedup)}

_READER_KEYS = {"text_column", "metadata_column", "hub_split", "max_documents"}
_WRITER_KEYS = {"formats", "shard_size"}
_REPORT_KEYS = {"max_modifications", "snippet_chars"}
_REPORT_DEFAULTS = {"max_modifications": 10_000, "snippet_chars": 300}


@dataclass
class CurationConfig:
    language: str = "pt"
    on_error: str = "skip"           # skip: report bad input and go on; stop: raise at the first one
    num_proc: int = 1                # worker processes for the stateless steps
    batch_size: int = 1000           # documents read and processed together
    reader: dict[str, Any] = field(default_factory=lambda: {"text_column": "text", "metadata_column": "metadata",
                                                            "hub_split": "train", "max_documents": None})
    writer: dict[str, Any] = field(default_factory=lambda: {"formats": ["jsonl"], "shard_size": 10_000})
    # The log of modifications beside the report: how many repairs it lists (all are counted),
    # and how many characters of text it keeps on each side of one (before, after).
    report: dict[str, Any] = field(default_factory=lambda: dict(_REPORT_DEFAULTS))
    steps: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_error not in ("skip", "stop"):
            raise ConfigError(f"on_error must be 'skip' or 'stop', got {self.on_error!r}")
        if int(self.num_proc) < 1 or int(self.batch_size) < 1:
            raise ConfigError("num_proc and batch_size must be positive integers")
        check_keys("reader", self.reader, _READER_KEYS)
        check_keys("writer", self.writer, _WRITER_KEYS)
        check_keys("report", self.report, _REPORT_KEYS)
        self.report = {**_REPORT_DEFAULTS, **self.report}
        if int(self.report["max_modifications"]) < 0 or int(self.report["snippet_chars"]) < 1:
            raise ConfigError("report.max_modifications must be >= 0 and report.snippet_chars >= 1")
        self.reader = {"text_column": "text", "metadata_column": "metadata", "hub_split": "train",
                       "max_documents": None, **self.reader}
        self.writer = {"formats": ["jsonl"], "shard_size": 10_000, **self.writer}
        if not isinstance(self.steps, list):
            raise ConfigError("steps must be a list of {name: ..., settings...} entries")
        for entry in self.steps:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ConfigError(f"each step needs a 'name' (one of {sorted(STEP_TYPES)}), got {entry!r}")
            if entry["name"] not in STEP_TYPES:
                raise ConfigError(f"unknown curation step {entry['name']!r}; known steps: {sorted(STEP_TYPES)}")

    def step(self, name: str) -> dict[str, Any]:
        """The settings of the step called ``name`` (for edits in a notebook)."""
        for entry in self.steps:
            if entry["name"] == name:
                return entry
        raise KeyError(f"no step {name!r} in this config; steps: {[s['name'] for s in self.steps]}")

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dataclasses.asdict(self))


def build_step(entry: dict[str, Any], language: str) -> Step:
    """Instantiate one step from its config entry (language is inherited when the step takes one)."""
    cls = STEP_TYPES[entry["name"]]
    settings = {k: v for k, v in entry.items() if k not in ("name", "enabled")}
    allowed = {f.name for f in dataclasses.fields(cls)}
    check_keys(entry["name"], settings, allowed)
    if "language" in allowed:
        settings.setdefault("language", language)
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ConfigError(f"invalid settings for curation step {entry['name']!r}: {exc}") from exc


def build_steps(config: CurationConfig) -> list[Step]:
    """The enabled steps; one warning when the language lacks resource files (the steps run without them)."""
    steps = [build_step(entry, config.language) for entry in config.steps if entry.get("enabled", True)]
    missing_warning(language_resources(config.language))
    return steps


def load_curation_config(source: str | Path | dict | CurationConfig | None = None, **overrides: Any
                         ) -> CurationConfig:
    """A CurationConfig from a YAML path, a dict, an existing config (copied) or None (the default file)."""
    if isinstance(source, CurationConfig):
        raw = source.to_dict()
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        path = Path(source).expanduser() if source is not None else default_config_path()
        if not path.is_file():
            raise ConfigError(f"curation config {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"curation config {path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"curation config {path} must be a YAML mapping")
    raw.update(overrides)
    allowed = {f.name for f in dataclasses.fields(CurationConfig)}
    check_keys("top level", raw, allowed)
    return CurationConfig(**raw)
