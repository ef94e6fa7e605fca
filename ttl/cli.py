"""`ttl <stage>`: every stage of the course from the command line.

    ttl profiles                                     list the profiles
    ttl make-crawl --out raw.jsonl [--seed 0]        a dirty web crawl made from the sample
    ttl curate --input raw.jsonl --out DIR [--config curation.yaml] [--resume] [--num-proc N]
    ttl tokenizer train --out DIR [--input corpus.jsonl] [--vocab-size N]
    ttl tokenizer extend --base RUN/tokenizer --input new.jsonl --add N --out DIR [--old-input old.jsonl]
    ttl pretrain --profile smoke --out RUN [--max-steps N] [--no-resume]
    ttl continue --from RUN --tokenizer DIR [--out RUN2]   continual pretraining into a new language
    ttl generate --out RUN --prompt "Era uma vez"   (or --model HF_DIR)
    ttl eval --profile smoke --out RUN [--tasks assin2_rte hatebr] [--harness]
    ttl finetune --profile smoke --out RUN --task assin2_rte
    ttl export --profile smoke --out RUN [--to DIR]  a transformers folder with its card
    ttl export --out RUN --format gguf [--quant q8_0]  one file for llama.cpp
    ttl pipeline --profile smoke --out RUN           the whole chain
    ttl status --out RUN                             each stage: fresh, stale (and why) or missing
    ttl tasks                                        the registered tasks and their data
    ttl plan --profile ttl-460m --gpus 8xH100        hours, energy, cost, disk, memory of the full run
    ttl sft --out RUN; ttl dpo --out RUN --measure   chat tuning (chapter 10)

``--out RUN`` is a run folder (see ``ttl.runs``); without it the default
``runs/<profile>`` of the checkout is used. ``--data NAME=SOURCE`` (repeatable) reads a task's
dataset, or the corpus, from a local file or folder or a Hub name instead of the profile's.

generate, eval and export only read what the run holds: they never move or delete anything,
and stop with a message that says what to run when an artifact is missing or stale.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import os
import sys
import warnings
from pathlib import Path

from .config import ConfigError, available_profiles, load_profile, with_data_sources


class CliError(Exception):
    """An error to show the user without a traceback."""


def _profile(args):
    return with_data_sources(load_profile(args.profile, **_settings(getattr(args, "set", None))),
                             getattr(args, "data", None))


def _settings(assignments: list[str] | None) -> dict[str, dict]:
    """``--set train.lr=3e-4`` (repeatable) as overrides of the profile's sections."""
    import yaml

    out: dict[str, dict] = {}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise ConfigError(f"--set takes SECTION.KEY=VALUE (e.g. train.lr=3e-4), got {item!r}")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            parsed = value
        out.setdefault(section, {})[name] = parsed
    return out


# The locks a command holds on its run folders, released when the command ends (see main).
_held = contextlib.ExitStack()


def _run(args, profile):
    """The run folder a building command writes into, locked for the command's duration."""
    from .pipeline import run_for

    return _held.enter_context(run_for(profile, args.out).lock(f"ttl {args.command}"))


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
    from .data.readers import resolve_source

    resolve_source(args.input)  # a local path that does not exist stops here, before any work
    report = curate_main(args.config, args.input, args.out, overwrite=args.overwrite, resume=args.resume,
                         num_proc=args.num_proc)
    if report.status == "failed":
        first = report.input_errors[0] if report.input_errors else {}
        raise CliError(f"no document of {args.input} could be read ({report.n_input_errors} error(s); the first: "
                       f"{first.get('source', '')}, line {first.get('line', '?')}: {first.get('message', '')})")
    return 0 if report.status == "complete" else 1


