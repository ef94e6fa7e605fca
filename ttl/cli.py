"""`ttl <stage>`: every stage of the course from the command line.

    ttl profiles                                     list the profiles
    ttl make-crawl --out raw.jsonl [--seed 0]        a dirty web crawl made from the sample
    ttl curate --input raw.jsonl --out DIR [--config curation.yaml]
    ttl tokenizer train --out DIR [--input corpus.jsonl] [--vocab-size N]
    ttl pretrain --profile smoke --out RUN [--max-steps N] [--no-resume]
    ttl generate --out RUN --prompt "Era uma vez"   (or --model HF_DIR)
    ttl eval --profile smoke --out RUN [--tasks assin2_rte hatebr]
    ttl finetune --profile smoke --out RUN --task assin2
    ttl export --profile smoke --out RUN [--to DIR]
    ttl pipeline --profile smoke --out RUN           the whole chain

``--out RUN`` is a run folder (see ``ttl.runs``); without it the default
``runs/<profile>`` of the checkout is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ConfigError, available_profiles, load_profile


class CliError(Exception):
    """An error to show the user without a traceback."""


def _profile(args):
    return load_profile(args.profile)


def _run(args, profile):
    from .pipeline import run_for

    return run_for(profile, args.out)


def cmd_profiles(args) -> int:
    for name in available_profiles():
        p = load_profile(name)
        print(f"{name:10s} {p.description}")
    return 0


def cmd_make_crawl(args) -> int:
    from .data.crawl import write_raw_crawl

    path = write_raw_crawl(args.out, seed=args.seed, language=args.language)
    with open(path, encoding="utf-8") as fh:
        n = sum(1 for _ in fh)
    print(f"wrote a raw crawl of {n} documents, each defect labelled in its metadata, to {path}")
    return 0


def cmd_curate(args) -> int:
    from .data.curate import curate_main

    if not Path(args.input).exists():
        raise CliError(f"input {args.input} does not exist; make one with `ttl make-crawl --out raw.jsonl`")
    report = curate_main(args.config, args.input, args.out, overwrite=args.overwrite)
    return 0 if report.status == "complete" else 1


def _read_texts(path: Path):
    from .data.loaders import corpus_texts, load_corpus

    yield from corpus_texts(load_corpus(str(path)))


def cmd_tokenizer(args) -> int:
    from .pipeline import corpus_texts
    from .tokenizer import train_tokenizer

    profile = _profile(args)
    vocab = args.vocab_size or profile.tokenizer.vocab_size
    if args.input:
        # A file of texts in, a tokenizer folder out.
        if not Path(args.input).exists():
            raise CliError(f"input {args.input} does not exist")
        if args.out is None:
            raise CliError("with --input, give --out: the folder to write the tokenizer to")
        texts = _read_texts(Path(args.input))
        out = Path(args.out)
    else:
        # The run's curated corpus in, the run's tokenizer/ folder out (--out is the run folder).
        run = _run(args, profile)
        texts = corpus_texts(profile, run)
        out = run.tokenizer_dir
    tok = train_tokenizer(texts, vocab, out, byte_fallback=profile.tokenizer.byte_fallback,
                          split_digits=profile.tokenizer.split_digits, max_chars=profile.tokenizer.max_chars)
    print(f"trained a {len(tok)}-token tokenizer into {out}")
    return 0


def cmd_pretrain(args) -> int:
    from .pipeline import ensure_tokens
    from .train import pretrain

    profile = _profile(args)
    run = _run(args, profile)
    tokens = ensure_tokens(profile, run)
    result = pretrain(profile, run, tokens_dir=tokens, max_steps=args.max_steps, resume=not args.no_resume)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"checkpoint": str(result.checkpoint), **last}, indent=2))
    return 0


def cmd_generate(args) -> int:
    from .generate import SamplingConfig, generate

    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed)
    if args.model:
        from transformers import AutoTokenizer, LlamaForCausalLM

        from .model import Llama

        folder = Path(args.model)
        if not (folder / "config.json").is_file():
            raise CliError(f"{folder} is not a Hugging Face model folder (no config.json)")
        model = Llama.from_hf(LlamaForCausalLM.from_pretrained(folder)).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
    else:
        from .pipeline import ensure_checkpoint, ensure_tokenizer

        profile = _profile(args)
        run = _run(args, profile)
        model, tokenizer = ensure_checkpoint(profile, run), ensure_tokenizer(profile, run)
    print(args.prompt + generate(model, tokenizer, args.prompt, cfg))
    return 0


def cmd_eval(args) -> int:
    from .eval import TASKS, evaluate_task
    from .pipeline import ensure_checkpoint, ensure_tokenizer, load_task_dataset

    profile = _profile(args)
    run = _run(args, profile)
    model, tokenizer = ensure_checkpoint(profile, run), ensure_tokenizer(profile, run)
    results = []
    for name in args.tasks:
        if name not in TASKS:
            raise CliError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
        ds = load_task_dataset(TASKS[name].dataset)
        res = evaluate_task(model, tokenizer, name, ds, num_fewshot=profile.eval.num_fewshot,
                            max_examples=profile.eval.max_eval_examples, mode=args.mode)
        res.pop("samples")
        results.append(res)
        print(json.dumps(res))
    run.reports_dir.mkdir(parents=True, exist_ok=True)
    (run.reports_dir / "fewshot.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def cmd_finetune(args) -> int:
    from .pipeline import ensure_classifier

    profile = _profile(args)
    res = ensure_classifier(profile, _run(args, profile), args.task)
    print(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=2))
    return 0


def cmd_export(args) -> int:
    from .pipeline import ensure_hf_model

    profile = _profile(args)
    folder = ensure_hf_model(profile, _run(args, profile))
    if args.to:
        import shutil

        shutil.copytree(folder, args.to, dirs_exist_ok=True)
        folder = Path(args.to)
    print(f"Hugging Face model folder: {folder}")
    return 0


def cmd_pipeline(args) -> int:
    from .pipeline import run_pipeline

    summary = run_pipeline(_profile(args), args.out, tasks=tuple(args.tasks))
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttl", description="Build a compact Llama for a low-resource language.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def with_run(p):
        p.add_argument("--profile", default=None, help="profile name or YAML path (default: $TTL_PROFILE or smoke)")
        p.add_argument("--out", default=None, help="run folder (default: runs/<profile> in the checkout)")
        return p

    sub.add_parser("profiles", help="list the profiles").set_defaults(func=cmd_profiles)

    p = sub.add_parser("make-crawl", help="make a dirty web crawl from the embedded sample")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--language", default="pt", help="language of the clean documents (default pt)")
    p.set_defaults(func=cmd_make_crawl)

    p = sub.add_parser("curate", help="run the curation pipeline")
    p.add_argument("--config", default=None, help="pipeline YAML (default: the shipped one)")
    p.add_argument("--input", required=True, help="JSONL/parquet file or folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a curated corpus already in --out")
    p.set_defaults(func=cmd_curate)

    p = sub.add_parser("tokenizer", help="train a tokenizer")
    tsub = p.add_subparsers(dest="action", metavar="ACTION")
    tsub.required = True
    t = with_run(tsub.add_parser("train", help="train a BPE tokenizer with byte fallback"))
    t.add_argument("--input", default=None, help="JSONL/parquet with a text column (default: the run's corpus; "
                                                 "then --out is the run folder and the tokenizer goes to its tokenizer/)")
    t.add_argument("--vocab-size", type=int, default=None)
    t.set_defaults(func=cmd_tokenizer)

    p = with_run(sub.add_parser("pretrain", help="pretrain (resumes from the last checkpoint)"))
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--no-resume", action="store_true")
    p.set_defaults(func=cmd_pretrain)

    p = with_run(sub.add_parser("generate", help="generate text"))
    p.add_argument("--model", default=None, help="a Hugging Face model folder instead of the run's checkpoint")
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, default=60)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_generate)

    p = with_run(sub.add_parser("eval", help="few-shot evaluation"))
    p.add_argument("--tasks", nargs="+", default=["assin2_rte", "hatebr"])
    p.add_argument("--mode", choices=["generate", "loglik"], default="generate")
    p.set_defaults(func=cmd_eval)

    p = with_run(sub.add_parser("finetune", help="fine-tune a classifier"))
    p.add_argument("--task", required=True, choices=["assin2", "hatebr", "faquad_nli"])
    p.set_defaults(func=cmd_finetune)

    p = with_run(sub.add_parser("export", help="export to Hugging Face format"))
    p.add_argument("--to", default=None, help="copy the exported folder here too")
    p.set_defaults(func=cmd_export)

    p = with_run(sub.add_parser("pipeline", help="run every stage, leaving all artifacts in --out"))
    p.add_argument("--tasks", nargs="*", default=["assin2", "hatebr"],
                   choices=["assin2", "hatebr", "faquad_nli"])
    p.set_defaults(func=cmd_pipeline)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"ttl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a rerun resumes from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
