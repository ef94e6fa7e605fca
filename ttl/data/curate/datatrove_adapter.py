"""ttl's curation steps as datatrove pipeline steps: the same config on a laptop, a node or a Slurm cluster.

`datatrove <https://github.com/huggingface/datatrove>`_ (the library behind FineWeb) runs a
pipeline as many independent *tasks*: each task reads its own share of the input and pushes
it through the steps, locally (``LocalPipelineExecutor``, one process per task) or as a Slurm
job array (``SlurmPipelineExecutor``). This module turns the curation config that
``ttl curate`` reads into such pipelines, so the output is the one ``ttl curate`` writes: the
same kept documents, with the same ids and the same texts.

The stateless steps (normalize, line_filter, language, quality, toxicity, pii) become one
datatrove filter each (:class:`TtlStepFilter`), running in every task. The deduplicators
cannot: "keep the first copy" needs every document. datatrove's own answer is its
multi-stage MinHash (signatures per task, then buckets, clusters, filter), which keeps one
document per *cluster* of near duplicates (connected components). ttl keeps a document unless
it nearly repeats an earlier *kept* document, and confirms each LSH candidate with the
signatures' estimated Jaccard: a different rule, which gives different kept sets near the
threshold. So we do dedup in datatrove's three-stage shape with ttl's own functions and rule:

1. *map* (N tasks): the stateless steps, then :class:`TtlDedupSignatures` computes, for each
   surviving document, the exact-dedup digest and the MinHash signature with ttl's
   functions (the costly, per-byte part of dedup, in parallel), and the documents are written
   to an intermediate folder;
2. *index* (1 task): :class:`TtlDedupIndex` reads the signatures of all tasks, puts them back
   in input order and applies ttl's rule (exact digest seen? LSH candidates among kept
   documents, verified?) in one pass: a few dictionary operations per document, no text;
3. *filter* (N tasks): :class:`TtlDedupFilter` drops the documents the index named, and the
   rest is written as ``shard-NNNNN.jsonl`` (or parquet) with ``text``, ``metadata`` and ``id``.

Only stage 2 is serial, and it touches no text: signatures are 512 bytes a document
(128 permutations), so its memory, not its time, is what bounds the corpus one index pass can
take (about 2 GB for 4 million documents, as ttl's own NearDedup with ``verify``).

    from ttl.data.curate.datatrove_adapter import run_datatrove_curation
    result = run_datatrove_curation(None, "crawl.jsonl", "runs/smoke/corpus-dt", tasks=2)
    print(result.report.summary())

On Slurm, ``executor="slurm"`` with the executor's settings (``partition=``, ``time=``, ...)
launches the same stages as job arrays that depend on each other. The input is read with
ttl's reader (local files, as seen from every node: a shared filesystem); a folder with at
least as many files as tasks is split by file, anything else by document (every task
reads the files and keeps every N-th document).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.executor import LocalPipelineExecutor
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers.base import BaseReader

from ttl.config import ConfigError

from ..readers import ReadError, iter_input, local_files, resolve_source
from .base import CurationInputError, Step, StepStats, utf8_len
from .config import CurationConfig, build_steps, load_curation_config
from .dedup import ExactDedup, normalized_text_hash
from .minhash import LSHIndex, NearDedup, estimated_jaccard, minhash_signatures, shingle_hashes
from .pipeline import CurationReport
from .toxicity import ToxicityFilter
from .writer import REPORT_NAME, prepare_out_dir

#: Keys of ``Document.metadata`` the adapter uses: the record's own metadata (a JSON string, as
#: ttl keeps it) and its place in the input (file number, line), which defines "the first copy".
META_KEY = "ttl_metadata"
ORDER_KEY = "ttl_order"
WORK_DIR_NAME = ".datatrove"  # hidden: ttl's readers skip it when they read the output folder
SIGNATURE_BATCH = 1000


# --------------------------------------------------------------------------- reading

class TtlReader(BaseReader):
    """Documents of local JSONL/parquet/CSV files, read with ttl's reader (same ids as ``ttl curate``).

    Each task takes every ``world_size``-th file when there are enough files (and no
    ``max_documents``), else every ``world_size``-th document of the whole input. Unreadable
    lines are skipped and counted (``on_error: skip``), or stop the task (``on_error: stop``).
    """

    name = "ttl reader"

    def __init__(self, source: str | Path, text_column: str = "text", metadata_column: str = "metadata",
                 max_documents: int | None = None, on_error: str = "skip"):
        super().__init__()
        kind, where = resolve_source(str(source))
        if kind == "hub":
            raise ConfigError(f"the datatrove adapter reads local files, not the Hub dataset {where!r}: "
                              "download it first, or read it with datatrove's HuggingFaceDatasetReader")
        self.files = [str(p) for p in local_files(where)]
        self.text_column, self.metadata_column = text_column, metadata_column
        self.max_documents, self.on_error = max_documents, on_error

    def by_file(self, world_size: int) -> bool:
        return self.max_documents is None and len(self.files) >= world_size

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        by_file = self.by_file(world_size)
        count = 0  # documents of the whole input seen so far (line mode)
        for file_index, path in enumerate(self.files):
            if by_file and file_index % world_size != rank:
                continue
            for item in iter_input(path, self.text_column, self.metadata_column):
                if isinstance(item, ReadError):
                    if by_file or rank == 0:  # in line mode every task sees it: one reports it
                        self.stat_update("input_errors")
                        if self.on_error == "stop":
                            raise CurationInputError(f"{item} (set on_error: skip to report such lines and go on)")
                    continue
                if self.max_documents is not None and count >= self.max_documents:
                    return
                mine = by_file or count % world_size == rank
                count += 1
                if not mine:
                    continue
                line = int(item["id"].rsplit(":", 1)[1])
                doc = Document(text=item["text"], id=item["id"],
                               metadata={META_KEY: item["metadata"], ORDER_KEY: [file_index, line]})
                self.stat_update("documents")
                self.stat_update("bytes_in", value=utf8_len(doc.text))
                yield doc


class _RankFileReader(PipelineStep):
    """The intermediate documents this task's rank wrote in the previous stage, in their order."""

    type = "📖 - READER"
    name = "ttl stage reader"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        folder = get_datafolder(self.folder)
        name = f"{rank:05d}.jsonl"
        if not folder.exists(name):  # a task that kept no document wrote no file
            return
        with folder.open(name, "rt", encoding="utf-8") as handle:
            for line in handle:
                raw = json.loads(line)
                yield Document(text=raw["text"], id=raw["id"], metadata=raw.get("metadata", {}))