def cmd_tokenizer(args) -> int:
    from .pipeline import build_tokenizer
    from .tokenizer import train_tokenizer

    profile = _profile(args)
    if args.vocab_size:
        profile = dataclasses.replace(profile, tokenizer=dataclasses.replace(profile.tokenizer,
                                                                             vocab_size=args.vocab_size))
    tcfg = profile.tokenizer
    if args.input:
        # A corpus in, a tokenizer folder out, with a manifest naming the corpus.
        from .data.readers import corpus_texts
        from .manifest import digest_tokenizer, write_manifest
        from .pipeline import source_digest

        if args.out is None:
            raise CliError("with --input, give --out: the folder to write the tokenizer to")
        out = Path(args.out)
        tok = train_tokenizer(corpus_texts(args.input, text_column=profile.data.text_column), tcfg.vocab_size, out,
                              byte_fallback=tcfg.byte_fallback, split_digits=tcfg.split_digits,
                              max_chars=tcfg.max_chars)
        write_manifest(out, "tokenizer", digest=digest_tokenizer(tok), inputs={"corpus": source_digest(args.input)},
                       config=dataclasses.asdict(tcfg), profile=profile.name)
    else:
        # The run's curated corpus in, the run's tokenizer/ folder out (--out is the run folder).
        run = _run(args, profile)
        tok = build_tokenizer(profile, run)
        out = run.tokenizer_dir
    print(f"trained a {len(tok)}-token tokenizer (asked for {tcfg.vocab_size}) into {out}")
    return 0


def cmd_tokenizer_extend(args) -> int:
    from .data.readers import corpus_texts
    from .manifest import digest_tokenizer, write_manifest
    from .pipeline import source_digest
    from .tokenizer import load_tokenizer
    from .tokenizer.extend import extend_tokenizer

    profile = _profile(args)
    if args.out is None:
        raise CliError("give --out: the folder to write the extended tokenizer to")
    base = Path(args.base)
    if not (base / "tokenizer.json").is_file():
        raise CliError(f"--base {base} is not a tokenizer folder (no tokenizer.json); give RUN/tokenizer of "
                       "the model you will continue")
    out = Path(args.out)
    if out.resolve() == base.resolve():
        raise CliError("--out is the base tokenizer's folder: the extended tokenizer goes to a new folder "
                       "(the base model still needs its own)")
    column = profile.data.text_column
    texts = list(corpus_texts(args.input, text_column=column))
    old = list(corpus_texts(args.old_input, text_column=column)) if args.old_input else None
    tok, report = extend_tokenizer(load_tokenizer(base), texts, args.add, old_texts=old, out_dir=out)
    inputs = {"base": digest_tokenizer(load_tokenizer(base)), "corpus": source_digest(args.input)}
    if args.old_input:
        inputs["old_corpus"] = source_digest(args.old_input)
    summary = {k: v for k, v in report.items() if k not in ("new_tokens", "dropped_tokens")}
    write_manifest(out, "tokenizer", digest=digest_tokenizer(tok), inputs=inputs,
                   config={"extend": {"add": args.add, **summary}}, profile=profile.name)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_continue(args) -> int:
    from .pipeline import run_for
    from .runs import RunDir
    from .tokenizer import load_tokenizer
    from .train.continual import STAGES, continue_pretraining

    profile = _profile(args)
    base_run = RunDir(Path(args.from_run))
    if not base_run.root.is_dir():
        raise CliError(f"--from {base_run.root} does not exist; give the run folder of a pretrained model")
    run = run_for(profile, args.out) if args.out else base_run
    base_tokenizer = load_tokenizer(base_run.tokenizer_dir) if (base_run.tokenizer_dir / "tokenizer.json").is_file() \
        else None
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else base_tokenizer
    if tokenizer is None:
        raise CliError(f"{base_run.root} has no tokenizer/; give --tokenizer (the base one, or one made by "
                       "`ttl tokenizer extend`)")
    stages = STAGES if args.stage == "all" else (args.stage,)
    results = continue_pretraining(profile, run, from_checkpoint=base_run.root, tokenizer=tokenizer,
                                   base_tokenizer=base_tokenizer, stages=stages, stop_after=args.stop_after,
                                   base_run=base_run)
    if int(os.environ.get("RANK", "0")) == 0:  # under accelerate launch, the main process reports
        print(json.dumps({name: {"checkpoint": str(r.checkpoint), **(r.history[-1] if r.history else {})}
                          for name, r in results.items()}, indent=2))
    return 0


def cmd_pretrain(args) -> int:
    from .pipeline import ensure_tokens
    from .train import pretrain
    from .train.loop import main_process_first

    profile = _profile(args)
    if profile.published.model:
        raise CliError(f"profile {profile.name!r} uses the published model {profile.published.model} "
                       "(published.model): there is nothing to pretrain. Use a profile without it to "
                       "train your own, or `ttl pipeline` to go on with the published one")
    run = _run(args, profile)
    with main_process_first():   # under accelerate launch: one process builds, the others reuse
        tokens = ensure_tokens(profile, run, quiet=int(os.environ.get("RANK", "0")) > 0)
    result = pretrain(profile, run, tokens_dir=tokens, max_steps=args.max_steps, resume=not args.no_resume)
    if int(os.environ.get("RANK", "0")) == 0:  # under accelerate launch, the main process reports
        last = result.history[-1] if result.history else {}
        print(json.dumps({"checkpoint": str(result.checkpoint), **last}, indent=2))
    return 0


