"""Loaders: any task's dataset, and the pretraining corpus, from any source.

    load_task_data("assin2_rte")                    # the embedded sample (data/assin2/)
    load_task_data("hatebr", "ruanchaves/hatebr")   # the Hub
    load_task_data("hatebr", "my_data/hatebr/")     # a local folder or file

What a dataset looks like (Hub name, columns, dtypes, label column and range) comes from its
task in :mod:`ttl.tasks`; this module only reads. Whatever the source:

* the required columns are checked (a missing one is named, with the file), the other known
  columns are cast to the Hub's dtypes when present and may be missing;
* a local folder may name its splits ``train``/``validation``/``test`` or ``dev``/``valid``/
  ``val``/``training``/``testing`` (as file names, ``train-00000-of-00002.parquet`` shards,
  or sub-folders), and one with only ``train`` is split as Hub data is;
* splits that are missing are cut from ``train`` with a fixed seed, stratified by label;
* labels out of range stop with the row that has them; rows with empty text are dropped
  with a warning that counts them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, Features, IterableDataset

from ..tasks import SPLITS, DatasetSpec, Task, get_dataset
from .readers import DataError, corpus_texts, local_files, read_table, resolve_source

__all__ = ["DataError", "DATA_DIR_ENV", "data_dir", "sample_file", "load_task_data", "load_corpus",
           "corpus_sample_file", "load_assin2", "load_hatebr", "load_faquad_nli", "load_from_hub", "ensure_splits",
           "stratified_subset", "check_columns", "corpus_texts", "SPLIT_ALIASES"]

DATA_DIR_ENV = "TTL_DATA_DIR"
REBUILD_HINT = "Rebuild it with `python tools/build_sample.py` from the repository root, or restore it with git."

# Names a local folder may give its splits, mapped to the course's.
SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
                 "val": "validation", "dev": "validation", "test": "test", "testing": "test"}


@contextlib.contextmanager
def _quiet_datasets():
    """No progress bar for a cast of a few thousand rows (it would fill a notebook's output)."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


class DataWarning(UserWarning):
    """Data that can be used, but not as the user may think (one class, dropped rows)."""


# --------------------------------------------------------------------------- locations

def data_dir() -> Path:
    """The folder that holds the embedded sample (``data/`` of the checkout).

    ``$TTL_DATA_DIR`` wins; otherwise ``data/`` next to the ``ttl`` package (an editable
    install or a source checkout), then the copy a ``pip install`` puts in site-packages as
    the package ``ttl_sample`` (Colab), then ``data/`` of the checkout that contains the
    working directory.
    """
    if os.environ.get(DATA_DIR_ENV):
        folder = Path(os.environ[DATA_DIR_ENV]).expanduser().resolve()
        if not folder.is_dir():
            raise DataError(
                f"${DATA_DIR_ENV} points to {folder}, which is not a folder. Set it to the "
                "data/ folder of a course checkout, or unset it.")
        return folder
    candidates = [Path(__file__).resolve().parents[2] / "data"]
    installed = importlib.util.find_spec("ttl_sample")
    if installed is not None and installed.submodule_search_locations:
        candidates += [Path(p) for p in installed.submodule_search_locations]
    from ..runs import repo_root

    top = repo_root()
    if top is not None:
        candidates.append(top / "data")
    for folder in candidates:
        if (folder / "README.md").is_file() or (folder / "corpus").is_dir():
            return folder
    raise DataError(
        "The embedded sample (the data/ folder of the course repository) was not found; "
        f"looked in {', '.join(str(c) for c in candidates)}. Install the course with "
        f"`pip install -e .` from a clone, or set ${DATA_DIR_ENV} to its data/ folder, or give "
        "the data's source (a Hub name or a local path: `--data TASK=...`).")


def sample_file(dataset: str | Task | DatasetSpec, split: str) -> Path:
    """The embedded sample's file of one split of ``dataset``."""
    spec = get_dataset(dataset)
    if split not in spec.sample_files:
        raise DataError(f"the embedded sample of {spec.name} has no split {split!r} "
                        f"(it has {sorted(spec.sample_files)})")
    path = data_dir() / spec.sample_files[split]
    if not path.is_file():
        raise DataError(f"{path} is missing from the embedded sample. {REBUILD_HINT}")
    return path


def corpus_sample_file(language: str = "pt") -> Path:
    """The embedded corpus sample of ``language``: ``data/corpus/`` for pt, ``data/corpus-<code>/`` otherwise.

    Portuguese keeps its historical folder (the course's main language); any other language
    has its own folder, so a profile switches language with ``data.language`` alone.
    """
    code = str(language or "").strip().lower()
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)?", code):
        raise DataError(f"data.language must be a language code such as 'pt' or 'es', got {language!r}")
    if code == "pt":
        return sample_file("corpus", "train")
    folder = data_dir() / f"corpus-{code}"
    path = folder / "sample.jsonl"
    if not path.is_file():
        hint = (f"{REBUILD_HINT[:-1]} (`python tools/build_sample.py --language {code}`)."
                if (data_dir() / "sources" / f"corpus-{code}").is_dir() else
                "Set data.corpus to a Hub dataset or a local file (JSONL/Parquet with a text column).")
        raise DataError(f"no embedded sample for language {code!r} in {data_dir()} ({path} is missing); "
                        f"set data.corpus to a Hub dataset or a local file. {hint}")
    return path