def _intermediate_writer(folder: str):
    from datatrove.pipeline.writers import JsonlWriter

    return JsonlWriter(folder, output_filename="${rank}.jsonl", compression=None)


def _output_adapter(self, document: Document) -> dict:
    """What a curated shard holds: ttl's columns (text, metadata as a JSON string) and the id."""
    return {"text": document.text, "metadata": document.metadata.get(META_KEY, "{}"), "id": document.id}


def _output_writer(out_dir: str, fmt: str):
    if fmt == "jsonl":
        from datatrove.pipeline.writers import JsonlWriter

        return JsonlWriter(out_dir, output_filename="shard-${rank}.jsonl", compression=None, adapter=_output_adapter)
    from datatrove.pipeline.writers import ParquetWriter

    return ParquetWriter(out_dir, output_filename="shard-${rank}.parquet", compression=None, adapter=_output_adapter)


# --------------------------------------------------------------------------- stateless steps

class TtlStepFilter(BaseFilter):
    """One stateless ttl curation step as a datatrove filter: repairs ``doc.text``, drops with ttl's reason.

    The stats count what ttl's report counts: ``dropped_<reason>``, ``modified``, bytes in and out.
    """

    def __init__(self, step: Step):
        if step.stateful:
            raise ConfigError(f"{step.name} remembers earlier documents: it runs in the dedup stages, "
                              "not as a per-task filter")
        self.name = f"ttl {step.name}"  # before the base __init__, which names the stats after it
        super().__init__()
        self.step = step

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        record = {"id": doc.id, "text": doc.text, "metadata": doc.metadata.get(META_KEY, "{}")}
        self.stat_update("bytes_in", value=utf8_len(doc.text))
        reason = self.step.process(record)
        if reason is not None:
            return False, reason
        if record["text"] != doc.text:
            doc.text = record["text"]
            self.stat_update("modified")
        self.stat_update("bytes_out", value=utf8_len(doc.text))
        return True


