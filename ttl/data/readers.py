"""The one reader: rows from local files (JSONL, JSON, parquet, CSV, a folder of .txt) or a
streamed Hub dataset, shared by the loaders, curation, the tokenizer and packing.

Two ways to read:

* *tolerant* (curation): :func:`iter_input` yields documents ``{"id", "text", "metadata"}``
  and, for what it cannot read, a :class:`ReadError` that names the file, the line and the
  fix; the curation pipeline then stops or skips according to ``on_error``, and its report
  lists every skipped line, so nothing disappears silently;
* *strict* (everything else): :func:`corpus_texts` and :func:`read_table` raise a
  :class:`DataError` with the same message at the first bad line.

Every reader is a generator, so memory stays bounded by one batch whatever the corpus size.
A data source is written the same way everywhere (``--data``, ``data.corpus``, ``--input``):
a local file or folder, ``owner/name`` of a Hub dataset, or ``hub:name`` to say so explicitly.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# In order of preference: a folder's .json files are read only when it has none of the
# others, since beside shards a .json is usually a report or a manifest, not data.
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet", ".csv", ".txt")
JSON_SUFFIXES = (".json", ".json.gz")
ALL_SUFFIXES = DATA_SUFFIXES + JSON_SUFFIXES
HUB_PREFIX = "hub:"


class DataError(ValueError):
    """Data that cannot be used as it is; the message says what is wrong and what to do."""


@dataclass
class ReadError:
    """A piece of input that could not be read as a row."""

    source: str
    line: int  # 1-based line (JSONL, CSV) or row (parquet, JSON array, records); 0 for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.source}, line {self.line}" if self.line else self.source
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "message": self.message}


# --------------------------------------------------------------------------- where data is

def has_data_suffix(name: str) -> bool:
    return name.lower().endswith(ALL_SUFFIXES)


def resolve_source(spec: str | os.PathLike) -> tuple[str, str | Path]:
    """``("local", Path)`` or ``("hub", name)`` for a data source as a user writes it.

    A path that exists is local. ``hub:name`` is the Hub. Otherwise ``owner/name`` is a Hub
    dataset, unless it looks like a path (starts with ``.``, ``/`` or ``~``, has a data file
    suffix, or its first folder exists here, as in ``data/assin2x``): then it is a local path
    that does not exist, and the error says so at once instead of asking the Hub.
    """
    if isinstance(spec, os.PathLike):
        return "local", _existing(Path(spec))
    text = str(spec).strip()
    if text.startswith(HUB_PREFIX):
        return "hub", text[len(HUB_PREFIX):]
    path = Path(text).expanduser()
    if path.exists():
        return "local", path
    parts = text.split("/")
    looks_like_path = (text.startswith((".", "/", "~")) or "\\" in text or has_data_suffix(text)
                       or len(parts) != 2 or not all(parts) or Path(parts[0]).expanduser().is_dir())
    if looks_like_path:
        return "local", _existing(path)
    return "hub", text


def _existing(path: Path) -> Path:
    if not path.exists():
        hint = ""
        if len(str(path).split("/")) == 2 and not str(path).startswith((".", "/", "~")):
            hint = f" If you meant the Hub dataset {str(path)!r}, write hub:{path}."
        raise DataError(f"{path} does not exist (relative paths start from {Path.cwd()}). Check the path.{hint}")
    return path


def local_files(path: str | os.PathLike) -> list[Path]:
    """The data files of a file or folder path (sorted; hidden and temporary files skipped)."""
    path = _existing(Path(path).expanduser())
    if path.is_file():
        if not has_data_suffix(path.name):
            raise DataError(f"{path}: unsupported file type; use one of {', '.join(ALL_SUFFIXES)}")
        return [path]
    found = [p for p in sorted(path.rglob("*")) if p.is_file() and has_data_suffix(p.name)
             and not any(part.startswith(".") for part in p.relative_to(path).parts)]
    files = [p for p in found if p.name.lower().endswith(DATA_SUFFIXES)] or found
    files = _one_format_per_stem(files)
    if not files:
        raise DataError(f"folder {path} holds no data files ({', '.join(ALL_SUFFIXES)}); "
                        "point to a file or a folder with data in it")
    return files


def _one_format_per_stem(files: list[Path]) -> list[Path]:
    """A shard written in two formats (shard-00000.jsonl and .parquet, as curation can) is read once."""
    chosen: dict[Path, Path] = {}
    for file in files:
        key = file.parent / file.name.split(".")[0]
        if key not in chosen or _rank(file) < _rank(chosen[key]):
            chosen[key] = file
    return sorted(chosen.values())


def _rank(path: Path) -> int:
    name = path.name.lower()
    return next(i for i, suffix in enumerate(ALL_SUFFIXES) if name.endswith(suffix))


# --------------------------------------------------------------------------- raw rows of one file

def read_rows(path: str | os.PathLike, batch_size: int = 1000) -> Iterator[tuple[int, Any] | ReadError]:
    """``(line, row)`` for each row of one local file; what cannot be read is a ReadError.

    JSON Lines (optionally gzipped) and CSV count lines from 1, parquet and JSON arrays count
    rows; a ``.txt`` file is one row ``{"text": its content}``.
    """
    path = Path(path)
    name = path.name.lower()
    source = str(path)
    try:
        if path.stat().st_size == 0:
            yield ReadError(source, 0, "file is empty (no rows); check that the right file was given")
            return
        if name.endswith(".parquet"):
            yield from _parquet_rows(path, batch_size)
        elif name.endswith(".csv"):
            yield from _csv_rows(path)
        elif name.endswith(".txt"):
            yield from _txt_rows(path)
        else:
            yield from _json_rows(path)
    except OSError as exc:
        yield ReadError(source, 0, f"cannot be read ({exc.strerror or exc}); check that it exists and is readable")


def _decode(raw: bytes, source: str, number: int) -> str | ReadError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadError(source, number, f"not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 4]!r}); "
                                         "re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8")


def _json_rows(path: Path) -> Iterator[tuple[int, Any] | ReadError]:
    source = str(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(64).lstrip()
    if head.startswith(b"["):  # one JSON array of objects
        with opener(path, "rb") as handle:
            text = _decode(handle.read(), source, 0)
        if isinstance(text, ReadError):
            yield text
            return
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            yield ReadError(source, exc.lineno, f"malformed JSON ({exc.msg} at column {exc.colno})")
            return
        yield from enumerate(rows, start=1)
        return
    empty = True
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            empty = False
            line = _decode(raw, source, number)
            if isinstance(line, ReadError):
                yield line
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield ReadError(source, number, f"malformed JSON ({exc.msg} at column {exc.colno}); "
                                                "each line of a .jsonl file must be one JSON object")
    if empty:
        yield ReadError(source, 0, "file is empty (no rows); check that the right file was given")


def _parquet_rows(path: Path, batch_size: int) -> Iterator[tuple[int, Any] | ReadError]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        yield ReadError(str(path), 0, f"cannot read as parquet ({exc}); is the file complete?")
        return
    if parquet.metadata.num_rows == 0:
        yield ReadError(str(path), 0, "file is empty (no rows)")
        return
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        for record in batch.to_pylist():
            row += 1
            yield row, record


def _csv_rows(path: Path) -> Iterator[tuple[int, Any] | ReadError]:
    raw = path.read_bytes()
    text = _decode(raw, str(path), 0)
    if isinstance(text, ReadError):
        yield text
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for record in reader:
        if None in record:  # more fields than the header names
            yield ReadError(str(path), reader.line_num, f"{len(record) - 1 + len(record[None])} fields where the "
                                                        f"header names {len(reader.fieldnames or [])}; quote fields "
                                                        "that contain commas")
            continue
        yield reader.line_num, {k: _csv_value(v) for k, v in record.items()}


def _csv_value(value: str | None):
    """CSV has no types: integers and floats are read back as numbers, empty cells as None."""
    if value is None or value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def _txt_rows(path: Path) -> Iterator[tuple[int, Any] | ReadError]:
    text = _decode(path.read_bytes(), str(path), 0)
    yield text if isinstance(text, ReadError) else (1, {"text": text})


def iter_rows(source: str | os.PathLike, *, split: str = "train", batch_size: int = 1000,
              **hub_kwargs: Any) -> Iterator[tuple[str, int, Any] | ReadError]:
    """``(source, line, row)`` from a local file or folder, or streamed from the Hub."""
    kind, where = resolve_source(source)
    if kind == "hub":
        from .loaders import load_from_hub

        stream = load_from_hub(str(where), split=split, streaming=True, **hub_kwargs)
        for number, record in enumerate(stream, start=1):
            yield str(where), number, record
        return
    for file in local_files(where):
        for item in read_rows(file, batch_size):
            yield item if isinstance(item, ReadError) else (str(file), *item)


# --------------------------------------------------------------------------- documents (curation)

def _metadata_string(value: Any) -> str:
    """Metadata travels as a JSON string (as on the Hub); dicts are encoded, None becomes {}."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def make_document(record: Any, source: str, line: int, text_column: str = "text",
                  metadata_column: str = "metadata") -> dict | ReadError:
    """A row as a document ``{"id", "text", "metadata"}``, or a ReadError saying why not."""
    if isinstance(record, str):
        return {"id": f"{source}:{line}", "text": record, "metadata": "{}"}
    if not isinstance(record, dict):
        return ReadError(source, line, f"expected a JSON object with a '{text_column}' field, "
                                       f"got {type(record).__name__}")
    if text_column not in record:
        return ReadError(source, line, f"no '{text_column}' field (fields: {sorted(record)[:10]}); "
                                       f"name the text column (reader.text_column in the curation config, "
                                       f"data.text_column in a profile)")
    text = record[text_column]
    if text is not None and not isinstance(text, str):
        return ReadError(source, line, f"field '{text_column}' is {type(text).__name__}, not a string")
    return {"id": f"{source}:{line}", "text": text or "", "metadata": _metadata_string(record.get(metadata_column))}