# --------------------------------------------------------------------------- the Hub

def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the Hub could not be reached'."""
    kinds: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

        kinds += [OfflineModeIsEnabled, LocalEntryNotFoundError]
    except ImportError:  # pragma: no cover - older huggingface_hub
        pass
    for module, attr in (("requests.exceptions", "ConnectionError"), ("requests.exceptions", "Timeout"),
                         ("httpx", "TransportError")):
        try:
            kinds.append(getattr(__import__(module, fromlist=[attr]), attr))
        except (ImportError, AttributeError):
            pass
    return tuple(kinds)


def load_from_hub(name: str, **kwargs: Any):
    """``datasets.load_dataset(name, **kwargs)`` with errors that say what to do."""
    try:
        return datasets.load_dataset(name, **kwargs)
    except _network_errors() as exc:
        raise DataError(
            f"Could not reach the Hugging Face Hub to load {name!r} ({type(exc).__name__}: {exc}). "
            "Check the connection (and that HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are not set), "
            f"or give a local copy (`--data TASK=path/`), or use the embedded sample with name=None "
            f"(the `smoke` profile does). If {name!r} was meant as a local path, it does not exist "
            f"in {Path.cwd()}.") from exc
    except FileNotFoundError as exc:
        raise DataError(f"{name!r} is neither a local path nor a dataset on the Hub ({exc}). "
                        "Check the spelling, or write ./path for a local folder.") from exc
    except RuntimeError as exc:
        if "script" in str(exc).lower():
            raise DataError(
                f"{name!r} is a script-based dataset, which this version of `datasets` no longer "
                f"runs ({exc}). Load the Hub's Parquet conversion instead: pass "
                "revision='refs/convert/parquet', or use name=None for the embedded sample.") from exc
        raise


# --------------------------------------------------------------------------- columns and values

def check_columns(columns: Iterable[str] | None, dataset: str | Task | DatasetSpec, where: str) -> None:
    """Raise DataError naming every required column of ``dataset`` missing from ``columns``."""
    spec = get_dataset(dataset)
    columns = list(columns or [])
    missing = [c for c in spec.required if c not in columns]
    if missing:
        raise DataError(
            f"{where} is missing column(s) {', '.join(repr(m) for m in missing)} needed for "
            f"{spec.name} (found: {', '.join(repr(c) for c in columns) or 'none'}). Rename the "
            f"columns, or pick a dataset with the same columns as {spec.hub_name}.")


