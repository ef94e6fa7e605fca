"""The curation pipeline: read -> steps (in config order) -> sharded writer, with a report.

``run_curation(config, input, out_dir)`` is the whole chapter in one call;
``curate_main(config_path, input_path, out_dir)`` is what ``ttl curate`` runs.

Documents are read in batches of ``batch_size``, each cut into one chunk per worker
(:func:`_split_batch`). The leading *stateless* steps (normalize ... pii in the
default config) run on each chunk, in ``num_proc`` worker processes when asked, several
chunks in flight at once while the main process deduplicates and writes the chunks
before them; the workers also compute what deduplication needs that depends on one
document only (its hash, its MinHash signature). The *stateful* steps (exact and near
dedup) then run in the main process, chunk after chunk in input order, so that "keep
the first copy" means the first copy in input order and the output is the same whatever
``num_proc``. Steps after the first stateful one run in the main process too. Every
step counts documents and bytes in and out and why each removed document left.

Modifications. Every repair a step makes (a mojibake fix, a boilerplate line removed, a
toxic term or a phone number masked) is counted by reason in the report and listed in
``modifications.ndjson`` beside it, with the text around it before and after, up to
``report.max_modifications`` rows of ``report.snippet_chars`` characters a side.

Resuming. After each chunk that completed a shard, the run saves a checkpoint in
``out_dir/.curation-state/``: how many input items were consumed, the report so far,
the documents curated but not yet written, and what the deduplicators remember (see
:mod:`ttl.data.curate.store`); every file is written atomically and ``state.json``
last. A run that is killed, for any reason, continues with ``resume=True``
(``ttl curate --resume``) from its last complete shard and writes byte for byte the
output of an uninterrupted run: the input is read again from the start and the items
already consumed are skipped (a stream must give the same items again, as a local file
or a Hub dataset does).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

from ttl.config import ConfigError
from ttl.io import atomic_write_json, atomic_write_text

from .base import CurationInputError, Step, StepStats, utf8_len
from .config import CurationConfig, build_steps, load_curation_config
from .dedup import ExactDedup
from .langid import LanguageFilter
from .minhash import NearDedup
from ..processes import fork_is_safe as _fork_is_safe
from ..processes import start_pool
from ..readers import ReadError, iter_input
from .toxicity import ToxicityFilter
from .writer import (MODIFICATIONS_NAME, REPORT_NAME, STATE_DIR, ShardWriter, _previous_files, prepare_out_dir,
                     remove_stale_shards)

logger = logging.getLogger(__name__)
MAX_LISTED_ERRORS = 1000
STATE_VERSION = 1
STATE_NAME = "state.json"


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
    n_modifications: int = 0          # every repair made (documents kept or not)
    modifications_listed: int = 0     # of which listed in modifications_file
    modifications_file: str | None = None
    resumed: int = 0                  # how many times this run was resumed
    # Per-document record of the run (only with trace=True; never saved in report.json).
    trace: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "input": self.input, "out_dir": self.out_dir,
                "docs_in": self.docs_in, "bytes_in": self.bytes_in,
                "docs_out": self.docs_out, "bytes_out": self.bytes_out,
                "seconds": round(self.seconds, 3), "files": self.files,
                "n_input_errors": self.n_input_errors, "input_errors": self.input_errors,
                "n_modifications": self.n_modifications, "modifications_listed": self.modifications_listed,
                "modifications_file": self.modifications_file, "resumed": self.resumed,
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

    def modified(self) -> list[dict[str, Any]]:
        """One row per (step, reason) with the number of repairs made."""
        return [{"step": s.name, "reason": reason, "repairs": count}
                for s in self.steps for reason, count in s.modifications.most_common()]

    def modifications(self) -> list[dict[str, Any]]:
        """The rows of the modifications file (each repair: id, step, reason, before, after, fate)."""
        if not self.modifications_file:
            return []
        path = Path(self.out_dir) / self.modifications_file
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def summary(self) -> str:
        lines = [f"curation {self.status}: {self.docs_in:,} documents ({self.bytes_in / 1e6:.2f} MB) in, "
                 f"{self.docs_out:,} ({self.bytes_out / 1e6:.2f} MB) out in {self.seconds:.1f}s"]
        for s in self.steps:
            reasons = ", ".join(f"{r} {c}" for r, c in s.removed.most_common(4))
            repairs = ", ".join(f"{r} {c}" for r, c in s.modifications.most_common(3))
            lines.append(f"  {s.name:<12} {s.docs_in:>8,} -> {s.docs_out:>8,} docs"
                         f"  modified {s.docs_modified:>6,}" + (f" ({repairs})" if repairs else "")
                         + (f"  removed: {reasons}" if reasons else ""))
        if self.n_modifications:
            listed = ("all" if self.modifications_listed == self.n_modifications
                      else f"the first {self.modifications_listed:,}")
            lines.append(f"  {self.n_modifications:,} repairs, {listed} listed with the text before and after "
                         f"in {self.modifications_file}")
        if self.n_input_errors:
            lines.append(f"  {self.n_input_errors} unreadable input item(s) skipped, e.g. "
                         f"{self.input_errors[0]['source']}:{self.input_errors[0]['line']}: "
                         f"{self.input_errors[0]['message']}")
        return "\n".join(lines)


# --- running steps ---------------------------------------------------------------------------

def run_steps(steps: list[Step], docs: list[dict[str, Any]], trace: bool = False,
              removed: list | None = None
              ) -> tuple[list[dict[str, Any]], list[StepStats], list[tuple[str, str, str, str | None]]]:
    """Run ``steps`` in order over ``docs``; return the survivors, per-step stats and trace events.

    A trace event is ``(doc_id, step_name, "removed" | "modified", reason)``. With a list
    as ``removed``, each removed document is appended to it as ``(doc, step_name, reason)``.
    """
    stats = [StepStats(step.name) for step in steps]
    events: list[tuple[str, str, str, str | None]] = []
    for step, st in zip(steps, stats):
        start = time.perf_counter()
        if isinstance(step, NearDedup):
            step.prepare([d for d in docs if "_minhash" not in d])
        else:
            step.prepare(docs)
        survivors = []
        for doc in docs:
            before = doc["text"]
            edits = doc.get("edits")
            logged = len(edits) if edits is not None else 0
            size = doc.get("_size")  # UTF-8 bytes of the text, kept while the text does not change
            if size is None:
                size = utf8_len(before)
            st.docs_in += 1
            st.bytes_in += size
            reason = step.process(doc)
            if edits is not None and len(edits) > logged:
                for edit in edits[logged:]:
                    st.modifications[edit["reason"]] += 1
            if reason is not None:
                st.removed[reason] += 1
                st.add_example(reason, before)
                if trace:
                    events.append((doc["id"], step.name, "removed", reason))
                if removed is not None:
                    removed.append((doc, step.name, reason))
                continue
            text = doc["text"]
            if text is not before and text != before:
                st.docs_modified += 1
                size = utf8_len(text)
                if trace:
                    events.append((doc["id"], step.name, "modified", None))
            doc["_size"] = size
            st.docs_out += 1
            st.bytes_out += size
            survivors.append(doc)
        docs = survivors
        st.seconds += time.perf_counter() - start
    return docs, stats, events


def _precompute(steps: list[Step], docs: list[dict[str, Any]], seen: set | None = None) -> list[float]:
    """Run the stateful steps' per-document work (hashes, signatures); the seconds each took.

    ``seen`` (in a worker): the exact-duplicate hashes this worker met in its earlier documents,
    and those the main process's exact_dedup kept from other workers' chunks (sent with the tasks).
    A document with one of them is removed by exact_dedup in the main process whatever comes
    after (its first copy reaches that step before it, in input order), so the steps after
    exact_dedup skip it: on a corpus with many exact copies, MinHash signatures are the work
    they save. A skipped document that did reach near_dedup would get its signature there.
    """
    seconds = []
    for step in steps:
        start = time.perf_counter()
        step.precompute(docs)
        if seen is not None and isinstance(step, ExactDedup):
            docs = _first_copies(docs, seen)
        seconds.append(time.perf_counter() - start)
    return seconds


# Hashes a worker remembers to skip later copies: a hint, so bounded (a 16-byte digest in a
# set takes about 90 bytes: 1M of them, 90 MB per worker).
_SEEN_LIMIT = 1_000_000


def _first_copies(docs: list[dict[str, Any]], seen: set) -> list[dict[str, Any]]:
    """The documents of ``docs`` whose exact hash is new to ``seen`` (which they join)."""
    if len(seen) > _SEEN_LIMIT:
        seen.clear()
    first = []
    for doc in docs:
        digest = doc.get("_exact_hash")
        if digest is None or digest not in seen:
            first.append(doc)
            if digest is not None:
                seen.add(digest)
    return first


_WORKER_STEPS: tuple[list[Step], list[Step]] = ([], [])
_WORKER_SEEN: set = set()   # see _precompute


def _init_worker(lead: list[Step], follow: list[Step]) -> None:
    global _WORKER_STEPS
    _WORKER_STEPS = (lead, follow)
    _WORKER_SEEN.clear()


def _worker_run(args: tuple[list[dict[str, Any]], bool, list[bytes]]):
    docs, trace, hints = args
    _WORKER_SEEN.update(hints)
    lead, follow = _WORKER_STEPS
    removed: list = []
    texts = {doc["id"]: doc["text"] for doc in docs}
    kept, stats, events = run_steps(lead, docs, trace, removed)
    stats += _precompute_stats(follow, kept, _WORKER_SEEN)
    # The main process has every document as it sent it: of a removed one it needs only the
    # repairs (for the log), and of a kept one the text only if a step changed it.
    removed = [({"id": doc["id"], "edits": doc.get("edits")}, step, reason)
               for doc, step, reason in removed]
    for doc in kept:
        if doc["text"] == texts[doc["id"]]:
            doc["text"] = None
    return kept, stats, events, removed


def _precompute_stats(follow: list[Step], docs: list[dict[str, Any]],
                      seen: set | None = None) -> list[StepStats]:
    """The precomputation of the stateful steps, as stats that carry only its time (counted in the step's)."""
    return [StepStats(step.name, seconds=sec) for step, sec in zip(follow, _precompute(follow, docs, seen))]


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


def _pool_context():
    """How to start the workers: forked from this process where that is safe, else forkserver
    where the platform has it (workers forked from a clean server that has the curation modules
    and the language model loaded once), spawn elsewhere.

    (:mod:`ttl.data.processes` says when forking is safe, and why it is faster.)
    """
    if _fork_is_safe():
        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["ttl.data.curate.workers"])
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass
class _Chunk:
    """Input items read together: the documents, the unreadable items, and how many items in all."""

    items: int = 0
    docs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ReadError] = field(default_factory=list)
    bytes_in: int = 0
    stop: ReadError | None = None


