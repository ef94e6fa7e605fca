"""Curation throughput, and our near-dedup against datasketch's, measured in one run.

    python benchmarks/curation.py [--copies 4] [--repeats 3] [--num-proc 1 2] [--before REF]

Builds a labelled raw crawl from the embedded sample (``--copies`` crawls with
different seeds, concatenated, for a few MB), then times:

1. the whole pipeline (default config, no output kept but the shards), in MB/s of input, with
   each ``--num-proc`` (the outputs must be byte-identical: the scaling is of the same work);
2. with ``--before REF`` (a git commit), the same pipeline as ttl was at that commit, in a
   subprocess on a checkout of it, in the same run: the per-step table before and after and
   whether the two keep the same documents;
3. near-duplicate removal alone: our NearDedup step (vectorized MinHash + banded LSH);
4. the same job with datasketch (MinHash over the same word 5-gram shingles, MinHashLSH with the
   same num_perm and threshold, query-then-insert, keep the first copy);
5. the memory of the near-dedup index per million kept documents (in memory: Python objects
   and arrays measured with tracemalloc; on disk: the SQLite file's size).

Speeds are reported as ratios within this run (best of ``--repeats``), never as
absolute promises: the machine is shared. It also scores the pipeline against the
crawl's labels and writes everything to benchmarks/results/curation.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from ttl.data.crawl import make_raw_crawl
from ttl.data.curate import NearDedup, load_curation_config, run_curation
from ttl.data.curate.scoring import score_curation
from ttl.data.loaders import load_corpus
from ttl.data.text import shingles
from ttl.io import atomic_write_jsonl, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]

# Run in a subprocess on a checkout of an older commit: the whole pipeline, timed, on a JSONL crawl.
BEFORE_SCRIPT = """
import hashlib, json, sys, tempfile, time
from pathlib import Path
from ttl.data.curate import load_curation_config, run_curation
crawl = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
repeats = int(sys.argv[2])
best, report = float("inf"), None
with tempfile.TemporaryDirectory() as tmp:
    for _ in range(repeats):
        start = time.perf_counter()
        report = run_curation(load_curation_config(), crawl, Path(tmp) / "out", overwrite=True,
                              progress=False, trace=True)
        best = min(best, time.perf_counter() - start)
    # The decisions without the toxicity step, whose repair changed on purpose (mask, not cut).
    config = load_curation_config().to_dict()
    config["steps"] = [s for s in config["steps"] if s["name"] != "toxicity"]
    plain = run_curation(config, crawl, Path(tmp) / "plain", overwrite=True, progress=False, trace=True)
kept = [r["id"] for r in report.trace if r["removed_by"] is None]
kept_plain = [[r["id"], hashlib.sha256(r["text"].encode()).hexdigest()]
              for r in plain.trace if r["removed_by"] is None]
print(json.dumps({"seconds": best, "steps": {s.name: s.seconds for s in report.steps}, "kept": kept,
                  "kept_without_toxicity": kept_plain}))
"""


def megabytes(docs) -> float:
    return sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6


def best_time(fn, repeats: int):
    """Best wall time of ``repeats`` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def best_time_cpu(fn, repeats: int):
    """Best wall time of ``repeats`` runs, the last result, and the CPU seconds of the best run
    spent in this process and in its worker processes (counted once they are joined: forked
    workers are this process's children; forkserver's are not, and count nothing here)."""
    best, result, cpu = float("inf"), None, (0.0, 0.0)
    for _ in range(repeats):
        before, start = os.times(), time.perf_counter()
        result = fn()
        seconds, after = time.perf_counter() - start, os.times()
        if seconds < best:
            best = seconds
            main = after.user - before.user + after.system - before.system
            workers = (after.children_user - before.children_user
                       + after.children_system - before.children_system)
            cpu = (main, workers)
    return best, result, cpu


def kept_ids(report) -> list[str]:
    return [r["id"] for r in report.trace if r["removed_by"] is None]


