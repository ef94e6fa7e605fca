"""Loaders for the pretraining corpus and the three labelled tasks.

Every loader takes ``name``:

* ``None`` (the default): the small sample embedded in this checkout's ``data/``
  folder, written for the course (see ``data/README.md``). It needs no network and
  has exactly the columns and dtypes of the Hugging Face Hub dataset it stands for.
* a Hub dataset name (``nicholasKluge/Pt-Corpus-Instruct``, ``nilc-nlp/assin2``,
  ``ruanchaves/hatebr``, ``ruanchaves/faquad-nli``): loaded with
  ``datasets.load_dataset``; the corpus is streamed by default.
* a local path: a ``.jsonl``/``.json``/``.parquet``/``.csv`` file, or a folder with
  ``train``/``validation``/``test`` files (labelled sets) or any number of such files
  (corpus).

Whatever the source, the columns a chapter needs are checked, and a missing one
stops with an error that names it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, IterableDataset, Value

DATA_DIR_ENV = "TTL_DATA_DIR"

# Hub names of the real datasets (the course's defaults for the colab and full profiles).
CORPUS_HUB_NAME = "nicholasKluge/Pt-Corpus-Instruct"
ASSIN2_HUB_NAME = "nilc-nlp/assin2"
HATEBR_HUB_NAME = "ruanchaves/hatebr"
FAQUAD_NLI_HUB_NAME = "ruanchaves/faquad-nli"

SPLITS = ("train", "validation", "test")

# Columns and dtypes of the Hub datasets, which the embedded sample reproduces exactly.
CORPUS_FEATURES = Features({"text": Value("string"), "metadata": Value("string")})
ASSIN2_FEATURES = Features({
    "sentence_pair_id": Value("int64"),
    "premise": Value("string"),
    "hypothesis": Value("string"),
    "relatedness_score": Value("float32"),
    "entailment_judgment": ClassLabel(names=["NONE", "ENTAILMENT"]),
})
# The Hub's HateBR also has one boolean column per hate-speech group and the
# annotators' votes; the sample keeps the three columns the course uses.
HATEBR_FEATURES = Features({
    "instagram_comments": Value("string"),
    "offensive_language": Value("bool"),
    "offensiveness_levels": Value("int32"),
})
FAQUAD_NLI_FEATURES = Features({
    "document_index": Value("int32"),
    "document_title": Value("string"),
    "paragraph_index": Value("int32"),
    "question": Value("string"),
    "answer": Value("string"),
    "label": Value("int32"),
})

# Columns a dataset must have to be usable by the course (others are optional).
REQUIRED_COLUMNS = {
    "corpus": ("text",),
    "assin2": ("premise", "hypothesis", "entailment_judgment"),
    "hatebr": ("instagram_comments", "offensive_language"),
    "faquad_nli": ("question", "answer", "label"),
}
FEATURES = {
    "corpus": CORPUS_FEATURES,
    "assin2": ASSIN2_FEATURES,
    "hatebr": HATEBR_FEATURES,
    "faquad_nli": FAQUAD_NLI_FEATURES,
}
HUB_NAMES = {
    "corpus": CORPUS_HUB_NAME,
    "assin2": ASSIN2_HUB_NAME,
    "hatebr": HATEBR_HUB_NAME,
    "faquad_nli": FAQUAD_NLI_HUB_NAME,
}

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


class DataError(ValueError):
    """Data that cannot be used as it is; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------- locations

def data_dir() -> Path:
    """The folder that holds the embedded sample (``data/`` of the checkout).

    ``$TTL_DATA_DIR`` wins; otherwise ``data/`` next to the ``ttl`` package (an
    editable install or a source checkout), then the copy a ``pip install`` puts in
    site-packages as the package ``ttl_sample`` (Colab), then ``data/`` of the checkout that
    contains the working directory.
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
    from ttl.runs import repo_root  # local import: runs.py is tiny, but keep import order loose

    top = repo_root()
    if top is not None:
        candidates.append(top / "data")
    for folder in candidates:
        if (folder / "README.md").is_file() or (folder / "corpus").is_dir():
            return folder
    raise DataError(
        "The embedded sample (the data/ folder of the course repository) was not found; "
        f"looked in {', '.join(str(c) for c in candidates)}. Clone the repository "
        "(git clone https://github.com/ttl-course/ttl-course) and install it with "
        f"`pip install -e .`, or set ${DATA_DIR_ENV} to its data/ folder, or pass a Hub "
        "dataset name or a local file as `name`.")


def _sample_path(*parts: str) -> Path:
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise DataError(
            f"{path} is missing from the embedded sample. Rebuild it with "
            "`python -m ttl.data.sample` from the repository root, or restore it with git.")
    return path


# --------------------------------------------------------------------------- reading files

def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file; a malformed line is an error naming file and line."""
    rows = []
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}). "
                                "Each line of a .jsonl file must be one JSON object.") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object, got "
                                f"{type(row).__name__}.")
            rows.append(row)
    return rows