# --------------------------------------------------------------------------- dedup, three stages

def _check_dedup_steps(steps: list[Step]) -> None:
    for step in steps:
        if not isinstance(step, (ExactDedup, NearDedup)):
            raise ConfigError(f"the datatrove adapter knows how to split exact_dedup and near_dedup into stages, "
                              f"not the stateful step {step.name!r}")


class TtlDedupSignatures(PipelineStep):
    """Dedup stage 1 (every task): ttl's exact digest and MinHash signature of each document.

    Writes ``<folder>/<rank>.npz`` (ids, input order, one array per dedup step) and passes the
    documents on unchanged, in the same order, to the writer that follows.
    """

    type = "🫂 - DEDUP"
    name = "ttl dedup signatures"

    def __init__(self, steps: list[Step], folder: str):
        super().__init__()
        _check_dedup_steps(steps)
        self.steps, self.folder = steps, folder

    def _flush(self, batch: list[Document], arrays: dict[str, list[np.ndarray]]) -> None:
        for j, step in enumerate(self.steps):
            if isinstance(step, ExactDedup):
                arrays[f"step{j}"].append(np.frombuffer(b"".join(normalized_text_hash(d.text) for d in batch),
                                                        dtype=np.uint8).reshape(len(batch), 16))
            else:
                hashes = [shingle_hashes(d.text, step.ngram) for d in batch]
                arrays[f"step{j}"].append(minhash_signatures(hashes, step.a, step.b).astype(np.uint32))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        ids: list[str] = []
        order: list[list[int]] = []
        arrays: dict[str, list[np.ndarray]] = {f"step{j}": [] for j in range(len(self.steps))}
        batch: list[Document] = []
        for doc in data or ():
            batch.append(doc)
            if len(batch) >= SIGNATURE_BATCH:
                with self.track_time("batch"):
                    self._flush(batch, arrays)
                ids += [d.id for d in batch]
                order += [d.metadata[ORDER_KEY] for d in batch]
                yield from batch
                batch = []
        if batch:
            with self.track_time("batch"):
                self._flush(batch, arrays)
            ids += [d.id for d in batch]
            order += [d.metadata[ORDER_KEY] for d in batch]
            yield from batch
        out = {"ids": np.array(ids, dtype=str), "order": np.array(order, dtype=np.int64).reshape(-1, 2)}
        for j, step in enumerate(self.steps):
            width = 16 if isinstance(step, ExactDedup) else step.num_perm
            dtype = np.uint8 if isinstance(step, ExactDedup) else np.uint32
            parts = arrays[f"step{j}"]
            out[f"step{j}"] = np.concatenate(parts) if parts else np.zeros((0, width), dtype=dtype)
        self.stat_update("documents", value=len(ids))
        with get_datafolder(self.folder).open(f"{rank:05d}.npz", "wb") as handle:
            np.savez(handle, **out)


