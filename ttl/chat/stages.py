"""SFT and DPO as stages of a run folder, after the pretrained checkpoint::

    RUN/chat/sft/   checkpoints/step_*/ (exact resume), metrics.jsonl, tokenizer/ (with the chat
                    template), effect.json, manifest.json
    RUN/chat/dpo/   the same, trained from chat/sft with chat/sft as the frozen reference

Each stage's manifest names the digests of what it was made from (the pretrained checkpoint or
the SFT stage, the tokenizer, the chat data) and the settings it used. A fresh stage is reused;
a stale one is renamed aside (``sft.stale-N``), never deleted, and trained again; a stage
interrupted halfway resumes from its last checkpoint when its inputs and settings still match.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path

from ..io import atomic_write_json, move_aside
from ..manifest import differences, read_manifest, write_manifest
from .config import chat_config
from .data import corpus_instructions, digest_rows, load_chat_preferences, load_chat_sft
from ..tokenizer.train import save_tokenizer
from .template import add_chat_template


def chat_dir(run, stage: str) -> Path:
    return run.root / "chat" / stage


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[ttl] {msg}", flush=True)


def _prepare(folder: Path, inputs: dict, config: dict, quiet: bool) -> bool:
    """True when ``folder`` holds a finished stage made from ``inputs`` with ``config``. Otherwise
    a stale folder (finished or partial, from other inputs) is set aside and False returned."""
    from ..train.checkpoint import latest_checkpoint

    if not folder.exists():
        return False
    found = read_manifest(folder)
    if found is not None:
        why = differences(found, inputs=inputs, config=config)
        if not why:
            return True
    else:
        last = latest_checkpoint(folder / "checkpoints", warn=False)
        why = differences(read_manifest(last), inputs=inputs, config=config) if last else []
        if not why:
            return False            # interrupted with the same inputs: resume
    aside = move_aside(folder, "stale")
    _log(f"{folder.name} is stale ({'; '.join(why)}): kept as {aside.name}, training it again", quiet)
    return False


def _load_stage_model(folder: Path):
    from ..train.checkpoint import latest_checkpoint, load_checkpoint_model

    last = latest_checkpoint(folder / "checkpoints")
    if last is None:
        raise FileNotFoundError(f"no checkpoint in {folder / 'checkpoints'}")
    return load_checkpoint_model(last)


def _chat_tokenizer(profile, run, quiet):
    from ..pipeline import ensure_tokenizer

    return add_chat_template(copy.deepcopy(ensure_tokenizer(profile, run, quiet=quiet)))


def ensure_sft(profile, run, *, data=None, overrides: dict | None = None, quiet: bool = False,
               stop_after: int | None = None):
    """The SFT model of ``run`` (trained from its pretrained checkpoint when absent or stale) and
    its tokenizer; ``data``: a chat source (None: the embedded sample)."""
    from ..pipeline import _digest_of, checkpoint_digest, ensure_checkpoint
    from ..train import latest_checkpoint
    from .sft import train_sft

    with run.lock("ttl sft"):
        base = ensure_checkpoint(profile, run, quiet=quiet)
        tokenizer = _chat_tokenizer(profile, run, quiet)
        cfg, _ = chat_config(profile, sft=overrides)
        splits = load_chat_sft(data)
        train = list(splits["train"])
        if cfg.include_corpus_instructions:
            from ..data.readers import corpus_texts

            train += corpus_instructions(corpus_texts(run.corpus_dir))
        folder = chat_dir(run, "sft")
        inputs = {"checkpoint": checkpoint_digest(profile, run),
                  "tokenizer": _digest_of(run.tokenizer_dir), "data": digest_rows(train)}
        config = {"sft": dataclasses.asdict(cfg), "data_source": str(data or "embedded chat sample")}
        if _prepare(folder, inputs, config, quiet):
            return _load_stage_model(folder), tokenizer
        _log(f"SFT for {cfg.max_steps} steps on {len(train)} conversations into {folder}", quiet)
        manifest = {"inputs": inputs, "config": config, "profile": profile.name}
        history = train_sft(base, tokenizer, train, cfg, folder, manifest=manifest, stop_after=stop_after,
                            show_progress=not quiet)
        if stop_after is not None and stop_after < cfg.max_steps:
            return base, tokenizer
        save_tokenizer(tokenizer, folder / "tokenizer")   # atomic, and loadable by transformers 4.x too
        write_manifest(folder, "sft", digest=_digest_of(latest_checkpoint(folder / "checkpoints")),
                       inputs=inputs, config=config, profile=profile.name, final_loss=history[-1]["loss"])
        return base, tokenizer


def ensure_dpo(profile, run, *, data=None, sft_data=None, overrides: dict | None = None,
               sft_overrides: dict | None = None, quiet: bool = False, stop_after: int | None = None):
    """The DPO model of ``run``: trained from the SFT model against a frozen copy of it."""
    from ..pipeline import _digest_of
    from ..train import latest_checkpoint
    from .dpo import train_dpo

    with run.lock("ttl dpo"):
        reference, tokenizer = ensure_sft(profile, run, data=sft_data, overrides=sft_overrides, quiet=quiet)
        _, cfg = chat_config(profile, dpo=overrides)
        splits = load_chat_preferences(data)
        folder = chat_dir(run, "dpo")
        sft_folder = chat_dir(run, "sft")
        inputs = {"sft": _digest_of(sft_folder), "data": digest_rows(splits["train"])}
        config = {"dpo": dataclasses.asdict(cfg), "data_source": str(data or "embedded chat sample")}
        if _prepare(folder, inputs, config, quiet):
            return _load_stage_model(folder), tokenizer
        policy = copy.deepcopy(reference)
        _log(f"DPO (beta {cfg.beta}) for {cfg.max_steps} steps on {len(splits['train'])} pairs into {folder}",
             quiet)
        manifest = {"inputs": inputs, "config": config, "profile": profile.name}
        history = train_dpo(policy, reference, tokenizer, splits["train"], cfg, folder, manifest=manifest,
                            stop_after=stop_after, show_progress=not quiet)
        if stop_after is not None and stop_after < cfg.max_steps:
            return policy, tokenizer
        save_tokenizer(tokenizer, folder / "tokenizer")   # atomic, and loadable by transformers 4.x too
        write_manifest(folder, "dpo", digest=_digest_of(latest_checkpoint(folder / "checkpoints")),
                       inputs=inputs, config=config, profile=profile.name,
                       final=dict(history[-1]) if history else {})
        return policy, tokenizer


def measure_effect(profile, run, *, data=None, pref_data=None, max_new_tokens: int = 48,
                   limit: int | None = None, quiet: bool = False) -> dict:
    """The table of the chapter: format kept and stop at </s> on held-out prompts, before SFT,
    after SFT and after DPO; preference accuracy on the test triples; written to
    ``RUN/chat/effect.json`` (atomically)."""
    from ..pipeline import ensure_checkpoint
    from .evaluate import format_adherence, preference_accuracy

    base = ensure_checkpoint(profile, run, quiet=quiet)
    sft_model, tokenizer = ensure_sft(profile, run, data=data, quiet=quiet)
    dpo_model, _ = ensure_dpo(profile, run, data=pref_data, sft_data=data, quiet=quiet)
    _, dcfg = chat_config(profile)
    convs = load_chat_sft(data)["test"][:limit]
    triples = load_chat_preferences(pref_data)["test"][:limit]
    rows = {}
    for name, model in (("pretrained", base), ("after SFT", sft_model), ("after DPO", dpo_model)):
        fmt = format_adherence(model, tokenizer, convs, max_new_tokens)
        pref = preference_accuracy(model, tokenizer, triples, max_length=dcfg.max_length)
        rows[name] = {"keeps_format": fmt["keeps_format"], "stops_at_eos": fmt["stops_at_eos"],
                      "preference_accuracy": pref["accuracy"], "by_kind": pref["by_kind"],
                      "examples": fmt["examples"]}
    rows["after DPO"]["reward_accuracy"] = preference_accuracy(
        dpo_model, tokenizer, triples, reference=sft_model, beta=dcfg.beta, max_length=dcfg.max_length)["accuracy"]
    result = {"profile": profile.name, "n_prompts": len(convs), "n_triples": len(triples), "baseline": 0.5,
              "rows": rows}
    atomic_write_json(run.root / "chat" / "effect.json", result)
    return result


def effect_table(result: dict) -> str:
    """The effect as a Markdown table."""
    lines = ["| model | keeps the format | stops at </s> | chosen > rejected (log-prob) |",
             "|---|---|---|---|"]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['keeps_format']:.0%} | {r['stops_at_eos']:.0%} | "
                     f"{r['preference_accuracy']:.0%} |")
    lines.append(f"| chance | | | {result['baseline']:.0%} |")
    return "\n".join(lines)
