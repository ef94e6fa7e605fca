"""Tokenizer speed and quality, both trainers, one run.

1. Training throughput (MB of text per second) of ``tokenizers`` (ttl.tokenizer.train_tokenizer)
   and ``sentencepiece`` (ttl.tokenizer.train_spm) on the same input, repeated up to
   ``--train-mb``; the teaching BPE (pure Python) on a small slice, as a ratio.
2. Encoding throughput (tokens/s and MB/s) of the trained tokenizers: ``tokenizers``
   ``encode_batch`` vs one call per text vs the ``transformers`` wrapper, and
   ``sentencepiece`` batched vs one by one. Ratios are against ``encode_batch``, in MB/s
   (the two vocabularies give different token counts for the same text).
3. Fertility table: tokenizers of several vocabulary sizes from both trainers,
   measured on held-out documents (every 10th document of the corpus).

The input is the embedded sample corpus (``ttl.data.corpus_texts()``) unless
``--input FILE`` is given (documents separated by blank lines).

    python benchmarks/tokenizer.py                       # defaults: 2 threads, 4 MB train, 2 MB encode
    python benchmarks/tokenizer.py --train-mb 20 --threads 8 --input my_corpus.txt

Prints a markdown report and writes it to benchmarks/results/tokenizer.md (atomically).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ttl.io import atomic_write_text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", type=Path, help="a UTF-8 text file (documents separated by blank lines)")
    p.add_argument("--train-mb", type=float, default=4.0, help="training input size, MB (input repeated)")
    p.add_argument("--encode-mb", type=float, default=2.0, help="encoding input size, MB (held-out repeated)")
    p.add_argument("--vocab-size", type=int, default=8000, help="vocabulary of the speed runs")
    p.add_argument("--fertility-vocab", default="1000,2000,4000,8000",
                   help="comma-separated vocabulary sizes of the fertility table ('' to skip)")
    p.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of each encoding method (median)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tokenizer.md")
    return p.parse_args(argv)


def read_documents(path: Path | None) -> list[str]:
    if path is None:
        from ttl.data import corpus_texts
        return list(corpus_texts())
    if not path.is_file():
        sys.exit(f"--input {path} does not exist")
    docs = [d.strip() for d in path.read_text(encoding="utf-8").split("\n\n")]
    docs = [d for d in docs if d]
    if len(docs) < 10:
        sys.exit(f"--input {path} has {len(docs)} documents (blank-line separated); need at least 10")
    return docs


def repeat_to(docs: list[str], megabytes: float) -> list[str]:
    """The documents, cycled until they reach ``megabytes`` of UTF-8."""
    target, out, size, i = int(megabytes * 1e6), [], 0, 0
    while size < target:
        doc = docs[i % len(docs)]
        out.append(doc)
        size += len(doc.encode("utf-8"))
        i += 1
    return out


def mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def timed(fn, repeats: int = 1):
    """Median seconds over ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> str:
    args = parse_args(argv)
    # Both libraries read their thread count at first use: set it before importing them.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    from ttl.tokenizer import holdout_split, train_bpe, train_spm, train_tokenizer
    from ttl.tokenizer.metrics import compare_tokenizers

    docs = read_documents(args.input)
    train_docs, held_docs = holdout_split(docs, 0.1)
    train_big = repeat_to(train_docs, args.train_mb)
    encode_big = repeat_to(held_docs, args.encode_mb)
    lines = [
        "# Tokenizer benchmark",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs visible (load average {os.getloadavg()[0]:.1f} at start), "
        f"{args.threads} threads for both libraries, Python {platform.python_version()}. "
        f"Input: {'sample corpus' if args.input is None else args.input} "
        f"({len(docs)} documents, {mb(docs):.2f} MB; {len(held_docs)} held out).",
        f"Command: `python benchmarks/tokenizer.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
    ]

    # 1. training throughput -------------------------------------------------------------
    size = mb(train_big)
    t_hf, hf = timed(lambda: train_tokenizer(train_big, args.vocab_size, show_progress=False))
    t_sp, sp = timed(lambda: train_spm(train_big, args.vocab_size, num_threads=args.threads))
    small = train_docs[: max(1, len(train_docs) // 4)]
    merges = 200
    small_vocab = 260 + len({c for d in small for c in d}) + merges
    t_hf_small, _ = timed(lambda: train_tokenizer(small, small_vocab, show_progress=False))
    t_teach, _ = timed(lambda: train_bpe(small, merges))
    lines += [
        f"## Training ({size:.1f} MB, vocabulary {args.vocab_size})",
        "",
        "| trainer | seconds | MB/s | vs tokenizers |",
        "|---|---:|---:|---:|",
        f"| tokenizers (train_tokenizer) | {t_hf:.2f} | {size / t_hf:.2f} | 1.00 |",
        f"| sentencepiece (train_spm) | {t_sp:.2f} | {size / t_sp:.2f} | {t_hf / t_sp:.2f} |",
        "",
        "The input is the corpus repeated: both trainers count words, so repetition mostly costs "
        "reading and pre-tokenization, and the merge phase is that of the unique text. Give "
        "`--input` a large file for a run on distinct text.",
        "",
        f"Teaching BPE (pure Python) vs tokenizers on {mb(small) * 1000:.0f} kB, {merges} merges: "
        f"{t_teach:.2f} s vs {t_hf_small:.2f} s, {t_teach / t_hf_small:.0f}x slower.",
        "",
    ]

    # 2. encoding throughput -------------------------------------------------------------
    backend = hf.backend_tokenizer
    enc_mb = mb(encode_big)
    methods = {
        "tokenizers encode_batch": lambda: sum(len(e.ids) for e in backend.encode_batch(encode_big)),
        "tokenizers encode, one by one": lambda: sum(len(backend.encode(t).ids) for t in encode_big),
        "transformers tokenizer(batch)": lambda: sum(map(len, hf(encode_big)["input_ids"])),
        "sentencepiece encode(batch)": lambda: sum(map(len, sp.encode(encode_big, num_threads=args.threads))),
        "sentencepiece encode, one by one": lambda: sum(len(sp.encode(t)) for t in encode_big),
    }
    # Methods take turns, repeat after repeat, so that a change in machine load hits all alike.
    samples: dict[str, list[float]] = {name: [] for name in methods}
    counts: dict[str, int] = {}
    for name, fn in methods.items():
        fn()                                           # warm-up (caches, thread pools)
    for _ in range(args.repeats):
        for name, fn in methods.items():
            seconds, counts[name] = timed(fn)
            samples[name].append(seconds)
    results = {name: (statistics.median(samples[name]), counts[name]) for name in methods}
    ref = enc_mb / results["tokenizers encode_batch"][0]
    lines += [
        f"## Encoding ({enc_mb:.1f} MB of held-out text, median of {args.repeats})",
        "",
        "| method | tokens | tokens/s | MB/s | vs encode_batch (MB/s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (seconds, tokens) in results.items():
        lines.append(f"| {name} | {tokens:,} | {tokens / seconds:,.0f} | {enc_mb / seconds:.2f} | "
                     f"{enc_mb / seconds / ref:.2f} |")
    lines.append("")

    # 3. fertility table -----------------------------------------------------------------
    sizes = [int(v) for v in args.fertility_vocab.split(",") if v.strip()]
    if sizes:
        table = compare_tokenizers(train_docs, held_docs, vocab_sizes=sizes)
        cols = ["trainer", "requested_vocab", "vocab_size", "fertility", "split_word_share",
                "bytes_per_token", "unk_rate", "byte_fallback_rate", "train_seconds"]
        lines += [
            f"## Fertility on held-out text ({sum(len(d.split()) for d in held_docs):,} words, "
            f"trained on {mb(train_docs):.2f} MB)",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|",
        ]
        for _, row in table[cols].iterrows():
            cells = [row["trainer"], f"{row['requested_vocab']}", f"{row['vocab_size']}",
                     f"{row['fertility']:.3f}", f"{row['split_word_share']:.3f}",
                     f"{row['bytes_per_token']:.2f}", f"{row['unk_rate']:.4f}",
                     f"{row['byte_fallback_rate']:.4f}", f"{row['train_seconds']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        short = table[table["vocab_size"] < table["requested_vocab"]]
        if len(short):
            lines += ["", "Rows whose vocab_size is below requested_vocab stopped early: the text is too "
                      "small to support that many merges; compare the other rows."]

    report = "\n".join(lines) + "\n"
    print(report)
    atomic_write_text(args.out, report)
    return report


if __name__ == "__main__":
    main()