class TtlDedupIndex(PipelineStep):
    """Dedup stage 2 (one task): ttl's keep-the-first rule over every task's signatures, in input order.

    For each document, in the order of the input: an exact digest seen before removes it
    (``exact_duplicate``); otherwise, LSH candidates among the documents kept so far, confirmed
    by the signatures' estimated Jaccard when the step verifies, remove it (``near_duplicate``).
    Writes ``<folder>/<rank>.json``, the removed ids of each map task with their reasons.
    """

    type = "🫂 - DEDUP"
    name = "ttl dedup index"

    def __init__(self, steps: list[Step], signatures: str, folder: str):
        super().__init__()
        _check_dedup_steps(steps)
        self.steps, self.signatures, self.folder = steps, signatures, folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the dedup index stage runs as one task (tasks=1)")
        source = get_datafolder(self.signatures)
        files = sorted(source.list_files(glob_pattern="*.npz"))
        loaded = []
        for name in files:
            with source.open(name, "rb") as handle:
                npz = np.load(handle)
                loaded.append({k: npz[k] for k in npz.files})
        ranks = [int(Path(name).stem) for name in files]
        owner = np.concatenate([np.full(len(z["ids"]), r, dtype=np.int64) for r, z in zip(ranks, loaded)]
                               ) if loaded else np.zeros(0, dtype=np.int64)
        ids = np.concatenate([z["ids"] for z in loaded]) if loaded else np.zeros(0, dtype=str)
        order = np.concatenate([z["order"] for z in loaded]) if loaded else np.zeros((0, 2), dtype=np.int64)
        columns = [np.concatenate([z[f"step{j}"] for z in loaded]) if loaded else None
                   for j in range(len(self.steps))]
        sequence = np.lexsort((order[:, 1], order[:, 0])) if len(order) else np.zeros(0, dtype=np.int64)

        seen: list[set[bytes]] = [set() for _ in self.steps]
        index = [LSHIndex(s.bands, s.rows) if isinstance(s, NearDedup) else None for s in self.steps]
        kept_sigs: list[dict[int, np.ndarray]] = [{} for _ in self.steps]
        removed: dict[int, dict[str, list[str]]] = {r: {} for r in ranks}
        with self.track_time():
            for i in sequence:
                self.stat_update("documents")
                for j, step in enumerate(self.steps):
                    reason = None
                    if isinstance(step, ExactDedup):
                        digest = columns[j][i].tobytes()
                        if digest in seen[j]:
                            reason = "exact_duplicate"
                        else:
                            seen[j].add(digest)
                    else:
                        sig = columns[j][i]
                        candidates = index[j].query(sig)
                        if step.verify:
                            candidates = {c for c in candidates
                                          if estimated_jaccard(sig, kept_sigs[j][c]) >= step.threshold}
                        if candidates:
                            reason = "near_duplicate"
                        else:
                            index[j].insert(int(i), sig)
                            if step.verify:
                                kept_sigs[j][int(i)] = sig
                    if reason is not None:
                        removed[int(owner[i])][str(ids[i])] = [step.name, reason]
                        self.stat_update(f"dropped_{reason}")
                        break
        out = get_datafolder(self.folder)
        for r, entries in removed.items():
            with out.open(f"{r:05d}.json", "wt", encoding="utf-8") as handle:
                json.dump(entries, handle, ensure_ascii=False)
        yield from ()  # a generator like every datatrove step; this one yields no document


class TtlDedupFilter(PipelineStep):
    """Dedup stage 3 (every task): drop the documents that stage 2 named for this task."""

    type = "🫂 - DEDUP"
    name = "ttl dedup filter"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        folder = get_datafolder(self.folder)
        name = f"{rank:05d}.json"
        removed: dict[str, list[str]] = {}
        if folder.exists(name):
            with folder.open(name, "rt", encoding="utf-8") as handle:
                removed = json.load(handle)
        for doc in data or ():
            self.stat_update("total")
            hit = removed.get(doc.id)
            if hit is not None:
                self.stat_update("dropped", f"dropped_{hit[0]}:{hit[1]}")
                continue
            self.stat_update("forwarded")
            yield doc


# --------------------------------------------------------------------------- building the stages

@dataclass
class Stage:
    """One datatrove job: its steps and how many tasks run it (1 for a dedup index)."""

    name: str
    steps: list
    tasks: int