def cmd_generate(args) -> int:
    from .generate import SamplingConfig, generate

    cfg = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed)
    if args.model:   # an export, or a published model (a folder or a Hub name), safetensors only
        from .model.published import load_published_model, load_published_tokenizer, published_folder

        folder = published_folder(args.model)   # a PublishedModelError says what is wrong
        model, tokenizer = load_published_model(folder), load_published_tokenizer(folder)
    else:
        model, tokenizer = _trained(args)
    print(args.prompt + generate(model, tokenizer, args.prompt, cfg))
    return 0


def _trained(args):
    """The run's trained model and tokenizer, read as they are (never rebuilt, moved or deleted)."""
    from .pipeline import ensure_checkpoint, ensure_tokenizer

    profile = _profile(args)
    run = _existing_run(args, profile)
    return ensure_checkpoint(profile, run, build=False), ensure_tokenizer(profile, run, build=False)


def _existing_run(args, profile, *, lock: bool = False):
    """A run folder that must exist already; a command that writes into it (export) locks it."""
    from .runs import RunDir

    run = RunDir(Path(args.out).resolve()) if args.out else RunDir.for_profile(profile.name)
    if not run.root.is_dir():
        raise CliError(f"no run folder at {run.root}; build one with `ttl pipeline --out {run.root}`")
    return _held.enter_context(run.lock(f"ttl {args.command}")) if lock else run


def cmd_eval(args) -> int:
    from .eval import evaluate_task, fewshot_task
    from .io import atomic_write_json
    from .pipeline import load_task_dataset

    profile = _profile(args)
    tasks = [fewshot_task(name) for name in args.tasks]  # unknown names fail before any work
    run = _existing_run(args, profile)
    if args.harness:
        from .eval.fewshot import eval_rows
        from .eval.harness import require_lm_eval, run_harness, side_by_side
        from .pipeline import require_fresh_export

        require_lm_eval()
        export = require_fresh_export(profile, run)   # the export as it is: never built, never moved
    model, tokenizer = _trained(args)
    results, harness_data = [], {}
    for task in tasks:
        dataset = load_task_dataset(profile, task)
        # With --harness, compare like with like: lm-eval scores a classification task by the
        # log-likelihood of each answer (multiple_choice), ttl's loglik mode.
        mode = args.mode or ("loglik" if args.harness and task.kind == "classification" else "generate")
        res = evaluate_task(model, tokenizer, task, dataset, num_fewshot=profile.eval.num_fewshot,
                            max_examples=profile.eval.max_eval_examples, mode=mode)
        res.pop("samples")
        results.append(res)
        print(json.dumps({k: v for k, v in res.items() if k != "predictions"}))   # the scores, not every row
        if args.harness:  # the harness reads the very rows ttl scored, in the same order
            harness_data[task.name] = {"train": dataset["train"],
                                       "test": eval_rows(task, dataset, profile.eval.max_eval_examples)}
    atomic_write_json(run.reports_dir / "fewshot.json",
                      [{k: v for k, v in res.items() if k != "predictions"} for res in results])
    if args.harness:
        output = run_harness(export, tasks, data=harness_data, num_fewshot=profile.eval.num_fewshot)
        lines = [side_by_side(res, output) for res in results]
        for line in lines:
            print(json.dumps(line))
        atomic_write_json(run.reports_dir / "harness.json", lines)
    return 0


def cmd_finetune(args) -> int:
    from .pipeline import ensure_classifier

    profile = _profile(args)
    res = ensure_classifier(profile, _run(args, profile), args.task)
    print(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=2))
    return 0


def cmd_sft(args) -> int:
    from .chat.stages import chat_dir, ensure_sft

    profile = _profile(args)
    run = _run(args, profile)
    overrides = {k: v for k, v in (("max_steps", args.steps), ("lr", args.lr)) if v is not None}
    ensure_sft(profile, run, data=args.chat_data, overrides=overrides or None)
    print(f"[ttl] instruction-tuned model in {chat_dir(run, 'sft')}")
    return 0