def _read_local_file(path: Path) -> Dataset:
    """A local data file as a Dataset (no cache folder, no network)."""
    suffix = path.suffix.lower()
    if suffix not in LOCAL_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use one of "
                        f"{', '.join(LOCAL_SUFFIXES)}.")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty. Point `name` to a file with data, or use the "
                        "embedded sample with name=None.")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        ds = Dataset(pq.read_table(path))
    elif suffix == ".csv":
        import pandas as pd

        ds = Dataset.from_pandas(pd.read_csv(path), preserve_index=False)
    elif suffix == ".json" and path.read_text(encoding="utf-8").lstrip().startswith("["):
        ds = Dataset.from_list(json.loads(path.read_text(encoding="utf-8")))
    else:
        ds = Dataset.from_list(read_jsonl(path))
    if len(ds) == 0:
        raise DataError(f"{path} has no rows. Point `name` to a file with data, or use the "
                        "embedded sample with name=None.")
    return ds


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in LOCAL_SUFFIXES)


def _conform(ds: Dataset, task: str, where: str) -> Dataset:
    """Check the required columns, then cast known columns to the Hub dtypes."""
    check_columns(ds.column_names, task, where)
    features = FEATURES[task]
    for column, feature in features.items():
        if column in ds.column_names and ds.features[column] != feature:
            try:
                ds = ds.cast_column(column, feature)
            except (ValueError, TypeError) as exc:
                raise DataError(f"{where}: column {column!r} cannot be read as {feature} "
                                f"({exc}). Fix the values in that column.") from None
    return ds


def check_columns(columns: Iterable[str] | None, task: str, where: str) -> None:
    """Raise DataError naming every required column of ``task`` missing from ``columns``."""
    columns = list(columns or [])
    missing = [c for c in REQUIRED_COLUMNS[task] if c not in columns]
    if missing:
        raise DataError(
            f"{where} is missing column(s) {', '.join(repr(m) for m in missing)} needed for "
            f"{task} (found: {', '.join(repr(c) for c in columns) or 'none'}). Rename the "
            f"columns, or pick a dataset with the same columns as {HUB_NAMES[task]}.")


def _is_local(name: str) -> bool:
    path = Path(name).expanduser()
    return path.exists() or name.startswith((".", "/", "~")) or path.suffix.lower() in LOCAL_SUFFIXES


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


def _load_from_hub(name: str, **kwargs: Any):
    try:
        return datasets.load_dataset(name, **kwargs)
    except _network_errors() as exc:
        raise DataError(
            f"Could not reach the Hugging Face Hub to load {name!r} ({type(exc).__name__}: {exc}). "
            "Check the connection (and that HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are not set), "
            "or use the embedded sample instead with name=None (the `smoke` profile does).") from exc
    except RuntimeError as exc:
        if "script" in str(exc).lower():
            raise DataError(
                f"{name!r} is a script-based dataset, which this version of `datasets` no longer "
                f"runs ({exc}). Load the Hub's Parquet conversion instead: pass "
                "revision='refs/convert/parquet', or use name=None for the embedded sample.") from exc
        raise


# --------------------------------------------------------------------------- loaders

def load_corpus(name: str | None = None, split: str = "train", streaming: bool | None = None,
                max_documents: int | None = None, **load_kwargs: Any) -> Dataset | IterableDataset:
    """The pretraining corpus (columns ``text`` and ``metadata``, like Pt-Corpus-Instruct).

    ``streaming`` defaults to True for a Hub name (the real corpus is tens of GB) and
    False otherwise; ``max_documents`` keeps only the first documents.
    """
    if max_documents is not None and max_documents <= 0:
        raise DataError(f"max_documents must be a positive number or None, got {max_documents!r}")
    if (name is None or _is_local(name)) and split != "train":
        raise DataError(f"a local corpus has a single split, 'train'; got split={split!r}")
    if name is None or _is_local(name):
        if name is None:
            ds = _sample_dataset(_sample_path("corpus", "sample.jsonl"), CORPUS_FEATURES, "corpus")
        else:
            ds = _local_corpus(Path(name).expanduser())
        if max_documents is not None:
            ds = ds.select(range(min(max_documents, len(ds))))
        return ds.to_iterable_dataset() if streaming else ds
    streaming = True if streaming is None else streaming
    ds = _load_from_hub(name, split=split, streaming=streaming, **load_kwargs)
    columns = ds.column_names
    if columns is None:  # a stream whose features are unknown until read
        columns = list(next(iter(ds.take(1))).keys())
    check_columns(columns, "corpus", name)
    if max_documents is not None:
        ds = ds.take(max_documents) if isinstance(ds, IterableDataset) else ds.select(
            range(min(max_documents, len(ds))))
    return ds


def _sample_dataset(path: Path, features: Features, task: str) -> Dataset:
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{path} is empty. Rebuild the sample with `python -m ttl.data.sample`.")
    check_columns(rows[0].keys(), task, str(path))
    return Dataset.from_list(rows, features=features)