def _missing_column(path: Path, column: str) -> str | None:
    """For a file with a schema (parquet), what is wrong when ``column`` is not in it."""
    if not path.name.lower().endswith(".parquet"):
        return None
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # a broken file: read_rows says so
        return None
    if column in names:
        return None
    return (f"no '{column}' column (columns: {names}); name the text column (reader.text_column in the "
            "curation config, data.text_column in a profile)")


def read_jsonl(path: str | os.PathLike, text_column: str = "text", metadata_column: str = "metadata"
               ) -> Iterator[dict | ReadError]:
    """Documents of one JSON Lines file (the curation chapter reads its crawl with this)."""
    for item in read_rows(path):
        yield item if isinstance(item, ReadError) else make_document(item[1], str(path), item[0], text_column,
                                                                     metadata_column)


def read_hub(name: str, split: str = "train", text_column: str = "text", metadata_column: str = "metadata",
             **load_kwargs: Any) -> Iterator[dict | ReadError]:
    """Documents streamed from a Hub dataset (e.g. ``nicholasKluge/Pt-Corpus-Instruct``)."""
    from .loaders import load_from_hub

    stream = load_from_hub(name, split=split, streaming=True, **load_kwargs)
    for number, record in enumerate(stream, start=1):
        yield make_document(record, name, number, text_column, metadata_column)