def cmd_dpo(args) -> int:
    from .chat.stages import chat_dir, effect_table, ensure_dpo, measure_effect

    profile = _profile(args)
    run = _run(args, profile)
    overrides = {k: v for k, v in (("max_steps", args.steps), ("lr", args.lr), ("beta", args.beta))
                 if v is not None}
    ensure_dpo(profile, run, data=args.chat_data, overrides=overrides or None)
    print(f"[ttl] preference-tuned model in {chat_dir(run, 'dpo')}")
    if args.measure:
        print(effect_table(measure_effect(profile, run, pref_data=args.chat_data)))
    return 0


def cmd_export(args) -> int:
    from .pipeline import ensure_chat_export, ensure_gguf, ensure_hf_model

    profile = _profile(args)
    run = _existing_run(args, profile, lock=True)
    which = "" if args.model == "base" else f"{args.model} chat model's "
    if args.format == "gguf":
        quant = args.quant or "f16"
        folder = ensure_gguf(profile, run, quant, model=args.model, build=False).parent
        what = f"the {which}GGUF file ({quant}) for llama.cpp is in"
    else:
        if args.quant is not None:
            raise CliError("--quant is for --format gguf; the Hugging Face folder keeps the checkpoint's precision")
        folder = (ensure_hf_model(profile, run, build=False) if args.model == "base"
                  else ensure_chat_export(profile, run, args.model))
        what = f"the {which}Hugging Face model folder:"
    if args.to:
        folder = _copy_export(folder, Path(args.to), overwrite=args.overwrite)
    print(f"{what[0].upper()}{what[1:]} {folder}")
    return 0


def _copy_export(folder: Path, to: Path, *, overwrite: bool = False) -> Path:
    """Copy an export to ``to`` as a whole folder, swapped in at once (never a mix of two models).

    An empty or new ``to`` is written; one holding an earlier export of the same checkpoint is
    replaced; anything else (another model, your own files) is refused unless ``overwrite``.
    """
    import shutil

    from .io import atomic_dir
    from .manifest import read_manifest

    if to.exists() and not to.is_dir():
        raise CliError(f"--to {to} is a file; give a folder")
    if to.is_dir() and any(to.iterdir()) and not overwrite:
        there, here = read_manifest(to) or {}, read_manifest(folder) or {}
        if there.get("stage") not in ("export", "gguf"):
            raise CliError(f"{to} already holds files that are not a ttl export; choose an empty or new "
                           "folder, or pass --overwrite to replace it whole")
        if (there.get("stage"), there.get("inputs")) != (here.get("stage"), here.get("inputs")):
            made_from = there.get("config", {}).get("checkpoint") or ", ".join(there.get("inputs", {}))
            raise CliError(f"{to} holds the export of another checkpoint or model ({made_from}); "
                           "choose another folder, or pass --overwrite to replace it whole")
    with atomic_dir(to) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
    return to


def cmd_status(args) -> int:
    from .pipeline import run_status

    profile = _profile(args)
    run = _existing_run(args, profile)
    rows = run_status(profile, run)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"run {run.root} (profile {profile.name})")
    for row in rows:
        print(f"  {row['stage']:22s} {row['state']:8s} {row['folder']}")
        for why in row["why"]:
            print(f"  {'':22s}   - {why}")
        if row["state"] in ("stale", "missing") and row["fix"]:
            print(f"  {'':22s}   fix: {row['fix']}")
    return 0


def cmd_plan(args) -> int:
    from .plan import format_plan, plan

    result = plan(_profile(args), args.gpus, mfu=args.mfu, price_per_gpu_hour=args.price, pue=args.pue)
    print(json.dumps(result, indent=2) if args.json else format_plan(result))
    return 0


def cmd_tasks(args) -> int:
    from .tasks import all_tasks

    for task in all_tasks():
        extra = f", {task.num_fewshot}-shot {task.metric}" if task.fewshot else ""
        print(f"{task.name:12s} {task.kind:14s} {task.data.hub_name:34s} {task.description}{extra}")
    return 0


def cmd_pipeline(args) -> int:
    from .pipeline import run_pipeline

    summary = run_pipeline(_profile(args), args.out, tasks=tuple(args.tasks))  # names checked by argparse
    print(json.dumps(summary, indent=2))
    return 0


