"""Packing speed: tokens/s of one process against ``--num-proc`` processes, in one run.

    python benchmarks/packing.py [--mb 12] [--num-proc 2] [--repeats 3] [--vocab 8000]

Builds a corpus of about ``--mb`` MB from the embedded sample (its documents repeated, each
copy with a line of its own so no two documents are the same text), trains a tokenizer
on the sample, and packs the corpus with ``ttl.data.packing.pack_documents``:

1. ``num_proc=1`` as it runs by default (the Rust tokenizer may use its own threads for a batch);
2. ``num_proc=1`` with ``TOKENIZERS_PARALLELISM=false``: strictly one core, the baseline that
   ``--num-proc`` processes divide;
3. ``num_proc=N`` (each worker with one tokenizer thread).

The runs are interleaved, repeat by repeat, and the best wall time of each is kept; the
machine's load average is printed before and after, since other jobs share the cores. The
parallel output is checked to be byte for byte the serial one (the concatenated train and
validation streams, and the per-split counts). Results go to benchmarks/results/packing.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ttl.data.loaders import corpus_texts, load_corpus
from ttl.data.packing import pack_documents, read_tokens
from ttl.io import atomic_write_text
from ttl.tokenizer import train_tokenizer


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all processes, /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(max_load: float, timeout: float) -> None:
    """Wait (up to ``timeout`` s) until the 1-minute load average is below ``max_load``."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)


def make_corpus(megabytes: float) -> list[str]:
    base = list(corpus_texts(load_corpus()))
    out, size, copy = [], 0, 0
    while size < megabytes * 1e6:
        for i, text in enumerate(base):
            doc = f"{text}\nCópia {copy}, documento {i}."
            out.append(doc)
            size += len(doc.encode("utf-8"))
        copy += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=12.0, help="corpus size in MB of text")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--idle-load", type=float, default=None,
                        help="before each repeat, wait until the 1-minute load average is below this")
    parser.add_argument("--idle-timeout", type=float, default=600, help="longest wait for --idle-load (s)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "packing.md"))
    args = parser.parse_args()

    texts = make_corpus(args.mb)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = train_tokenizer(list(corpus_texts(load_corpus())), args.vocab, tmp / "tok", show_progress=False)
        runs = {
            "1 process (tokenizer threads on)": dict(num_proc=1, threads=True),
            "1 process, 1 thread (TOKENIZERS_PARALLELISM=false)": dict(num_proc=1, threads=False),
            f"{args.num_proc} processes (1 thread each)": dict(num_proc=args.num_proc, threads=False),
        }
        best = {name: (float("inf"), 0.0, 0.0) for name in runs}
        metas = {}
        load_before = load_average()
        print(f"corpus: {len(texts):,} documents, {mb:.1f} MB; load average {load_before}", flush=True)
        for r in range(args.repeats):
            if args.idle_load is not None:
                wait_until_idle(args.idle_load, args.idle_timeout)
            for k, (name, run) in enumerate(runs.items()):
                out = tmp / f"tokens-{k}"
                shutil.rmtree(out, ignore_errors=True)
                if run["threads"]:
                    os.environ.pop("TOKENIZERS_PARALLELISM", None)
                else:
                    os.environ["TOKENIZERS_PARALLELISM"] = "false"
                b0, c0, t0 = busy_seconds(), cpu_seconds(), time.perf_counter()
                metas[name] = pack_documents(texts, tokenizer, out, val_fraction=0.05, seed=0, show_progress=False,
                                             num_proc=run["num_proc"])
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                other = max(0.0, busy_seconds() - b0 - cpu)  # CPU that other jobs took meanwhile
                best[name] = min(best[name], (wall, cpu, other / wall))
                print(f"repeat {r + 1}: {name}: {wall:.2f}s wall, {cpu:.2f}s CPU, other jobs "
                      f"{other / wall:.2f} cores", flush=True)
        load_after = load_average()
        names = list(runs)
        serial_dir, parallel_dir = tmp / "tokens-0", tmp / "tokens-2"
        identical = all(np.asarray(read_tokens(serial_dir, s)).tobytes() == np.asarray(read_tokens(parallel_dir, s)
                                                                                          ).tobytes()
                        for s in ("train", "val"))
        counts_equal = all(metas[names[0]][key] == metas[names[2]][key] for key in ("tokens", "documents"))
        n_shards = len(metas[names[2]]["shards"]["train"])
    tokens = metas[names[0]]["tokens"]["train"] + metas[names[0]]["tokens"]["val"]

    lines = [
        "# Packing benchmark",
        "",
        f"Generated by `python benchmarks/packing.py --mb {args.mb:g} --num-proc {args.num_proc} --repeats "
        f"{args.repeats} --vocab {args.vocab}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, shared with other jobs: load average "
        f"(1, 5, 15 min) **{load_before}** before and **{load_after}** after the timed runs"
        f"{f' (each repeat waited for a 1-minute load below {args.idle_load:g})' if args.idle_load is not None else ''}. "
        f"Python {platform.python_version()}. Best of {args.repeats} interleaved runs.",
        "",
        f"Corpus: {len(texts):,} documents, {mb:.1f} MB of text, {tokens:,} tokens with a {len(tokenizer):,}-token "
        f"tokenizer; parallel packing wrote {n_shards} train shards.",
        "",
        "| packing | wall s | tokens/s | CPU s | speed-up over 1 process, 1 thread | other jobs' cores meanwhile |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base = best[names[1]][0]
    for name in names:
        wall, cpu, other = best[name]
        lines.append(f"| {name} | {wall:.2f} | {tokens / wall:,.0f} | {cpu:.2f} | {base / wall:.2f}x | "
                     f"{other:.2f} |")
    lines += [
        "",
        f"**Speed-up of {args.num_proc} processes: {base / best[names[2]][0]:.2f}x over one single-threaded "
        f"process, {best[names[0]][0] / best[names[2]][0]:.2f}x over one process with the tokenizer's own "
        "threads.**",
        "",
        f"Parallel output byte for byte the serial one (train and validation streams): "
        f"{'yes' if identical else 'NO'}; same token and document counts per split: "
        f"{'yes' if counts_equal else 'NO'}.",
        "",
        "The tokenizer's own threads speed up only the Rust part of a batch (the encoding); turning ids into "
        "Python lists and arrays, the document loop and the writes stay on one core. Worker processes run all "
        "of it in parallel; the main process only reads the texts and hands out chunks. CPU seconds count this "
        "process and its (waited-for) workers, including each worker's start. \"Other jobs' cores\" is the "
        "machine's busy CPU time during a run (/proc/stat) minus ours, divided by the wall time: 0 on an idle "
        "machine, and any value above 0 is taken from the 2 cores our processes could have used.",
    ]
    text = "\n".join(lines) + "\n"
    atomic_write_text(args.out, text)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