def _split_batch(items: list, parts: int) -> list[_Chunk]:
    """A batch of input items cut, in order, into ``parts`` chunks of about equal text size.

    With ``num_proc`` workers each batch becomes one chunk per worker, so they finish together;
    the last batch of the input, however short, is shared too (cut by count instead, the
    tail of a run would be one worker's lone chunk while the others wait). Read errors stay
    where they were read: a chunk's ``items`` is what a resumed run skips.
    """
    sizes = [0 if isinstance(item, ReadError) else item["_size"] for item in items]
    total, cuts, running = sum(sizes), [], 0
    for i, size in enumerate(sizes):
        running += size
        # Cut after the item that brings the running size to the next 1/parts of the total.
        if len(cuts) < parts - 1 and running * parts >= total * (len(cuts) + 1) and i + 1 < len(items):
            cuts.append(i + 1)
    chunks = []
    for a, z in zip([0, *cuts], [*cuts, len(items)]):
        chunk = _Chunk(items=z - a)
        for item in items[a:z]:
            if isinstance(item, ReadError):
                chunk.errors.append(item)
            else:
                chunk.docs.append(item)
                chunk.bytes_in += item["_size"]
        chunks.append(chunk)
    return chunks


def _fingerprint(cfg: CurationConfig, input: Any) -> dict[str, Any]:
    # num_proc is left out: the output is the same with any number of processes, so a run
    # killed with 4 may resume with 2.
    settings = {k: v for k, v in cfg.to_dict().items() if k != "num_proc"}
    config = json.dumps(settings, sort_keys=True, default=str)
    return {"config": hashlib.sha256(config.encode()).hexdigest(),
            "input": str(input) if isinstance(input, (str, Path)) else type(input).__name__}


