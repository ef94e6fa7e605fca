"""The task registry: one module per task, the single source of every column, label and prompt.

    from ttl.tasks import get_task, all_tasks
    task = get_task("assin2_rte")          # or its alias "assin2"
    task.data.hub_name                     # "nilc-nlp/assin2"

Every module of this package except ``base`` declares one task and calls
:func:`~ttl.tasks.base.register`; they are imported when the registry is first used. Adding a
task is adding a file here (or registering a :class:`Task` from your own module: the loaders,
fine-tuning, evaluation and the command line read the registry, never a list of their own).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import SPLITS, DatasetSpec, Task, TaskError, _REGISTRY, register, unregister

__all__ = ["SPLITS", "DatasetSpec", "Task", "TaskError", "register", "unregister", "get_task", "all_tasks",
           "get_dataset", "task_names"]

_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def all_tasks(kind: str | None = None, *, fewshot: bool | None = None) -> list[Task]:
    """Every registered task (each once, aliases folded), optionally of one kind."""
    _load_builtin()
    seen: dict[str, Task] = {}
    for task in _REGISTRY.values():
        seen.setdefault(task.name, task)
    tasks = [t for t in seen.values() if (kind is None or t.kind == kind)
             and (fewshot is None or t.fewshot == fewshot)]
    return sorted(tasks, key=lambda t: t.name)


def task_names(kind: str | None = None, *, fewshot: bool | None = None) -> list[str]:
    return [t.name for t in all_tasks(kind, fewshot=fewshot)]


def get_task(name: str | Task) -> Task:
    """The task called ``name`` (or one of its aliases); an unknown name lists the known ones."""
    if isinstance(name, Task):
        return name
    _load_builtin()
    if name not in _REGISTRY:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())} "
                        f"(aliases: {', '.join(sorted(set(_REGISTRY) - set(task_names())))})")
    return _REGISTRY[name]


def get_dataset(name: str | Task | DatasetSpec) -> DatasetSpec:
    """The dataset of a task, or the dataset called ``name`` (``assin2`` serves two tasks)."""
    if isinstance(name, DatasetSpec):
        return name
    if isinstance(name, Task):
        return name.data
    _load_builtin()
    for task in _REGISTRY.values():
        if task.data.name == name:
            return task.data
    return get_task(name).data
