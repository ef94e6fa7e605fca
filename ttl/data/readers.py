"""Readers: documents from local JSONL/parquet files, in-memory records, or a streamed Hub dataset.

Every reader is a generator, so memory stays bounded by one batch whatever the
corpus size. Each yields either a document ``{"id", "text", "metadata"}`` or a
:class:`ReadError` that names the file, the line and what to do; the pipeline
then stops or skips according to ``on_error`` (and the report lists every
skipped line, so nothing disappears silently).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ttl.config import ConfigError

LOCAL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".parquet")


@dataclass
class ReadError:
    """A piece of input that could not be read as a document."""

    source: str
    line: int  # 1-based line (JSONL) or row (parquet, records); 0 for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "message": self.message}


def _metadata_string(value: Any) -> str:
    """Metadata travels as a JSON string (as on the Hub); dicts are encoded, None becomes {}."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _make_doc(record: Any, source: str, line: int, text_column: str, metadata_column: str):
    if isinstance(record, str):
        return {"id": f"{source}:{line}", "text": record, "metadata": "{}"}
    if not isinstance(record, dict):
        return ReadError(source, line, f"expected a JSON object with a '{text_column}' field, "
                                       f"got {type(record).__name__}")
    if text_column not in record:
        return ReadError(source, line, f"no '{text_column}' field (fields: {sorted(record)[:10]}); "
                                       f"set reader.text_column in the curation config to the right name")
    text = record[text_column]
    if not isinstance(text, str):
        return ReadError(source, line, f"field '{text_column}' is {type(text).__name__}, not a string")
    return {"id": f"{source}:{line}", "text": text, "metadata": _metadata_string(record.get(metadata_column))}


def read_jsonl(path: str | Path, text_column: str = "text", metadata_column: str = "metadata"
               ) -> Iterator[dict | ReadError]:
    """One document per line; undecodable bytes, broken JSON and missing fields become ReadErrors."""
    path = Path(path)
    source = str(path)
    opener = gzip.open if path.suffix == ".gz" else open
    empty = True
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            empty = False
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ReadError(source, number, f"not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 4]!r}); "
                                                "re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ReadError(source, number, f"malformed JSON ({exc.msg} at column {exc.colno}); "
                                                "each line must be one JSON object")
                continue
            yield _make_doc(record, source, number, text_column, metadata_column)
    if empty:
        yield ReadError(source, 0, "file is empty (no documents); check that the right file was given")


def read_parquet(path: str | Path, text_column: str = "text", metadata_column: str = "metadata",
                 batch_size: int = 1000) -> Iterator[dict | ReadError]:
    """Rows of a parquet file, read ``batch_size`` at a time."""
    import pyarrow.parquet as pq

    path = Path(path)
    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        yield ReadError(source, 0, f"cannot read as parquet ({exc}); is the file complete?")
        return
    columns = parquet.schema_arrow.names
    if text_column not in columns:
        yield ReadError(source, 0, f"no '{text_column}' column (columns: {columns}); "
                                   f"set reader.text_column in the curation config")
        return
    if parquet.metadata.num_rows == 0:
        yield ReadError(source, 0, "file is empty (no rows)")
        return
    wanted = [c for c in (text_column, metadata_column) if c in columns]
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=wanted):
        for record in batch.to_pylist():
            row += 1
            yield _make_doc(record, source, row, text_column, metadata_column)


def read_records(records: Iterable[Any], source: str = "records", text_column: str = "text",
                 metadata_column: str = "metadata") -> Iterator[dict | ReadError]:
    """Documents from any iterable of dicts or strings: a list, a ``datasets`` (Iterable)Dataset."""
    for number, record in enumerate(records, start=1):
        yield _make_doc(record, source, number, text_column, metadata_column)


def read_hub(name: str, split: str = "train", text_column: str = "text", metadata_column: str = "metadata",
             **load_kwargs: Any) -> Iterator[dict | ReadError]:
    """Stream a Hugging Face dataset (e.g. ``nicholasKluge/Pt-Corpus-Instruct``) without downloading it whole."""
    from datasets import load_dataset

    stream = load_dataset(name, split=split, streaming=True, **load_kwargs)
    yield from read_records(stream, source=name, text_column=text_column, metadata_column=metadata_column)


def local_files(path: str | Path) -> list[Path]:
    """The JSONL/parquet files of a file or folder path (sorted), or a clear error."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(LOCAL_SUFFIXES))
        if not files:
            raise ConfigError(f"folder {path} holds no {', '.join(LOCAL_SUFFIXES)} files")
        return files
    if path.is_file():
        if not path.name.endswith(LOCAL_SUFFIXES):
            raise ConfigError(f"{path}: unsupported file type; use one of {', '.join(LOCAL_SUFFIXES)}")
        return [path]
    raise ConfigError(f"input {path} does not exist")


def is_hub_name(spec: str) -> bool:
    """``hub:owner/name``, or ``owner/name`` that is not a local path and has no file suffix."""
    if spec.startswith("hub:"):
        return True
    return (spec.count("/") == 1 and not Path(spec).exists() and not spec.endswith(LOCAL_SUFFIXES)
            and not spec.startswith((".", "/", "~")))


def iter_input(source: Any, text_column: str = "text", metadata_column: str = "metadata",
               hub_split: str = "train", batch_size: int = 1000) -> Iterator[dict | ReadError]:
    """Documents from whatever ``run_curation`` was given: a path, a Hub name or an iterable of records."""
    if isinstance(source, (str, Path)):
        spec = str(source)
        if isinstance(source, str) and is_hub_name(spec):
            yield from read_hub(spec.removeprefix("hub:"), split=hub_split, text_column=text_column,
                                metadata_column=metadata_column)
            return
        for file in local_files(spec):
            if file.suffix == ".parquet":
                yield from read_parquet(file, text_column, metadata_column, batch_size)
            else:
                yield from read_jsonl(file, text_column, metadata_column)
        return
    if isinstance(source, dict) or not hasattr(source, "__iter__"):
        raise ConfigError("input must be a path, a Hub dataset name, or an iterable of documents "
                          f"(dicts with a '{text_column}' field, or strings); got {type(source).__name__}")
    yield from read_records(source, "records", text_column, metadata_column)