def _doc_digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256((doc["id"] + "\0" + doc["text"]).encode("utf-8", "surrogatepass")).hexdigest()


class _Run:
    """One run of the pipeline (fresh or resumed): the state that a checkpoint saves."""

    def __init__(self, cfg: CurationConfig, steps: list[Step], input: Any, out: Path, trace: bool):
        self.cfg, self.steps, self.input, self.out, self.trace = cfg, steps, input, out, trace
        self.state_dir = out / STATE_DIR
        self.report = CurationReport(input=str(input) if isinstance(input, (str, Path)) else type(input).__name__,
                                     out_dir=str(out), config=cfg.to_dict(), steps=[StepStats(s.name) for s in steps])
        self.writer = ShardWriter(out, cfg.writer["formats"], int(cfg.writer["shard_size"]))
        self.consumed = 0               # input items (documents and unreadable ones) fully processed
        self.checkpoints = 0
        self.first_digest: str | None = None
        self.rows: list[dict[str, Any]] = []   # modifications listed so far
        self.records: dict[str, dict[str, Any]] | None = {} if trace else None
        settings = cfg.report
        self.max_rows = int(settings["max_modifications"])
        self.snippet = int(settings["snippet_chars"])

    # --- checkpoints ---------------------------------------------------------------------------

    def _step_folder(self, index: int, step: Step) -> Path:
        return self.state_dir / "steps" / f"{index:02d}-{step.name}"

    def open_states(self, checkpoint: int) -> None:
        for i, step in enumerate(self.steps):
            if step.stateful:
                step.open_state(self._step_folder(i, step), checkpoint)

    def close_states(self) -> None:
        for step in self.steps:
            if step.stateful:
                step.close_state()

    def save_checkpoint(self) -> None:
        number = self.checkpoints + 1
        folder = self.state_dir
        buffer = f"buffer-{number:06d}.jsonl"
        listed = f"modifications-{number:06d}.ndjson"
        atomic_write_text(folder / buffer, "".join(json.dumps(d, ensure_ascii=False) + "\n"
                                                   for d in self.writer.buffer))
        atomic_write_text(folder / listed, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows))
        for step in self.steps:
            if step.stateful:
                step.checkpoint(number)
        r = self.report
        state = {"version": STATE_VERSION, "fingerprint": _fingerprint(self.cfg, self.input),
                 "checkpoint": number, "consumed": self.consumed, "first_digest": self.first_digest,
                 "docs_in": r.docs_in, "bytes_in": r.bytes_in, "bytes_out": r.bytes_out,
                 "n_input_errors": r.n_input_errors, "input_errors": r.input_errors,
                 "n_modifications": r.n_modifications, "resumed": r.resumed,
                 "steps": [s.to_dict() for s in r.steps], "files": list(self.writer.files),
                 "docs_written": self.writer.docs_written, "buffer": buffer, "modifications": listed}
        atomic_write_json(folder / STATE_NAME, state)  # the commit point of the checkpoint
        self.checkpoints = number
        for old in folder.glob("buffer-*.jsonl"):
            if old.name != buffer:
                old.unlink()
        for old in folder.glob("modifications-*.ndjson"):
            if old.name != listed:
                old.unlink()

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"{self.state_dir} was written by another version of ttl; start again with "
                              "overwrite=True (ttl curate --overwrite)")
        if state["fingerprint"] != _fingerprint(self.cfg, self.input):
            raise ConfigError(f"{self.out} holds an interrupted curation of another input or config "
                              f"({state['fingerprint']['input']}); resume it with the same ones, or start "
                              "again with overwrite=True (ttl curate --overwrite)")
        if self.trace:
            raise ConfigError("trace=True keeps a record of every document in memory and cannot resume; "
                              "rerun from the start with overwrite=True")
        r = self.report
        r.docs_in, r.bytes_in, r.bytes_out = state["docs_in"], state["bytes_in"], state["bytes_out"]
        r.n_input_errors, r.input_errors = state["n_input_errors"], state["input_errors"]
        r.n_modifications, r.resumed = state["n_modifications"], state["resumed"] + 1
        r.steps = [StepStats.from_dict(s) for s in state["steps"]]
        self.consumed, self.checkpoints = state["consumed"], state["checkpoint"]
        self.first_digest = state["first_digest"]
        buffer = [json.loads(line) for line in
                  (self.state_dir / state["buffer"]).read_text(encoding="utf-8").splitlines() if line]
        self.rows = [json.loads(line) for line in
                     (self.state_dir / state["modifications"]).read_text(encoding="utf-8").splitlines() if line]
        remove_stale_shards(self.out, state["files"])
        self.writer = ShardWriter(self.out, self.cfg.writer["formats"], int(self.cfg.writer["shard_size"]),
                                  files=state["files"], docs_written=state["docs_written"], buffer=buffer)

    # --- results of a chunk --------------------------------------------------------------------

    def log_modifications(self, docs: list[dict[str, Any]], removed: list, order: dict[str, int]) -> None:
        rows = []
        for doc, step_name, reason in removed:
            for edit in doc.pop("edits", None) or ():
                rows.append((order[doc["id"]], doc["id"], edit, f"{step_name}:{reason}"))
        for doc in docs:
            for edit in doc.pop("edits", None) or ():
                rows.append((order[doc["id"]], doc["id"], edit, None))
        rows.sort(key=lambda row: row[0])  # stable: a document's repairs stay in step order
        self.report.n_modifications += len(rows)
        room = self.max_rows - len(self.rows)
        cut = self.snippet

        def clip(text: str) -> str:
            return text if len(text) <= cut else text[:cut] + " [...]"

        for _, doc_id, edit, fate in rows[:max(room, 0)]:
            self.rows.append({"id": doc_id, "step": edit["step"], "reason": edit["reason"],
                              "before": clip(edit["before"]), "after": clip(edit["after"]),
                              "kept": fate is None, "removed_by": fate})

    def finish_chunk(self, chunk: _Chunk, result, segments: list[tuple[bool, list[Step]]], first: int,
                     pool_used: bool) -> int:
        """Merge a chunk's results, run the remaining steps, write the survivors; shards completed."""
        docs, stats, events, removed = result
        if pool_used:  # a worker leaves out the texts it did not change (see _worker_run)
            sent = {doc["id"]: doc["text"] for doc in chunk.docs}
            for doc in docs:
                if doc["text"] is None:
                    doc["text"] = sent[doc["id"]]
        r = self.report
        r.docs_in += len(chunk.docs)
        r.bytes_in += chunk.bytes_in
        for error in chunk.errors:
            r.n_input_errors += 1
            if len(r.input_errors) < MAX_LISTED_ERRORS or (chunk.stop is error):
                r.input_errors.append(error.to_dict())
        offset = len(segments[0][1]) if first else 0
        for total, part in zip(r.steps[:offset], stats):
            total.merge(part)
        for total, part in zip(r.steps[offset:], stats[offset:]):
            total.seconds += part.seconds  # the stateful steps' precomputation (hashes, signatures)
        all_events = list(events)
        for stateful, group in segments[first:]:
            docs, more, ev = run_steps(group, docs, self.trace, removed)
            for total, part in zip(r.steps[offset:offset + len(group)], more):
                total.merge(part)
            offset += len(group)
            all_events += ev
        if self.records is not None:
            for doc_id, step_name, kind, reason in all_events:
                rec = self.records[doc_id]
                if kind == "removed":
                    rec["removed_by"], rec["reason"] = step_name, reason
                else:
                    rec["modified_by"].append(step_name)
        order = {d["id"]: i for i, d in enumerate(chunk.docs)}
        self.log_modifications(docs, removed, order)
        shards = self.writer.shards
        for doc in docs:
            for key in ("_exact_hash", "_minhash"):
                doc.pop(key, None)
            size = doc.pop("_size", None)
            self.writer.add(doc)
            r.bytes_out += utf8_len(doc["text"]) if size is None else size
            if self.records is not None:
                self.records[doc["id"]]["text"] = doc["text"]
        self.consumed += chunk.items
        return self.writer.shards - shards

    def finish(self, status: str, start: float) -> None:
        self.writer.flush()  # good documents already curated are written before any stop
        r = self.report
        r.status = status
        r.files = list(self.writer.files)
        r.docs_out = self.writer.docs_written
        r.seconds = time.perf_counter() - start
        r.modifications_listed = len(self.rows)
        r.modifications_file = MODIFICATIONS_NAME
        atomic_write_text(self.out / MODIFICATIONS_NAME,
                          "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.rows))
        r.save(self.out / REPORT_NAME)


def _open_out_dir(out_dir: str | Path, overwrite: bool, resume: bool) -> tuple[Path, dict | None, bool]:
    """The output folder, the state of an interrupted run to resume (or None), and whether it is done."""
    out = Path(out_dir).expanduser()
    if resume and not overwrite:
        state_file = out / STATE_DIR / STATE_NAME
        report_file = out / REPORT_NAME
        if report_file.is_file():
            try:
                done = json.loads(report_file.read_text(encoding="utf-8")).get("status") == "complete"
            except ValueError:
                done = False
            if done:  # finished (perhaps killed while cleaning up): nothing left to do
                shutil.rmtree(out / STATE_DIR, ignore_errors=True)
                return out, None, True
        if state_file.is_file():
            return out, json.loads(state_file.read_text(encoding="utf-8")), False
        # Nothing to resume (killed before its first checkpoint, or never started): start afresh,
        # removing only this pipeline's own files.
        if out.exists():
            for p in _previous_files(out):
                p.unlink()
            shutil.rmtree(out / STATE_DIR, ignore_errors=True)
    return prepare_out_dir(out, overwrite), None, False


def run_curation(config: str | Path | dict | CurationConfig | None, input: Any, out_dir: str | Path, *,
                 overwrite: bool = False, trace: bool = False, progress: bool = True,
                 classifier=None, resume: bool = False) -> CurationReport:
    """Curate ``input`` into sharded files under ``out_dir`` and return the report (also saved as report.json).

    config: a YAML path, a dict, a CurationConfig or None (the packaged default).
    input: a JSONL/parquet file or folder, a Hub dataset name (streamed), or an
        iterable of records (dicts with a text field, or strings; a ``datasets`` Dataset works).
    trace: keep a per-document record (removal step and reason, steps that changed it,
        final text) in ``report.trace``, for scoring against labelled defects.
    classifier: a toxicity classifier callable (texts -> scores), overriding the config's.
    resume: continue an interrupted run in ``out_dir`` from its last complete shard (the same
        config and input); a finished run is returned as it is, an empty folder starts afresh.
    """
    cfg = load_curation_config(config)
    steps = build_steps(cfg)
    if classifier is not None:
        for step in steps:
            if isinstance(step, ToxicityFilter):
                step.classifier = classifier
    out, state, done = _open_out_dir(out_dir, overwrite, resume)
    if done:
        return CurationReport.load(out / REPORT_NAME)
    run = _Run(cfg, steps, input, out, trace)
    if state is not None:
        run.restore(state)
    out.mkdir(parents=True, exist_ok=True)
    run.state_dir.mkdir(exist_ok=True)
    run.open_states(run.checkpoints)
    segments = _segments(steps)
    lead_parallel = bool(segments) and not segments[0][0]
    first = 1 if lead_parallel else 0
    follow = [s for stateful, group in segments[first:] for s in group if stateful] if lead_parallel else []
    # Signatures and hashes can be computed with the stateless steps only for the stateful steps
    # that come right after them (later steps may still change the text).
    follow = follow[:next((i for i, (st, _) in enumerate(segments[first:]) if not st), len(follow))]
    lead = segments[0][1] if lead_parallel else []
    pool = None
    if cfg.num_proc > 1 and lead_parallel:
        context = _pool_context()
        if context.get_start_method() == "fork":
            for step in lead:  # loaded once here, shared by the forked workers (copy-on-write)
                if isinstance(step, LanguageFilter):
                    step._load()
        pool = start_pool(context, cfg.num_proc, _init_worker, (lead, follow))
    parts = cfg.num_proc if pool is not None else 1  # chunks a batch is cut into
    # Each task carries the exact hashes the main process kept while the last few tasks were
    # sent, so a worker also skips copies whose first copy another worker had (a hint only).
    exact = next((s for s in follow if isinstance(s, ExactDedup)), None) if pool is not None else None
    if exact is not None:
        exact.fresh = []
    hints: collections.deque = collections.deque(maxlen=2 * cfg.num_proc)
    start = time.perf_counter()
    # No bar at all without progress: tqdm starts a monitor thread with its first bar, even a
    # disabled one, and a process with a second thread no longer forks its workers.
    bar = tqdm(desc="curating", unit="doc", initial=run.consumed) if progress else None
    reader = iter_input(input, cfg.reader["text_column"], cfg.reader["metadata_column"],
                        cfg.reader["hub_split"], cfg.batch_size)
    max_docs = cfg.reader["max_documents"]

    def chunks() -> Iterator[_Chunk]:
        skip = run.consumed
        docs_read = run.report.docs_in
        batch: list = []  # input items (documents and read errors) in input order
        for item in reader:
            if skip:
                skip -= 1
                if run.first_digest is not None and not isinstance(item, ReadError) and \
                        item["id"] == run.first_digest[0] and _doc_digest(item) != run.first_digest[1]:
                    raise ConfigError("the input differs from the one the interrupted run read (its first "
                                      "document changed); resume with the same input, or start again with "
                                      "overwrite=True")
                continue
            if isinstance(item, ReadError):
                batch.append(item)
                if cfg.on_error == "stop":
                    *head, last = _split_batch(batch, parts)
                    yield from head
                    last.stop = item
                    yield last
                    return
                logger.warning("skipped unreadable input: %s", item)
            else:
                if max_docs is not None and docs_read >= max_docs:
                    break
                docs_read += 1
                if run.first_digest is None:
                    run.first_digest = [item["id"], _doc_digest(item)]
                batch.append(item)
                item["_size"] = utf8_len(item["text"])
                item["edits"] = []
                if run.records is not None:
                    run.records[item["id"]] = {"id": item["id"], "metadata": item["metadata"], "removed_by": None,
                                               "reason": None, "modified_by": [], "text": None}
            if len(batch) >= cfg.batch_size:
                yield from _split_batch(batch, parts)
                batch = []
        if batch:
            yield from _split_batch(batch, parts)

    def local(chunk: _Chunk):
        # In this process, the stateful steps compute their hashes and signatures themselves,
        # after the steps before them (not for documents an earlier step removes anyway).
        removed: list = []
        if not lead_parallel:
            return chunk.docs, [], [], removed
        kept, stats, events = run_steps(lead, chunk.docs, trace, removed)
        return kept, stats, events, removed

    def complete(chunk: _Chunk, result) -> None:
        shards = run.finish_chunk(chunk, result, segments, first, pool is not None)
        if bar is not None:
            bar.update(chunk.items)
        if shards and chunk.stop is None:
            run.save_checkpoint()

    stop_error: ReadError | None = None
    clean_exit = False
    try:
        pending: collections.deque = collections.deque()
        in_flight = 2 * cfg.num_proc
        for chunk in chunks():
            if pool is not None and len(chunk.docs) > 1:
                if exact is not None:
                    hints.append(exact.fresh)
                    exact.fresh = []
                task = (chunk.docs, trace, [digest for part in hints for digest in part])
                pending.append((chunk, pool.apply_async(_worker_run, (task,))))
            else:
                pending.append((chunk, local(chunk)))
            while pending and (len(pending) >= in_flight or not hasattr(pending[0][1], "get")
                               or pending[0][1].ready()):
                done_chunk, result = pending.popleft()
                complete(done_chunk, result.get() if hasattr(result, "get") else result)
            if chunk.stop is not None:
                stop_error = chunk.stop
                break
        while pending:
            done_chunk, result = pending.popleft()
            complete(done_chunk, result.get() if hasattr(result, "get") else result)
        if stop_error is not None:
            run.finish("stopped", start)
            raise CurationInputError(f"{stop_error} (set on_error: skip to report such lines and go on)")
        # Input that gave no document at all, only errors, is a failure, not an empty corpus.
        run.finish("failed" if run.report.docs_in == 0 and run.report.n_input_errors else "complete", start)
        clean_exit = True
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            if clean_exit:
                pool.close()
            else:
                pool.terminate()
            pool.join()
        if exact is not None:
            exact.fresh = None
        run.close_states()
    if clean_exit:  # finished: nothing to resume any more
        shutil.rmtree(run.state_dir, ignore_errors=True)
    if run.records is not None:
        run.report.trace = list(run.records.values())
    return run.report


def curate_main(config_path: str | Path | None, input_path: str, out_dir: str | Path,
                overwrite: bool = False, resume: bool = False, num_proc: int | None = None) -> CurationReport:
    """Entry point of ``ttl curate --config C --input I --out O``: run, print the summary, return the report."""
    config = load_curation_config(config_path)
    if num_proc is not None:
        config.num_proc = int(num_proc)
        config.__post_init__()
    report = run_curation(config, input_path, out_dir, overwrite=overwrite, resume=resume)
    print(report.summary())
    print(f"curated corpus and report.json written to {report.out_dir}")
    return report