def _segments(steps: list[Step]) -> list[tuple[list[Step], list[Step]]]:
    """(stateless steps, the stateful steps right after them) pairs, in config order."""
    out: list[tuple[list[Step], list[Step]]] = [([], [])]
    for step in steps:
        if step.stateful:
            out[-1][1].append(step)
        else:
            if out[-1][1]:
                out.append(([], []))
            out[-1][0].append(step)
    return out


def datatrove_stages(config: str | Path | dict | CurationConfig | None, input: str | Path, out_dir: str | Path,
                     work_dir: str | Path, *, tasks: int = 2, classifier=None) -> list[Stage]:
    """The datatrove stages that curate ``input`` as ``ttl curate`` does with the same ``config``.

    A map stage (``tasks`` tasks) runs the stateless steps; each group of dedup steps adds a
    signatures pass at the end of the map stage, an index stage (one task) and a filter at
    the start of the next map stage. The last map stage writes the curated shards.
    """
    cfg = load_curation_config(config)
    if tasks < 1:
        raise ConfigError(f"tasks must be a positive number, got {tasks}")
    steps = build_steps(cfg)
    if classifier is not None:
        for step in steps:
            if isinstance(step, ToxicityFilter):
                step.classifier = classifier
    formats = cfg.writer["formats"]
    bad = sorted(set(formats) - {"jsonl", "parquet"})
    if bad or not formats:
        raise ConfigError(f"writer.formats must be a non-empty list of 'jsonl' and/or 'parquet', got {formats}")
    work = str(Path(work_dir))
    stages: list[Stage] = []
    segments = _segments(steps)
    reader: list = [TtlReader(input, cfg.reader["text_column"], cfg.reader["metadata_column"],
                              cfg.reader["max_documents"], cfg.on_error)]
    for k, (stateless, stateful) in enumerate(segments):
        pipeline = reader + [TtlStepFilter(s) for s in stateless]
        if stateful:
            sigs, docs, removed = f"{work}/sigs-{k}", f"{work}/docs-{k}", f"{work}/removed-{k}"
            pipeline += [TtlDedupSignatures(stateful, sigs), _intermediate_writer(docs)]
            stages.append(Stage(f"map-{k}", pipeline, tasks))
            stages.append(Stage(f"dedup-index-{k}", [TtlDedupIndex(stateful, sigs, removed)], 1))
            reader = [_RankFileReader(docs), TtlDedupFilter(removed)]
        else:
            pipeline += [_output_writer(str(out_dir), fmt) for fmt in formats]
            stages.append(Stage(f"map-{k}", pipeline, tasks))
            reader = []
    if reader:  # the config ends with dedup: a last map stage only filters and writes
        stages.append(Stage(f"map-{len(segments)}", reader + [_output_writer(str(out_dir), fmt) for fmt in formats],
                            tasks))
    return stages


def make_executors(stages: list[Stage], work_dir: str | Path, *, executor: str = "local", workers: int = -1,
                   resume: bool = False, **executor_kwargs: Any) -> list:
    """One datatrove executor per stage, each depending on the one before (run the last one).

    executor: ``"local"`` (``LocalPipelineExecutor``, ``workers`` processes at a time) or
    ``"slurm"`` (``SlurmPipelineExecutor``; give ``partition=``, ``time=`` and any other of its
    settings in ``executor_kwargs``; a dedup index stage gets one task).
    resume: skip the tasks a previous run with the same work folder completed (datatrove's
    ``skip_completed``); otherwise every task runs again.
    """
    executors: list = []
    for stage in stages:
        logging_dir = str(Path(work_dir) / "logs" / stage.name)
        previous = executors[-1] if executors else None
        if executor == "local":
            ex = LocalPipelineExecutor(stage.steps, tasks=stage.tasks, workers=min(workers, stage.tasks)
                                       if workers > 0 else stage.tasks, logging_dir=logging_dir,
                                       depends=previous, skip_completed=resume, **executor_kwargs)
        elif executor == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            ex = SlurmPipelineExecutor(stage.steps, tasks=stage.tasks, logging_dir=logging_dir, depends=previous,
                                       skip_completed=resume, job_name=f"ttl-curate-{stage.name}",
                                       **executor_kwargs)
        else:
            raise ConfigError(f"executor must be 'local' or 'slurm', got {executor!r}")
        executors.append(ex)
    return executors