def kept_without_toxicity(crawl: list[dict], tmp: Path) -> list[list[str]]:
    """(id, text digest) of the documents kept with the toxicity step left out."""
    config = load_curation_config().to_dict()
    config["steps"] = [s for s in config["steps"] if s["name"] != "toxicity"]
    report = run_curation(config, crawl, tmp / "plain", overwrite=True, progress=False, trace=True)
    return [[r["id"], hashlib.sha256(r["text"].encode()).hexdigest()]
            for r in report.trace if r["removed_by"] is None]


def run_before(ref: str, crawl: list[dict], repeats: int, tmp: Path) -> dict:
    """The pipeline of commit ``ref``, timed in a subprocess on a checkout of it."""
    src = tmp / "before-src"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(src), ref], check=True,
                   capture_output=True)
    try:
        crawl_file = tmp / "crawl.jsonl"
        atomic_write_jsonl(crawl_file, crawl)
        env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
        done = subprocess.run([sys.executable, "-c", BEFORE_SCRIPT, str(crawl_file), str(repeats)], env=env,
                              check=True, capture_output=True, text=True, cwd=tmp)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(src)], check=False,
                       capture_output=True)


def index_memory(docs: list[dict], num_perm: int, threshold: float, tmp: Path) -> dict:
    """Bytes per kept document of the near-dedup index, in memory and on disk."""
    step = NearDedup(threshold=threshold, num_perm=num_perm)
    tracemalloc.start()  # signatures computed inside the window: the kept ones stay in the index
    base = tracemalloc.get_traced_memory()[0]
    kept = sum(step.process(dict(d)) is None for d in docs)
    memory = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    disk = NearDedup(threshold=threshold, num_perm=num_perm, index="disk", index_dir=str(tmp / "index"))
    disk.open_state(None)
    disk.prepare(docs)
    kept_disk = sum(disk.process(dict(d)) is None for d in docs)
    disk.checkpoint(1)
    disk.close_state()
    size = (tmp / "index" / "near_dedup.sqlite").stat().st_size
    assert kept_disk == kept
    return {"kept": kept, "memory_per_doc": memory / kept, "disk_per_doc": size / kept}


def ours_near_dedup(docs, threshold, num_perm, ngram, batch=1000):
    step = NearDedup(threshold=threshold, num_perm=num_perm, ngram=ngram, verify=False)
    removed = set()
    for i in range(0, len(docs), batch):
        chunk = docs[i:i + batch]
        step.prepare(chunk)
        removed |= {d["id"] for d in chunk if step.process(d) is not None}
    return removed