def iter_input(source: Any, text_column: str = "text", metadata_column: str = "metadata",
               hub_split: str = "train", batch_size: int = 1000) -> Iterator[dict | ReadError]:
    """Documents from a path, a Hub name or an iterable of records (dicts or strings)."""
    if isinstance(source, (str, os.PathLike)):
        kind, where = resolve_source(source)
        if kind == "hub":
            yield from read_hub(str(where), split=hub_split, text_column=text_column, metadata_column=metadata_column)
            return
        for file in local_files(where):
            missing = _missing_column(file, text_column)
            if missing:  # one error for the file, not one per row
                yield ReadError(str(file), 0, missing)
                continue
            for item in read_rows(file, batch_size):
                yield item if isinstance(item, ReadError) else make_document(item[1], str(file), item[0],
                                                                             text_column, metadata_column)
        return
    if isinstance(source, dict) or not hasattr(source, "__iter__"):
        raise DataError("input must be a path, a Hub dataset name, or an iterable of documents "
                        f"(dicts with a '{text_column}' field, or strings); got {type(source).__name__}")
    for number, record in enumerate(source, start=1):
        yield make_document(record, "records", number, text_column, metadata_column)


# --------------------------------------------------------------------------- strict readers

def corpus_texts(source: Any = None, *, text_column: str = "text", max_documents: int | None = None,
                 split: str = "train") -> Iterator[str]:
    """The text of each document of a corpus, in order, skipping empty ones.

    ``source`` is None (the embedded sample), a file or folder (a curated corpus, shards of
    any format), a Hub name (streamed), or any iterable of rows or strings (a Dataset).
    The first row that cannot be read stops with an error naming its file and line.
    """
    if max_documents is not None and max_documents <= 0:
        raise DataError(f"max_documents must be a positive number or None, got {max_documents!r}")
    if source is None:
        from .loaders import sample_file

        source = sample_file("corpus", "train")
    count = 0
    for item in iter_input(source, text_column, hub_split=split):
        if isinstance(item, ReadError):
            raise DataError(str(item))
        if max_documents is not None and count >= max_documents:
            return
        if item["text"].strip():
            count += 1
            yield item["text"]


def read_table(path: str | os.PathLike):
    """One local file as a ``datasets.Dataset`` (no cache folder, no network); strict."""
    from datasets import Dataset

    path = Path(path)
    if path.name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise DataError(f"{path}: cannot read as parquet ({exc}); is the file complete?") from None
        if table.num_rows == 0:
            raise DataError(f"{path} is empty (no rows); point to a file with data")
        return Dataset(table)
    rows = []
    for item in read_rows(path):
        if isinstance(item, ReadError):
            raise DataError(str(item))
        number, row = item
        if not isinstance(row, dict):
            raise DataError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return Dataset.from_list(rows)

