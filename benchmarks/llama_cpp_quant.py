"""GGUF quantizations in llama.cpp against the transformers model they came from: size, agreement, speed.

For each type (default f16, q8_0, q4_k_m) the run's Hugging Face export is written as GGUF
(ttl.export.gguf) and loaded in llama.cpp through llama-cpp-python. Measured in one process,
on the same texts and prompts:

* **size** of the file, and its ratio to transformers' float32 model.safetensors;
* **top-1 agreement**: the share of positions of sample texts where llama.cpp's most likely next
  token is transformers' (teacher-forced, so one disagreement does not derail the rest);
* **same greedy text**: the share of prompts whose greedy continuation is token for token
  transformers';
* **greedy tokens/s** on one prompt, both sides writing the same number of tokens with plain
  argmax and the same threads, median of ``--rounds`` rounds in rotating order, and the ratio
  llama.cpp / transformers measured in this run.

    python benchmarks/llama_cpp_quant.py --run runs/smoke            # after `make pipeline` or chapter 5
    python benchmarks/llama_cpp_quant.py --hf-model my-model/ --quants f16,q8_0,q5_k_m,q4_k_m

Needs `pip install -e ".[gguf]"` (llama-cpp-python). Writes benchmarks/results/gguf_<device>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

PROMPTS = ["Era uma vez", "O Brasil é", "A cidade de São Paulo", "No dia seguinte,", "A receita leva",
           "Segundo o relatório", "Os alunos da escola", "Durante a viagem"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--run", type=Path, default=Path("runs/smoke"), help="a run folder holding hf_model/")
    where.add_argument("--hf-model", type=Path, help="a transformers Llama folder (instead of --run)")
    p.add_argument("--quants", default="f16,q8_0,q4_k_m", help="comma-separated GGUF types")
    p.add_argument("--texts", type=int, default=16, help="sample texts for the top-1 agreement")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="markdown report (default: benchmarks/results/gguf_cpu.md)")
    return p.parse_args(argv)


def sample_texts(n: int) -> list[str]:
    from ttl.data.loaders import corpus_texts, load_corpus

    return list(corpus_texts(load_corpus(), max_documents=n))


def llama_greedy(llm, ids: list[int], n: int) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return out


@torch.no_grad()
def hf_greedy(model, ids: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                         repetition_penalty=1.0, pad_token_id=model.config.pad_token_id)
    return out[0, len(ids):].tolist()


@torch.no_grad()
def top1_agreement(llm, model, tokenizer, texts, limit: int) -> tuple[float, int]:
    agree = total = 0
    for text in texts:
        ids = tokenizer(text)["input_ids"][:limit]
        ref = model(torch.tensor([ids])).logits[0].argmax(-1).numpy()
        llm.reset()
        llm.eval(ids)
        got = np.array(llm.scores[:len(ids)]).argmax(-1)
        agree += int((got == ref).sum())
        total += len(ids)
    return agree / total, total


def time_round_robin(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each function; the order of the calls rotates every round."""
    names = list(fns)
    for fn in fns.values():   # warm-up
        fn()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import llama_cpp
    except ImportError:
        raise SystemExit("this benchmark runs llama.cpp: pip install -e '.[gguf]' (compiles llama.cpp, 10-15 min)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ttl.export.gguf import export_gguf
    from ttl.io import atomic_write_text

    folder = args.hf_model or args.run / "hf_model"
    if not (folder / "config.json").is_file():
        raise SystemExit(f"no Hugging Face export in {folder}; build one with `make pipeline` "
                         "(or `ttl pipeline --profile smoke --out runs/smoke`), or pass --hf-model")
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    limit = model.config.max_position_embeddings
    n_new = min(args.new_tokens, limit - 16)
    texts = sample_texts(args.texts)
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    reference = [hf_greedy(model, ids, n_new) for ids in prompts]
    hf_size = sum(f.stat().st_size for f in folder.glob("*.safetensors"))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for quant in [q.strip().lower() for q in args.quants.split(",") if q.strip()]:
            path = export_gguf(folder, Path(tmp) / f"m-{quant}.gguf", quant=quant)
            llm = llama_cpp.Llama(str(path), n_ctx=limit, logits_all=True, verbose=False,
                                  n_threads=args.threads, seed=0)
            agree, positions = top1_agreement(llm, model, tokenizer, texts, limit)
            same = sum(llama_greedy(llm, ids, n_new) == ref for ids, ref in zip(prompts, reference))
            timed = time_round_robin({"llama.cpp": lambda: llama_greedy(llm, prompts[0], n_new),
                                      "transformers": lambda: hf_greedy(model, prompts[0], n_new)}, args.rounds)
            rows.append({"type": quant, "bytes": path.stat().st_size, "agree": agree, "positions": positions,
                         "same": same, "llama tok/s": n_new / timed["llama.cpp"],
                         "hf tok/s": n_new / timed["transformers"],
                         "ratio": timed["transformers"] / timed["llama.cpp"]})
            del llm

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = (f"CPU, {args.threads} threads ({platform.processor() or platform.machine()}; "
             f"1-minute load average {os.getloadavg()[0]:.1f} at the end)")
    n_params = sum(p.numel() for p in model.parameters())
    lines = [f"# GGUF in llama.cpp vs transformers: `{folder}`", "",
             f"Measured {now} with `python benchmarks/llama_cpp_quant.py --quants {args.quants} --rounds {args.rounds}`; "
             f"{where}; llama-cpp-python {llama_cpp.__version__}, torch {torch.__version__}; model "
             f"{n_params:,} parameters; transformers' float32 safetensors {hf_size:,} bytes. Top-1 agreement "
             f"over {rows[0]['positions'] if rows else 0} positions of {len(texts)} sample texts; same greedy "
             f"text over {len(prompts)} prompts x {n_new} tokens; speed: greedy {n_new} tokens after "
             f"\"{PROMPTS[0]}\", median of {args.rounds} rounds (ratio above 1: llama.cpp faster).", "",
             "| type | size (bytes) | size / float32 | top-1 agreement | same greedy text | "
             "llama.cpp tok/s | transformers tok/s | llama.cpp / transformers |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['type']} | {r['bytes']:,} | {r['bytes'] / hf_size:.2f} | {r['agree']:.4f} | "
                     f"{r['same']}/{len(prompts)} | {r['llama tok/s']:,.0f} | {r['hf tok/s']:,.0f} | "
                     f"{r['ratio']:.2f}x |")
    report = "\n".join(lines) + "\n"
    print(report)
    atomic_write_text(args.out or Path(__file__).parent / "results" / "gguf_cpu.md", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