def datasketch_near_dedup(docs, threshold, num_perm, ngram):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    removed = set()
    for d in docs:
        m = MinHash(num_perm=num_perm)
        m.update_batch([s.encode("utf-8") for s in shingles(d["text"], ngram)])
        if lsh.query(m):
            removed.add(d["id"])
        else:
            lsh.insert(d["id"], m)
    return removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=4, help="crawls (different seeds) to concatenate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--before", default=None, help="a git commit whose pipeline to time beside this one")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "curation.md"))
    args = parser.parse_args()

    clean = list(load_corpus())
    crawl = []
    for seed in range(args.copies):
        crawl += make_raw_crawl(clean, seed=seed)
    docs = [{"id": f"d{i}", "text": r["text"]} for i, r in enumerate(crawl)]
    mb = megabytes(docs)
    print(f"crawl: {len(crawl)} documents, {mb:.2f} MB ({args.copies} crawls of {len(clean)} clean documents)")

    config = load_curation_config()
    near = config.step("near_dedup")
    threshold, num_perm, ngram = near["threshold"], near["num_perm"], near["ngram"]

    t_pipeline, outputs, step_times, cpu_times = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.num_proc:
            def whole(n=n):
                return run_curation(load_curation_config(num_proc=n), crawl, tmp / f"out{n}", overwrite=True,
                                    progress=False)
            t_pipeline[n], report, cpu_times[n] = best_time_cpu(whole, args.repeats)
            step_times[n] = {s.name: s.seconds for s in report.steps}  # the last timed run
            outputs[n] = {p.name: p.read_bytes() for p in sorted((tmp / f"out{n}").glob("shard-*"))}
        identical = all(out == outputs[args.num_proc[0]] for out in outputs.values())
        traced = run_curation(load_curation_config(), crawl[: len(crawl) // args.copies], tmp / "scored",
                              trace=True, progress=False)
        traced_all = run_curation(load_curation_config(), crawl, tmp / "traced", trace=True, progress=False)
        before = run_before(args.before, crawl, args.repeats, tmp) if args.before else None
        plain_now = kept_without_toxicity(crawl, tmp) if before else None
        memory = index_memory(docs, num_perm, threshold, tmp)
    score = score_curation(traced.trace)

    # Interleave the two near-dedup implementations so machine noise hits both alike.
    t_ours, t_ref = float("inf"), float("inf")
    for _ in range(args.repeats):
        t, ours = best_time(lambda: ours_near_dedup(docs, threshold, num_perm, ngram), 1)
        t_ours = min(t_ours, t)
        t, ref = best_time(lambda: datasketch_near_dedup(docs, threshold, num_perm, ngram), 1)
        t_ref = min(t_ref, t)
    agreement = len(ours & ref) / max(len(ours | ref), 1)

    lines = [
        "# Curation benchmark",
        "",
        f"Generated by `python benchmarks/curation.py --copies {args.copies} --repeats {args.repeats} "
        f"--num-proc {' '.join(map(str, args.num_proc))}"
        + (f" --before {args.before}" if args.before else "")
        + f"` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs), "
        f"Python {platform.python_version()}. Timings are the best of {args.repeats} runs; compare the ratios, "
        "not the absolute numbers.",
        "",
        f"Input: a labelled raw crawl, {args.copies} crawls (seeds 0..{args.copies - 1}) of the embedded "
        f"sample ({len(clean)} clean documents): {len(crawl):,} documents, {mb:.2f} MB.",
        "",
        "## Throughput",
        "",
        "| what | seconds | MB/s |",
        "|---|---:|---:|",
        *[f"| whole pipeline (default config, num_proc={n}) | {t:.2f} | {mb / t:.2f} |" for n, t in t_pipeline.items()],
        *([f"| whole pipeline as at commit `{args.before}` (num_proc=1) | {before['seconds']:.2f} | "
           f"{mb / before['seconds']:.2f} |"] if before else []),
        f"| near dedup, ours (vectorized MinHash + LSH, num_perm={num_perm}) | {t_ours:.2f} | {mb / t_ours:.2f} |",
        f"| near dedup, datasketch (MinHash + MinHashLSH, same settings) | {t_ref:.2f} | {mb / t_ref:.2f} |",
        "",
        f"**Near dedup speed-up over datasketch: {t_ref / t_ours:.1f}x** "
        f"(same shingles, threshold {threshold}, num_perm {num_perm}). The two flag "
        f"{len(ours)} and {len(ref)} documents as near duplicates; Jaccard agreement of the flagged sets "
        f"{agreement:.3f} (they use different random hash functions, so pairs near the threshold may differ).",
        "",
    ]
    one = args.num_proc[0]
    if len(t_pipeline) > 1:
        ratios = ", ".join(f"{t_pipeline[one] / t:.2f}x with num_proc={n}" for n, t in t_pipeline.items() if n != one)
        lines += [f"**Scaling:** {ratios} (over num_proc={one}), on {os.cpu_count()} cores; the shards written "
                  f"with every num_proc are {'byte-identical' if identical else 'NOT identical'}.", ""]
        # Amdahl: the main process's CPU time is the serial part (reading, dedup, writing), the
        # workers' the parallel part; on an idle machine n workers take at least this long.
        lines += ["CPU seconds of the best run of each (the main process; its forked workers, "
                  "once joined). The serial fraction is the main process's share of the work: "
                  "Amdahl's law bounds the speed-up with it.", "",
                  "| num_proc | wall s | main CPU s | workers CPU s | serial share | Amdahl bound |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for n, (main_cpu, workers_cpu) in cpu_times.items():
            serial = main_cpu / max(main_cpu + workers_cpu, 1e-9)
            bound = 1 / (serial + (1 - serial) / n) if workers_cpu else 1.0
            lines.append(f"| {n} | {t_pipeline[n]:.2f} | {main_cpu:.2f} | {workers_cpu:.2f} | "
                         f"{serial:.2f} | {bound:.2f}x |")
        lines.append("")
    if before:
        kept_now = kept_ids(traced_all)
        same = kept_now == before["kept"]
        same_plain = plain_now == before["kept_without_toxicity"]
        lines += [f"**Speed-up over `{args.before}`: {before['seconds'] / t_pipeline[one]:.1f}x** on one process "
                  f"({mb / before['seconds']:.2f} -> {mb / t_pipeline[one]:.2f} MB/s). Kept documents with the "
                  f"default config: {len(before['kept']):,} then, {len(kept_now):,} now, "
                  f"{'the same documents' if same else 'not the same documents'}. With the toxicity step left "
                  f"out of both: {len(before['kept_without_toxicity']):,} and {len(plain_now):,}, "
                  f"{'the same documents with the same texts' if same_plain else 'NOT the same documents or texts'}."
                  " (The toxicity step changed on purpose: it masks a toxic term instead of cutting its line out, "
                  "so a copy that had a rude line injected no longer equals its clean original exactly; the "
                  "comparison without the step shows that the kept sets differ there only.)", ""]
    lines += [f"Time per step in the last num_proc={one} run"
              + (f", and in the pipeline as at `{args.before}`" if before else "") + ":", ""]
    now = step_times[one]
    total = sum(now.values()) or 1.0
    if before:
        then = before["steps"]
        total_then = sum(then.values()) or 1.0
        lines += ["| step | seconds before | share | seconds now | share | speed-up |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {name} | {then.get(name, 0):.2f} | {then.get(name, 0) / total_then:.0%} | {sec:.2f} | "
                  f"{sec / total:.0%} | {then.get(name, 0) / sec if sec else float('inf'):.1f}x |"
                  for name, sec in now.items()]
    else:
        lines += ["| step | seconds | share |", "|---|---:|---:|"]
        lines += [f"| {name} | {sec:.2f} | {sec / total:.0%} |" for name, sec in now.items()]
    lines += [
        "",
        "## Near-dedup index memory",
        "",
        f"The index after {len(docs):,} documents ({memory['kept']:,} kept, num_perm {num_perm}, verify on):",
        "",
        "| index | bytes per kept document | per million kept documents |",
        "|---|---:|---:|",
        f"| memory (LSH tables + uint32 signatures, tracemalloc) | {memory['memory_per_doc']:,.0f} | "
        f"{memory['memory_per_doc'] * 1e6 / 2**30:.2f} GiB of RAM |",
        f"| disk (`near_dedup.index: disk`, SQLite file) | {memory['disk_per_doc']:,.0f} | "
        f"{memory['disk_per_doc'] * 1e6 / 2**30:.2f} GiB of disk, 64 MB of page cache |",
    ]
    lines += [
        "",
        "## Precision and recall against the injected labels",
        "",
        f"One crawl (seed 0, {len(traced.trace)} documents), default config. Definitions in "
        "`ttl/data/curate/scoring.py`.",
        "",
        "| defect | kind | documents | caught | recall |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {r['defect']} | {r['kind']} | {r['docs']} | {r['caught']} | {r['recall']:.3f} |" for r in score.classes]
    lines += [
        "",
        f"Clean documents kept: {score.clean_kept}/{score.clean_docs} = {score.clean_keep_rate:.3f}. "
        f"Output precision (kept documents that are clean and fully repaired): "
        f"{score.output_good}/{score.output_docs} = {score.output_precision:.3f}. "
        f"Decoys (CPF look-alikes with wrong check digits) left intact: {score.decoys_kept_intact}/{score.decoys}.",
        "",
        "| step | acted on | justified | precision |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {s['step']} | {s['acted_on']} | {s['justified']} | {s['precision']:.3f} |"
              for s in sorted(score.steps, key=lambda s: s["step"])]
    text = "\n".join(lines) + "\n"
    atomic_write_text(args.out, text)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)
    json.dumps(report.to_dict())  # the report must stay JSON-serializable


if __name__ == "__main__":
    main()