# --------------------------------------------------------------------------- running, and the report

@dataclass
class DatatroveRun:
    """What a local datatrove curation made: the report (as ``ttl curate``'s) and where things are."""

    report: CurationReport
    out_dir: Path
    work_dir: Path
    stages: list[Stage] = field(default_factory=list)

    def documents(self) -> Iterator[dict[str, Any]]:
        """The kept documents ``{"id", "text", "metadata"}``, shard by shard."""
        for path in sorted(self.out_dir.glob("shard-*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    yield json.loads(line)


def _stage_stats(work_dir: Path, stage: str) -> list[dict[str, Any]]:
    path = work_dir / "logs" / stage / "stats.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def _total(stats: dict[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return int(value.get("total", 0) if isinstance(value, dict) else value)


def _report(cfg: CurationConfig, input: str, out_dir: Path, work_dir: Path, stages: list[Stage],
            seconds: float) -> CurationReport:
    """ttl's report, filled from datatrove's stats: documents in and out per step, and why they left."""
    names = [s.name for s in build_steps(cfg)]
    steps = {name: StepStats(name) for name in names}
    report = CurationReport(input=str(input), out_dir=str(out_dir), config=cfg.to_dict(),
                            steps=list(steps.values()))
    dedup_in: dict[str, int] = {}
    for stage in stages:
        for block in _stage_stats(work_dir, stage.name):
            name, stats = block.get("name", ""), block.get("stats", {})
            if name.endswith("ttl reader"):
                report.docs_in += _total(stats, "documents")
                report.bytes_in += _total(stats, "bytes_in")
                report.n_input_errors += _total(stats, "input_errors")
            for step_name in names:
                if name.endswith(f"ttl {step_name}"):
                    st = steps[step_name]
                    st.docs_in += _total(stats, "total")
                    st.docs_out += _total(stats, "forwarded")
                    st.bytes_in += _total(stats, "bytes_in")
                    st.bytes_out += _total(stats, "bytes_out")
                    st.docs_modified += _total(stats, "modified")
                    st.seconds += float(block.get("time_stats", {}).get("total", 0.0) or 0.0)
                    for key in stats:
                        if key.startswith("dropped_"):
                            st.removed[key[len("dropped_"):]] += _total(stats, key)
            if name.endswith("ttl dedup signatures"):
                dedup_in[stage.name] = _total(stats, "documents")
            if name.endswith("ttl dedup filter"):
                for key in stats:
                    if key.startswith("dropped_") and ":" in key:
                        step_name, reason = key[len("dropped_"):].split(":", 1)
                        if step_name in steps:
                            steps[step_name].removed[reason] += _total(stats, key)
    # Documents in and out of each dedup step follow from the removals, in config order.
    previous = None
    for name in names:
        st = steps[name]
        if name in ("exact_dedup", "near_dedup"):
            st.docs_in = previous.docs_out if previous is not None else report.docs_in
            st.docs_out = st.docs_in - sum(st.removed.values())
        previous = st
    files = sorted(p.name for p in out_dir.glob("shard-*.*"))
    report.files = files
    report.docs_out = previous.docs_out if previous is not None else report.docs_in
    report.bytes_out = 0
    for doc_file in (out_dir / f for f in files if f.endswith(".jsonl")):
        with open(doc_file, encoding="utf-8") as handle:
            report.bytes_out += sum(utf8_len(json.loads(line)["text"]) for line in handle)
    report.seconds = seconds
    report.status = "failed" if report.docs_in == 0 and report.n_input_errors else "complete"
    return report


def _run_quietly(executor) -> None:
    """Run with datatrove's console log silenced (loguru's sinks, and the stderr its tasks log to)."""
    from loguru import logger

    logger.remove()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            executor.run()
    finally:
        logger.remove()  # the tasks' sinks point at the discarded buffer
        logger.add(sys.stderr)  # loguru's default handler again


def run_datatrove_curation(config: str | Path | dict | CurationConfig | None, input: str | Path,
                           out_dir: str | Path, *, tasks: int = 2, workers: int = -1, work_dir: str | Path | None = None,
                           overwrite: bool = False, resume: bool = False, keep_intermediate: bool = False,
                           quiet: bool = False, classifier=None, **executor_kwargs: Any) -> DatatroveRun:
    """Curate ``input`` into ``out_dir`` with datatrove's LocalPipelineExecutor, as ``ttl curate`` would.

    tasks: how many parts the input is cut into (the map stages run ``tasks`` tasks);
    workers: how many of them run at once (default: all; 1 runs them one after the other, in
    this process). ``work_dir`` (default ``out_dir/.datatrove``) holds the intermediate
    documents, signatures and datatrove's logs and stats. The curated shards are
    ``shard-NNNNN.jsonl`` (one per task) and ``report.json`` is ttl's report, so the output
    folder reads like one of ``ttl curate``. The intermediate copies of the corpus are deleted
    once the run is done unless ``keep_intermediate``; datatrove's logs and stats stay.
    ``executor_kwargs`` go to every ``LocalPipelineExecutor`` (``start_method="fork"``, say).
    ``quiet`` keeps datatrove's console log out of this process's output (a notebook); the
    log of every task is still written under ``work_dir/logs/``.
    """
    cfg = load_curation_config(config)
    out = prepare_out_dir(out_dir, overwrite)
    work = Path(work_dir) if work_dir is not None else out / WORK_DIR_NAME
    if work.exists() and not resume:
        shutil.rmtree(work)  # intermediate files of an earlier run: never mixed with this one
    work.mkdir(parents=True, exist_ok=True)
    stages = datatrove_stages(cfg, input, out, work, tasks=tasks, classifier=classifier)
    executors = make_executors(stages, work, executor="local", workers=workers, resume=resume, **executor_kwargs)
    start = time.perf_counter()
    if quiet:
        _run_quietly(executors[-1])
    else:
        executors[-1].run()
    report = _report(cfg, str(input), out, work, stages, time.perf_counter() - start)
    report.save(out / REPORT_NAME)
    if not keep_intermediate:
        for folder in work.iterdir():
            if folder.name.startswith(("docs-", "sigs-", "removed-")):
                shutil.rmtree(folder)
    return DatatroveRun(report=report, out_dir=out, work_dir=work, stages=stages)


def slurm_executors(config: str | Path | dict | CurationConfig | None, input: str | Path, out_dir: str | Path, *,
                    tasks: int, work_dir: str | Path, partition: str, time: str, resume: bool = True,
                    **slurm_kwargs: Any) -> list:
    """The same stages as Slurm job arrays (``executors[-1].run()`` submits them all, in order).

    Slurm runs are long and may be cut: ``resume`` (datatrove's ``skip_completed``) defaults to
    True, so a relaunch redoes only the tasks that did not finish. ``report.json`` is not
    written here; datatrove's stats are under ``work_dir/logs/<stage>/``.
    """
    stages = datatrove_stages(config, input, out_dir, work_dir, tasks=tasks)
    return make_executors(stages, work_dir, executor="slurm", resume=resume, partition=partition, time=time,
                          **slurm_kwargs)


__all__ = ["DatatroveRun", "Stage", "TtlDedupFilter", "TtlDedupIndex", "TtlDedupSignatures", "TtlReader",
           "TtlStepFilter", "datatrove_stages", "make_executors", "run_datatrove_curation", "slurm_executors"]
