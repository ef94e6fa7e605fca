"""The curation pipeline: read -> steps (in config order) -> sharded writer, with a report.

``run_curation(config, input, out_dir)`` is the whole chapter in one call;
``curate_main(config_path, input_path, out_dir)`` is what ``ttl curate`` runs.

Documents are read in batches. Consecutive *stateless* steps run together on
each batch, in ``num_proc`` worker processes when asked; the *stateful* steps
(exact and near dedup) run in the main process so that "keep the first copy"
means the first copy in input order. Every step counts documents and bytes in
and out and why each removed document left.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

from ttl.io import atomic_write_json

from .base import CurationInputError, Step, StepStats, utf8_len
from .config import CurationConfig, build_steps, load_curation_config
from .minhash import NearDedup
from ..readers import ReadError, iter_input
from .toxicity import ToxicityFilter
from .writer import REPORT_NAME, ShardWriter, prepare_out_dir

logger = logging.getLogger(__name__)
MAX_LISTED_ERRORS = 1000


@dataclass
class CurationReport:
    """What the pipeline read, what each step did, and what it wrote."""

    input: str
    out_dir: str
    config: dict[str, Any]
    steps: list[StepStats]
    docs_in: int = 0
    bytes_in: int = 0
    docs_out: int = 0
    bytes_out: int = 0
    input_errors: list[dict[str, Any]] = field(default_factory=list)
    n_input_errors: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "complete"
    # Per-document record of the run (only with trace=True; never saved in report.json).
    trace: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "input": self.input, "out_dir": self.out_dir,
                "docs_in": self.docs_in, "bytes_in": self.bytes_in,
                "docs_out": self.docs_out, "bytes_out": self.bytes_out,
                "seconds": round(self.seconds, 3), "files": self.files,
                "n_input_errors": self.n_input_errors, "input_errors": self.input_errors,
                "steps": [s.to_dict() for s in self.steps], "config": self.config}

    def save(self, path: str | Path) -> None:
        atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "CurationReport":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        steps = [StepStats.from_dict(s) for s in raw.pop("steps")]
        return cls(steps=steps, **raw)

    def funnel(self) -> list[dict[str, Any]]:
        """Documents and bytes left after each step, starting from the input (for the funnel plot)."""
        rows = [{"step": "input", "docs": self.docs_in, "bytes": self.bytes_in}]
        rows += [{"step": s.name, "docs": s.docs_out, "bytes": s.bytes_out} for s in self.steps]
        return rows

    def removed(self) -> list[dict[str, Any]]:
        """One row per (step, reason) with the number of documents removed."""
        return [{"step": s.name, "reason": reason, "docs": count}
                for s in self.steps for reason, count in s.removed.most_common()]

    def summary(self) -> str:
        lines = [f"curation {self.status}: {self.docs_in:,} documents ({self.bytes_in / 1e6:.2f} MB) in, "
                 f"{self.docs_out:,} ({self.bytes_out / 1e6:.2f} MB) out in {self.seconds:.1f}s"]
        for s in self.steps:
            reasons = ", ".join(f"{r} {c}" for r, c in s.removed.most_common(4))
            lines.append(f"  {s.name:<12} {s.docs_in:>8,} -> {s.docs_out:>8,} docs"
                         f"  modified {s.docs_modified:>6,}  {reasons}")
        if self.n_input_errors:
            lines.append(f"  {self.n_input_errors} unreadable input item(s) skipped, e.g. "
                         f"{self.input_errors[0]['source']}:{self.input_errors[0]['line']}: "
                         f"{self.input_errors[0]['message']}")
        return "\n".join(lines)


# --- running steps ---------------------------------------------------------------------------

def run_steps(steps: list[Step], docs: list[dict[str, Any]], trace: bool = False
              ) -> tuple[list[dict[str, Any]], list[StepStats], list[tuple[str, str, str, str | None]]]:
    """Run ``steps`` in order over ``docs``; return the survivors, per-step stats and trace events.

    A trace event is ``(doc_id, step_name, "removed" | "modified", reason)``.
    """
    stats = [StepStats(step.name) for step in steps]
    events: list[tuple[str, str, str, str | None]] = []
    for step, st in zip(steps, stats):
        start = time.perf_counter()
        if isinstance(step, NearDedup):
            step.prepare(docs)
        survivors = []
        for doc in docs:
            before = doc["text"]
            st.docs_in += 1
            st.bytes_in += utf8_len(before)
            reason = step.process(doc)
            if reason is not None:
                st.removed[reason] += 1
                st.add_example(reason, before)
                if trace:
                    events.append((doc["id"], step.name, "removed", reason))
                continue
            if doc["text"] != before:
                st.docs_modified += 1
                if trace:
                    events.append((doc["id"], step.name, "modified", None))
            st.docs_out += 1
            st.bytes_out += utf8_len(doc["text"])
            survivors.append(doc)
        docs = survivors
        st.seconds += time.perf_counter() - start
    return docs, stats, events


_WORKER_STEPS: list[list[Step]] = []


def _init_worker(segments: list[list[Step]]) -> None:
    global _WORKER_STEPS
    _WORKER_STEPS = segments


def _worker_run(args: tuple[int, list[dict[str, Any]], bool]):
    segment, docs, trace = args
    return run_steps(_WORKER_STEPS[segment], docs, trace)


def _segments(steps: list[Step]) -> list[tuple[bool, list[Step]]]:
    """Group consecutive stateless steps (parallel-safe) and keep each stateful step alone."""
    groups: list[tuple[bool, list[Step]]] = []
    for step in steps:
        if not step.stateful and groups and not groups[-1][0]:
            groups[-1][1].append(step)
        else:
            groups.append((step.stateful, [step]))
    return groups


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _limited(items: Iterable, max_documents: int | None) -> Iterator:
    count = 0
    for item in items:
        if max_documents is not None and not isinstance(item, ReadError) and count >= max_documents:
            return
        if not isinstance(item, ReadError):
            count += 1
        yield item


def run_curation(config: str | Path | dict | CurationConfig | None, input: Any, out_dir: str | Path, *,
                 overwrite: bool = False, trace: bool = False, progress: bool = True,
                 classifier=None) -> CurationReport:
    """Curate ``input`` into sharded files under ``out_dir`` and return the report (also saved as report.json).

    config: a YAML path, a dict, a CurationConfig or None (the packaged default).
    input: a JSONL/parquet file or folder, a Hub dataset name (streamed), or an
        iterable of records (dicts with a text field, or strings; a ``datasets`` Dataset works).
    trace: keep a per-document record (removal step and reason, steps that changed it,
        final text) in ``report.trace``, for scoring against labelled defects.
    classifier: a toxicity classifier callable (texts -> scores), overriding the config's.
    """
    cfg = load_curation_config(config)
    steps = build_steps(cfg)
    if classifier is not None:
        for step in steps:
            if isinstance(step, ToxicityFilter):
                step.classifier = classifier
    out = prepare_out_dir(out_dir, overwrite)
    writer = ShardWriter(out, cfg.writer["formats"], int(cfg.writer["shard_size"]))
    report = CurationReport(input=str(input) if isinstance(input, (str, Path)) else type(input).__name__,
                            out_dir=str(out), config=cfg.to_dict(), steps=[StepStats(s.name) for s in steps])
    records: dict[str, dict[str, Any]] | None = {} if trace else None
    segments = _segments(steps)
    pool = None
    if cfg.num_proc > 1 and any(not stateful for stateful, _ in segments):
        ctx = multiprocessing.get_context("spawn")  # spawn: safe with threads and on every OS
        pool = ctx.Pool(cfg.num_proc, initializer=_init_worker, initargs=([group for _, group in segments],))
    start = time.perf_counter()
    bar = tqdm(desc="curating", unit="doc", disable=not progress)
    reader = _limited(iter_input(input, cfg.reader["text_column"], cfg.reader["metadata_column"],
                                 cfg.reader["hub_split"], cfg.batch_size), cfg.reader["max_documents"])

    def finish(status: str) -> None:
        writer.flush()  # good documents already curated are written before any stop
        report.status = status
        report.files = list(writer.files)
        report.docs_out = writer.docs_written
        report.seconds = time.perf_counter() - start
        report.save(out / REPORT_NAME)

    try:
        stop_error: ReadError | None = None
        for batch in _batches(reader, cfg.batch_size):
            docs = []
            for item in batch:
                if isinstance(item, ReadError):
                    if cfg.on_error == "stop":
                        # Curate and write the good documents read before the bad line, then stop.
                        stop_error = item
                        report.n_input_errors += 1
                        report.input_errors.append(item.to_dict())
                        break
                    report.n_input_errors += 1
                    if len(report.input_errors) < MAX_LISTED_ERRORS:
                        report.input_errors.append(item.to_dict())
                    logger.warning("skipped unreadable input: %s", item)
                    continue
                docs.append(item)
                report.docs_in += 1
                report.bytes_in += utf8_len(item["text"])
                if records is not None:
                    records[item["id"]] = {"id": item["id"], "metadata": item["metadata"], "removed_by": None,
                                           "reason": None, "modified_by": [], "text": None}
            first_step = 0
            for index, (stateful, group) in enumerate(segments):
                if pool is not None and not stateful and len(docs) > 1:
                    chunk = -(-len(docs) // cfg.num_proc)
                    jobs = [(index, docs[i:i + chunk], trace) for i in range(0, len(docs), chunk)]
                    results = pool.map(_worker_run, jobs)
                    docs = [d for kept, _, _ in results for d in kept]
                    stats = results[0][1]
                    for _, more, _ in results[1:]:
                        for a, b in zip(stats, more):
                            a.merge(b)
                    events = [e for _, _, ev in results for e in ev]
                else:
                    docs, stats, events = run_steps(group, docs, trace)
                for total, part in zip(report.steps[first_step:first_step + len(group)], stats):
                    total.merge(part)
                first_step += len(group)
                if records is not None:
                    for doc_id, step_name, kind, reason in events:
                        rec = records[doc_id]
                        if kind == "removed":
                            rec["removed_by"], rec["reason"] = step_name, reason
                        else:
                            rec["modified_by"].append(step_name)
            for doc in docs:
                writer.add(doc)
                report.bytes_out += utf8_len(doc["text"])
                if records is not None:
                    records[doc["id"]]["text"] = doc["text"]
            bar.update(len(batch))
            if stop_error is not None:
                finish("stopped")
                raise CurationInputError(f"{stop_error} (set on_error: skip to report such lines and go on)")
        # Input that gave no document at all, only errors, is a failure, not an empty corpus.
        finish("failed" if report.docs_in == 0 and report.n_input_errors else "complete")
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    if records is not None:
        report.trace = list(records.values())
    return report


def curate_main(config_path: str | Path | None, input_path: str, out_dir: str | Path,
                overwrite: bool = False) -> CurationReport:
    """Entry point of ``ttl curate --config C --input I --out O``: run, print the summary, return the report."""
    report = run_curation(config_path, input_path, out_dir, overwrite=overwrite)
    print(report.summary())
    print(f"curated corpus and report.json written to {report.out_dir}")
    return report
