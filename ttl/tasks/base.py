"""What a task is: its data (Hub name, columns, splits), its labels, its classifier input, its
few-shot prompt and its metric, declared once.

A *dataset* (:class:`DatasetSpec`) is what the loaders read: Assin2 is one dataset that two
tasks use (entailment and similarity). A *task* (:class:`Task`) is what fine-tuning and
evaluation do with it. Each task lives in its own module of ``ttl.tasks`` and registers
itself with :func:`register`; nothing else in ``ttl`` names a column, a label or a prompt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datasets import Features

SPLITS = ("train", "validation", "test")
KINDS = ("classification", "regression", "corpus")


class TaskError(ValueError):
    """An unknown task name, or a task declared inconsistently."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from and what its rows look like.

    ``name`` is the key of ``--data NAME=...`` and of ``data.tasks`` in a profile, and the
    folder of the embedded sample (``data/<name>/``). ``features`` are the Hub dataset's
    columns and dtypes as far as the course knows them; only ``required`` columns must be
    present, the others are cast when they are there and may be missing.
    """

    name: str
    hub_name: str
    features: Features
    required: tuple[str, ...]
    splits: tuple[str, ...] = SPLITS
    hub_revision: str | None = None
    hub_config: str | None = None
    # The column a labelled dataset is stratified by when it is split or subsampled.
    label_column: str | None = None
    # Columns of text that must not be empty (a row without them is dropped with a warning).
    text_columns: tuple[str, ...] = ()
    # Allowed range of the label column: a number of classes, or (low, high) for a score.
    label_range: int | tuple[float, float] | None = None
    # The embedded sample's file for each split, relative to ``data/``.
    sample_files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in self.required if c not in self.features]
        if missing:
            raise TaskError(f"dataset {self.name!r}: required column(s) {missing} are not among its features")

    @property
    def hub_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.hub_config:
            kwargs["name"] = self.hub_config
        if self.hub_revision:
            kwargs["revision"] = self.hub_revision
        return kwargs


def fold(text: str) -> str:
    """Lower case without accents: "Não" and "nao" are the same answer."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def parse_choice(answer: str, choices: dict[int, str]) -> int | None:
    """The label whose answer word starts the generated text ("Sim, ..." -> the label of " Sim")."""
    words = re.findall(r"\w+", fold(answer))
    if not words:
        return None
    for label, text in choices.items():
        if fold(text).split() and words[0] == fold(text).split()[0]:
            return label
    return None


def parse_number(answer: str, low: float, high: float) -> float | None:
    """A number written with a decimal comma ("3,5") or dot, clipped to [low, high]."""
    m = re.search(r"\d+(?:[.,]\d+)?", answer)
    if not m:
        return None
    return min(high, max(low, float(m.group().replace(",", "."))))


@dataclass(frozen=True)
class Task:
    """One task: a dataset, and what fine-tuning and few-shot evaluation do with it.

    * ``label`` turns a row into its gold label (an int class, or a float score);
    * ``input_columns`` are the classifier's input, joined as ``<s>first<s>second</s>``;
    * ``prompt`` renders a row as the few-shot query, ending where the answer starts;
      ``choices`` are the answers of a classification task (label -> " Sim"), and a
      regression task writes its score with ``format_score`` and clips a parsed one to
      ``score_range``;
    * ``metric`` is ``macro_f1`` (classification) or ``pearson`` (regression).
    """

    name: str
    data: DatasetSpec
    kind: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    label: Callable[[dict], Any] | None = None
    label_names: tuple[str, ...] = ()
    input_columns: tuple[str, ...] = ()
    prompt: Callable[[dict], str] | None = None
    choices: dict[int, str] | None = None
    format_score: Callable[[float], str] | None = None
    score_range: tuple[float, float] | None = None   # a regression task's scale, e.g. (1.0, 5.0)
    num_fewshot: int = 0
    metric: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TaskError(f"task {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "classification" and not (self.label and self.label_names and self.choices is not None):
            raise TaskError(f"classification task {self.name!r} needs label, label_names and choices")
        if self.kind == "regression" and not (self.label and self.format_score and self.score_range):
            raise TaskError(f"regression task {self.name!r} needs label, format_score and score_range")
        unknown = [c for c in self.input_columns if c not in self.data.features]
        if unknown:
            raise TaskError(f"task {self.name!r}: input column(s) {unknown} are not columns of {self.data.name}")

    @property
    def fewshot(self) -> bool:
        return self.prompt is not None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def answer_text(self, gold) -> str:
        """The answer a solved few-shot example shows after its prompt."""
        if self.kind == "classification":
            return self.choices[gold]
        return self.format_score(gold)

    def parse_answer(self, answer: str):
        """A generated answer mapped back to a label (None when it says nothing usable)."""
        if self.kind == "classification":
            return parse_choice(answer, self.choices)
        return parse_number(answer, *self.score_range)


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to the registry (its name and aliases must be new)."""
    for key in (task.name, *task.aliases):
        if key in _REGISTRY and _REGISTRY[key] is not task and _REGISTRY[key].name != task.name:
            raise TaskError(f"task name {key!r} is already taken by {_REGISTRY[key].name!r}")
    for key in (task.name, *task.aliases):
        _REGISTRY[key] = task
    return task


def unregister(name: str) -> None:
    """Remove a task and its aliases (tests register toy tasks and take them away again)."""
    task = _REGISTRY.get(name)
    if task is not None:
        for key in (task.name, *task.aliases):
            _REGISTRY.pop(key, None)