def _local_corpus(path: Path) -> Dataset:
    if path.is_dir():
        # Shards are .jsonl/.parquet; a folder may also hold a report (.json) that is not data.
        files = [f for f in _data_files(path) if f.suffix.lower() in (".jsonl", ".parquet")] or _data_files(path)
        if not files:
            raise DataError(f"{path} contains no {'/'.join(LOCAL_SUFFIXES)} files.")
        parts = [_conform(_read_local_file(f), "corpus", str(f)) for f in files]
        return datasets.concatenate_datasets(parts)
    if not path.exists():
        raise DataError(f"{path} does not exist. Give a corpus file or folder, a Hub name, "
                        "or name=None for the embedded sample.")
    return _conform(_read_local_file(path), "corpus", str(path))


def _load_labelled(task: str, folder_name: str, name: str | None, **load_kwargs: Any) -> DatasetDict:
    if name is None:
        return DatasetDict({
            split: _sample_dataset(_sample_path(folder_name, f"{split}.jsonl"), FEATURES[task], task)
            for split in SPLITS})
    if _is_local(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise DataError(f"{path} does not exist. Give a file or a folder with "
                            "train/validation/test files, a Hub name, or name=None.")
        if path.is_file():
            return DatasetDict({"train": _conform(_read_local_file(path), task, str(path))})
        found = {}
        for split in SPLITS:
            files = [f for f in _data_files(path) if f.stem == split]
            if files:
                found[split] = _conform(_read_local_file(files[0]), task, str(files[0]))
        if not found:
            raise DataError(f"{path} has no train/validation/test file (e.g. train.jsonl). "
                            "Name the files after their split.")
        return DatasetDict(found)
    dsd = _load_from_hub(name, **load_kwargs)
    for split, ds in dsd.items():
        check_columns(ds.column_names, task, f"{name} ({split})")
    return ensure_splits(dsd)


def ensure_splits(dsd: DatasetDict, seed: int = 42, share: float = 0.15) -> DatasetDict:
    """Add the validation and test splits a chapter needs when a dataset lacks them.

    Some versions of a Hub dataset come with a single ``train`` split. Then ``share``
    of it becomes ``test`` and the same share ``validation``, with a fixed seed, so
    that model selection never looks at the test rows. Complete datasets are returned
    as they are.
    """
    if all(split in dsd for split in SPLITS):
        return dsd
    if "train" not in dsd:
        raise DataError(f"the dataset has splits {list(dsd)} but no 'train' split to cut the others from")
    out = DatasetDict({"train": dsd["train"]})
    size = max(1, round(len(dsd["train"]) * share))
    if "test" in dsd:
        out["test"] = dsd["test"]
    else:
        cut = out["train"].train_test_split(test_size=size, seed=seed)
        out["train"], out["test"] = cut["train"], cut["test"]
    if "validation" in dsd:
        out["validation"] = dsd["validation"]
    else:
        cut = out["train"].train_test_split(test_size=size, seed=seed)
        out["train"], out["validation"] = cut["train"], cut["test"]
    return DatasetDict({split: out[split] for split in SPLITS})


def load_assin2(name: str | None = None, **load_kwargs: Any) -> DatasetDict:
    """Assin2 (entailment and similarity of sentence pairs); splits train/validation/test."""
    return _load_labelled("assin2", "assin2", name, **load_kwargs)


def load_hatebr(name: str | None = None, **load_kwargs: Any) -> DatasetDict:
    """HateBR (offensive Instagram comments); splits train/validation/test."""
    return _load_labelled("hatebr", "hatebr", name, **load_kwargs)


def load_faquad_nli(name: str | None = None, **load_kwargs: Any) -> DatasetDict:
    """FaQuAD-NLI (does this sentence answer the question?); splits train/validation/test."""
    return _load_labelled("faquad_nli", "faquad_nli", name, **load_kwargs)


def profile_texts(profile) -> Iterator[str]:
    """The training texts a profile names (``profile.data``): the embedded sample, a local
    corpus, or a Hub corpus streamed one document at a time. Empty documents are skipped.

    For a Hub corpus (``colab`` and larger profiles) nothing is held in memory; the reader
    decides how much of the stream to take (the tokenizer trainer stops at
    ``profile.tokenizer.max_chars``).
    """
    data = profile.data
    ds = load_corpus(data.corpus, split=data.corpus_split, max_documents=data.max_documents)
    return corpus_texts(ds, max_documents=data.max_documents, text_column=data.text_column)


def corpus_texts(ds: Dataset | IterableDataset | Iterable[dict], max_documents: int | None = None,
                 text_column: str = "text") -> Iterator[str]:
    """Yield the text of each document (at most ``max_documents``), skipping empty ones."""
    count = 0
    for row in ds:
        if max_documents is not None and count >= max_documents:
            return
        if text_column not in row:
            raise DataError(f"documents have no {text_column!r} column (found: {', '.join(row)}).")
        text = row[text_column]
        if text is None or not str(text).strip():
            continue
        count += 1
        yield text