def _conform(ds: Dataset, spec: DatasetSpec, where: str) -> Dataset:
    """Check the required columns, then cast the known columns that are present to the Hub dtypes."""
    check_columns(ds.column_names, spec, where)
    _check_labels(ds, spec, where)  # before the cast: ClassLabel takes any integer without a word
    wanted = {c: spec.features[c] if c in spec.features else f for c, f in ds.features.items()}
    if wanted != dict(ds.features):
        try:
            with _quiet_datasets():
                ds = ds.cast(Features(wanted))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: columns cannot be read as {Features(wanted)} ({exc}). "
                            "Fix the values in the columns named there.") from None
    return ds


def _check_labels(ds: Dataset, spec: DatasetSpec, where: str) -> None:
    """Every label in range: a class index below ``label_range``, or a score inside it."""
    if spec.label_column is None or spec.label_range is None or spec.label_column not in ds.column_names:
        return
    allowed = spec.label_range
    for index, value in enumerate(ds[spec.label_column]):
        if isinstance(allowed, int):
            ok = isinstance(value, (bool, int, float)) and value == int(value) and 0 <= int(value) < allowed
            expected = f"one of {list(range(allowed))} (or true/false)"
        else:
            ok = isinstance(value, (int, float)) and allowed[0] <= value <= allowed[1]
            expected = f"a number from {allowed[0]} to {allowed[1]}"
        if not ok:
            raise DataError(f"{where}, row {index + 1}: {spec.label_column}={value!r} is not a valid label; "
                            f"expected {expected}. Fix or remove that row.")


def _drop_empty_text(ds: Dataset, spec: DatasetSpec, where: str) -> Dataset:
    columns = [c for c in spec.text_columns if c in ds.column_names]
    if not columns:
        return ds
    bad = [i for i, row in enumerate(zip(*(ds[c] for c in columns)))
           if any(v is None or not str(v).strip() for v in row)]
    if not bad:
        return ds
    warnings.warn(f"{where}: dropped {len(bad)} row(s) with an empty {' or '.join(columns)} "
                  f"(rows {', '.join(str(i + 1) for i in bad[:10])}{', ...' if len(bad) > 10 else ''})",
                  DataWarning, stacklevel=3)
    keep = sorted(set(range(len(ds))) - set(bad))
    if not keep:
        raise DataError(f"{where}: every row has an empty {' or '.join(columns)}; check the column names")
    return ds.select(keep)


# --------------------------------------------------------------------------- splits and subsets

def _labels_of(ds: Dataset, spec: DatasetSpec) -> list:
    if spec.label_column and spec.label_column in ds.column_names:
        return [int(v) if isinstance(v, bool) else v for v in ds[spec.label_column]]
    return [0] * len(ds)