_OS_FIXES = {
    errno.ENOSPC: "free some space on that disk, or give a folder on another disk (--out)",
    errno.EDQUOT: "free some space (disk quota), or give a folder on another disk (--out)",
    errno.EACCES: "give a folder you may write to (--out), or fix its permissions",
    errno.EPERM: "give a folder you may write to (--out), or fix its permissions",
    errno.EROFS: "the disk is read-only: give a folder on a writable disk (--out)",
    errno.ENOTDIR: "a file stands where a folder is needed: give a folder path (--out / --to)",
    errno.EEXIST: "a file stands where a folder is needed: give a folder path (--out / --to)",
    errno.EISDIR: "a folder stands where a file is needed: check the path",
    errno.ENOENT: "check the path",
}


def os_error_message(exc: OSError) -> str:
    """One line for an OS error: what failed, on which path, and what to do."""
    path = exc.filename or ""
    what = exc.strerror or str(exc)
    fix = _OS_FIXES.get(exc.errno, "check the path and try again")
    return f"{what}{': ' + str(path) if path else ''}. {fix[0].upper() + fix[1:]}; nothing already written was changed."


def build_parser() -> argparse.ArgumentParser:
    from .export.gguf import QUANT_TYPES

    parser = argparse.ArgumentParser(prog="ttl", description="Build a compact Llama for a low-resource language.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from .tasks import task_names

    classification = task_names("classification")

    def with_run(p):
        p.add_argument("--profile", default=None, help="profile name or YAML path (default: $TTL_PROFILE or smoke)")
        p.add_argument("--out", default=None, help="run folder (default: runs/<profile> in the checkout)")
        p.add_argument("--data", action="append", metavar="NAME=SOURCE",
                       help="read a task's dataset (or corpus=...) from a local file/folder or a Hub name; repeatable")
        p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                       help="change one setting of the profile, e.g. --set train.lr=3e-4 or "
                       "--set continual.stage_1.steps=40; repeatable")
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
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted curation in --out from its last complete shard")
    p.add_argument("--num-proc", type=int, default=None, help="worker processes (default: the config's)")
    p.set_defaults(func=cmd_curate)

    p = sub.add_parser("tokenizer", help="train a tokenizer")
    tsub = p.add_subparsers(dest="action", metavar="ACTION")
    tsub.required = True
    t = with_run(tsub.add_parser("train", help="train a BPE tokenizer with byte fallback"))
    t.add_argument("--input", default=None, help="JSONL/parquet with a text column (default: the run's corpus; "
                                                 "then --out is the run folder and the tokenizer goes to its tokenizer/)")
    t.add_argument("--vocab-size", type=int, default=None)
    t.set_defaults(func=cmd_tokenizer)
    t = with_run(tsub.add_parser("extend", help="add a new language's tokens to a tokenizer, keeping every id"))
    t.add_argument("--base", required=True, help="the base tokenizer folder (RUN/tokenizer)")
    t.add_argument("--input", required=True, help="text of the new language (JSONL/parquet with a text column)")
    t.add_argument("--add", type=int, required=True, help="how many tokens to add at most")
    t.add_argument("--old-input", default=None,
                   help="text of the base language: new tokens that would change its tokenization are left out")
    t.set_defaults(func=cmd_tokenizer_extend)

    p = with_run(sub.add_parser("pretrain", help="pretrain (resumes from the last checkpoint)"))
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--no-resume", action="store_true")
    p.set_defaults(func=cmd_pretrain)

    p = with_run(sub.add_parser("continue", help="continual pretraining into a new language (two stages)"))
    p.add_argument("--from", dest="from_run", required=True, help="the run folder of the pretrained model")
    p.add_argument("--tokenizer", default=None,
                   help="the extended tokenizer (`ttl tokenizer extend`); default: the --from run's own")
    p.add_argument("--stage", choices=["all", "stage_1", "stage_2"], default="all")
    p.add_argument("--stop-after", type=int, default=None, help="stop the stage at this step (resume later)")
    p.set_defaults(func=cmd_continue)

    p = with_run(sub.add_parser("generate", help="generate text"))
    p.add_argument("--model", default=None, help="a Hugging Face model folder or a Hub name "
                   "(nicholasKluge/TeenyTinyLlama-160m) instead of the run's checkpoint")
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
    p.add_argument("--mode", choices=["generate", "loglik"], default=None,
                   help="generate (default) or loglik; with --harness, loglik for classification tasks")
    p.add_argument("--harness", action="store_true",
                   help="also run lm-evaluation-harness (ttl's task YAMLs) on the run's export, on the same "
                        "rows and shots, and print its scores beside ttl's (needs pip install 'ttl[harness]')")
    p.set_defaults(func=cmd_eval)

    p = with_run(sub.add_parser("finetune", help="fine-tune a classifier"))
    p.add_argument("--task", required=True, type=_task_name, help=f"one of {', '.join(classification)}")
    p.set_defaults(func=cmd_finetune)

    p = with_run(sub.add_parser("sft", help="instruction-tune the pretrained model (assistant-only loss)"))
    p.add_argument("--chat-data", default=None, metavar="SOURCE",
                   help="conversations: local file/folder or hub:NAME (default: the embedded chat sample)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.set_defaults(func=cmd_sft)

    p = with_run(sub.add_parser("dpo", help="preference-tune the instruction-tuned model with DPO"))
    p.add_argument("--chat-data", default=None, metavar="SOURCE",
                   help="preference triples: local file/folder or hub:NAME (default: the embedded sample)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--beta", type=float, default=None)
    p.add_argument("--measure", action="store_true", help="print the before/after effect table")
    p.set_defaults(func=cmd_dpo)

    p = with_run(sub.add_parser("export", help="export to Hugging Face format or to GGUF (llama.cpp)"))
    p.add_argument("--model", choices=("base", "sft", "dpo"), default="base",
                   help="the pretrained model (default), or a chat model of `ttl sft` / `ttl dpo`")
    p.add_argument("--format", choices=("hf", "gguf"), default="hf",
                   help="hf: a transformers folder with its card (default); gguf: one file for llama.cpp")
    p.add_argument("--quant", type=str.lower, choices=QUANT_TYPES, default=None,
                   help="GGUF storage type (default f16); f32/f16/bf16/q8_0 are written by ttl, "
                        "the k-quants by llama.cpp (pip install 'ttl[gguf]')")
    p.add_argument("--to", default=None, help="copy the exported folder here too")
    p.add_argument("--overwrite", action="store_true", help="replace --to whole even if it holds something else")
    p.set_defaults(func=cmd_export)

    p = with_run(sub.add_parser("pipeline", help="run every stage, leaving all artifacts in --out"))
    p.add_argument("--tasks", nargs="*", default=["assin2_rte", "hatebr"], type=_task_name,
                   help=f"classifiers to fine-tune (default assin2_rte hatebr; any of {', '.join(classification)})")
    p.set_defaults(func=cmd_pipeline)

    p = with_run(sub.add_parser("status", help="each stage of a run: fresh, stale (and why) or missing"))
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)

    sub.add_parser("tasks", help="list the registered tasks").set_defaults(func=cmd_tasks)

    p = sub.add_parser("plan", help="hours, energy, cost, disk and memory of a profile's full run")
    p.add_argument("--profile", default=None, help="profile name or YAML path (default: $TTL_PROFILE or smoke)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="change one setting")
    p.add_argument("--gpus", default="1xA100", help="COUNTxNAME, e.g. 8xH100 or 1xA100-80GB (default 1xA100)")
    p.add_argument("--mfu", type=float, default=0.4, help="share of the GPUs' peak reached (default 0.4)")
    p.add_argument("--price", type=float, default=None, help="price of one GPU-hour, for the cost")
    p.add_argument("--pue", type=float, default=1.1, help="data-centre overhead on the GPUs' power (default 1.1)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_plan)
    return parser


def _task_name(name: str) -> str:
    """argparse type: a classification task of the registry (aliases allowed), as its canonical name."""
    from .tasks import TaskError, get_task, task_names

    try:
        task = get_task(name)
    except TaskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if task.kind != "classification":
        raise argparse.ArgumentTypeError(f"{name!r} is not a classification task; choose one of "
                                         f"{', '.join(task_names('classification'))}")
    return task.name


def main(argv: list[str] | None = None) -> int:
    from .manifest import StaleError

    from .runs import RunLockedError

    args = build_parser().parse_args(argv)

    said = set()

    def one_line(message, category, filename, lineno, file=None, line=None):
        if str(message) not in said:   # the same finding reported by two stages is said once
            said.add(str(message))
            print(f"ttl {args.command}: warning: {message}", file=sys.stderr)

    try:
        with _held, warnings.catch_warnings():
            warnings.showwarning = one_line
            return args.func(args)
    except (CliError, ConfigError, StaleError, RunLockedError, ValueError) as exc:
        print(f"ttl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ttl {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a rerun resumes from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