def _stratified_indices(labels: Sequence, size: int, seed: int) -> list[int]:
    """``size`` row indices drawn with a seeded shuffle, each label in its share (largest remainder)."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label].append(index)
    rng = random.Random(seed)
    keys = sorted(groups, key=repr)
    for key in keys:
        rng.shuffle(groups[key])
    exact = {k: size * len(groups[k]) / len(labels) for k in keys}
    take = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: exact[k] - take[k], reverse=True)[:size - sum(take.values())]:
        take[k] += 1
    return sorted(i for k in keys for i in groups[k][:take[k]])


def stratified_subset(ds: Dataset, n: int | None, dataset: str | Task | DatasetSpec, seed: int) -> Dataset:
    """At most ``n`` rows drawn at random (seeded), each label keeping its share; never a prefix.

    A real file may list all positive pairs first: the first ``n`` rows would then train a
    one-class model. ``n=None`` or ``n >= len(ds)`` keeps every row, in its order.
    """
    if n is None or n >= len(ds):
        return ds
    if n <= 0:
        raise DataError(f"a subset must have a positive number of rows, got {n}")
    return ds.select(_stratified_indices(_labels_of(ds, get_dataset(dataset)), n, seed))


def ensure_splits(dsd: DatasetDict, dataset: str | Task | DatasetSpec | None = None, seed: int = 42,
                  share: float = 0.15) -> DatasetDict:
    """Add the validation and test splits a chapter needs when a dataset lacks them.

    ``share`` of ``train`` becomes ``test`` and the same share ``validation``, drawn with a
    fixed seed and stratified by label, so that model selection never looks at the test rows.
    Complete datasets are returned as they are.
    """
    if all(split in dsd for split in SPLITS):
        return DatasetDict({split: dsd[split] for split in SPLITS})
    if "train" not in dsd:
        raise DataError(f"the dataset has splits {list(dsd)} but no 'train' split to cut the others from; "
                        "name a file or folder train (or training)")
    spec = get_dataset(dataset) if dataset is not None else None
    out = {"train": dsd["train"]}
    size = max(1, round(len(dsd["train"]) * share))
    for offset, split in enumerate(("test", "validation")):
        if split in dsd:
            out[split] = dsd[split]
            continue
        train = out["train"]
        if len(train) <= size:
            raise DataError(f"the dataset has only {len(train)} training rows and no {split} split; "
                            f"give a {split} file, or more data")
        labels = _labels_of(train, spec) if spec else [0] * len(train)
        cut = set(_stratified_indices(labels, size, seed + offset))
        out[split] = train.select(sorted(cut))
        out["train"] = train.select([i for i in range(len(train)) if i not in cut])
    return DatasetDict({split: out[split] for split in SPLITS})


def warn_if_one_class(ds: Dataset, dataset: str | Task | DatasetSpec, where: str) -> None:
    spec = get_dataset(dataset)
    if spec.label_column is None or spec.label_column not in ds.column_names or not isinstance(spec.label_range, int):
        return
    classes = set(_labels_of(ds, spec))
    if len(classes) < 2:
        warnings.warn(f"{where} has a single class ({classes}); a classifier trained on it learns nothing. "
                      "Check the file (is it sorted by label?) or raise max_train_examples.", DataWarning,
                      stacklevel=3)


# --------------------------------------------------------------------------- local folders

def _split_of(path: Path, root: Path) -> str | None:
    """The split a file stands for: its name (``dev.jsonl``, ``train-00000-of-00002.parquet``) or a folder."""
    stem = path.name.split(".")[0].lower()
    candidates = [re.split(r"[-_]", stem)[0], stem]
    candidates += [part.lower() for part in path.relative_to(root).parts[:-1]]
    for name in candidates:
        if name in SPLIT_ALIASES:
            return SPLIT_ALIASES[name]
    return None


def _local_splits(path: Path) -> dict[str, list[Path]]:
    files = local_files(path)
    if path.is_file():
        return {"train": files}
    by_split: dict[str, list[Path]] = defaultdict(list)
    unnamed = []
    for file in files:
        split = _split_of(file, path)
        (by_split[split].append(file) if split else unnamed.append(file))
    if unnamed and by_split:
        raise DataError(f"{path}: cannot tell which split {', '.join(f.name for f in unnamed)} belong(s) to; "
                        f"name each file after its split ({', '.join(sorted(SPLIT_ALIASES))})")
    return dict(by_split) if by_split else {"train": unnamed}


def _read_split(files: list[Path], spec: DatasetSpec) -> Dataset:
    parts = [_conform(read_table(f), spec, str(f)) for f in files]
    if len(parts) == 1:
        return parts[0]
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError as exc:
        raise DataError(f"the files {', '.join(str(f) for f in files)} have different columns ({exc}); "
                        "give them the same columns") from None


# --------------------------------------------------------------------------- loaders

def load_task_data(task: str | Task | DatasetSpec, source: str | os.PathLike | None = None, *,
                   seed: int = 42, **hub_kwargs: Any) -> DatasetDict:
    """The train/validation/test splits of a task's dataset, checked and cast to the Hub dtypes.

    ``source``: None for the embedded sample, a local file or folder, or a Hub name
    (``hub:`` in front makes it explicit). A single file is the train split.
    """
    spec = get_dataset(task)
    if spec.splits != SPLITS:
        raise DataError(f"{spec.name} is not a labelled dataset with train/validation/test splits; "
                        "use load_corpus for a corpus")
    if source is None:
        files = {split: [sample_file(spec, split)] for split in SPLITS}
        where = f"the embedded sample of {spec.name}"
    else:
        kind, location = resolve_source(source)
        if kind == "hub":
            dsd = load_from_hub(str(location), **{**spec.hub_kwargs, **hub_kwargs})
            if not isinstance(dsd, DatasetDict):
                dsd = DatasetDict({"train": dsd})
            renamed: dict[str, Dataset] = {}
            for split, ds in dsd.items():
                renamed[SPLIT_ALIASES.get(split, split)] = _conform(ds, spec, f"{location} ({split})")
            return _finish(DatasetDict(renamed), spec, seed, str(location))
        files = _local_splits(Path(location))
        where = str(location)
    dsd = DatasetDict({split: _read_split(paths, spec) for split, paths in files.items()})
    return _finish(dsd, spec, seed, where)


def _finish(dsd: DatasetDict, spec: DatasetSpec, seed: int, where: str) -> DatasetDict:
    dsd = DatasetDict({split: _drop_empty_text(ds, spec, f"{where} ({split})") for split, ds in dsd.items()
                       if split in SPLITS})
    if not dsd:
        raise DataError(f"{where} has none of the splits {SPLITS}")
    return ensure_splits(dsd, spec, seed=seed)


def load_assin2(name: str | None = None, **hub_kwargs: Any) -> DatasetDict:
    """Assin2 (entailment and similarity of sentence pairs); splits train/validation/test."""
    return load_task_data("assin2", name, **hub_kwargs)


def load_hatebr(name: str | None = None, **hub_kwargs: Any) -> DatasetDict:
    """HateBR (offensive Instagram comments); splits train/validation/test."""
    return load_task_data("hatebr", name, **hub_kwargs)


def load_faquad_nli(name: str | None = None, **hub_kwargs: Any) -> DatasetDict:
    """FaQuAD-NLI (does this sentence answer the question?); splits train/validation/test."""
    return load_task_data("faquad_nli", name, **hub_kwargs)


def load_corpus(name: str | os.PathLike | None = None, split: str = "train", streaming: bool | None = None,
                max_documents: int | None = None, language: str = "pt",
                **hub_kwargs: Any) -> Dataset | IterableDataset:
    """The pretraining corpus (columns ``text`` and ``metadata``, like Pt-Corpus-Instruct).

    ``streaming`` defaults to True for a Hub name (the real corpus is tens of GB) and
    False otherwise; ``max_documents`` keeps only the first documents (in the corpus's order:
    a corpus has no labels to stratify by). ``language`` picks the embedded sample when
    ``name`` is None (see :func:`corpus_sample_file`); a named source is read as it is.
    """
    spec = get_dataset("corpus")
    if max_documents is not None and max_documents <= 0:
        raise DataError(f"max_documents must be a positive number or None, got {max_documents!r}")
    kind, location = ("local", corpus_sample_file(language)) if name is None else resolve_source(name)
    if kind == "local":
        if split != "train":
            raise DataError(f"a local corpus has a single split, 'train'; got split={split!r}")
        ds = _read_split(local_files(location), spec)
        if max_documents is not None:
            ds = ds.select(range(min(max_documents, len(ds))))
        return ds.to_iterable_dataset() if streaming else ds
    streaming = True if streaming is None else streaming
    ds = load_from_hub(str(location), split=split, streaming=streaming, **{**spec.hub_kwargs, **hub_kwargs})
    columns = ds.column_names
    if columns is None:  # a stream whose features are unknown until read
        columns = list(next(iter(ds.take(1))).keys())
    check_columns(columns, spec, str(location))
    if max_documents is not None:
        ds = ds.take(max_documents) if isinstance(ds, IterableDataset) else ds.select(
            range(min(max_documents, len(ds))))
    return ds
