"""The whole chain, stage by stage, each stage reusing what the run folder already holds.

    corpus -> tokenizer -> token files -> checkpoint -> Hugging Face export -> classifiers

Every ``ensure_*`` function returns its artifact, building it (and what it
needs) when absent or stale. Notebooks call them so that each chapter runs
alone in a fresh kernel, and ``ttl pipeline`` calls them all in order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from .config import Profile, load_profile
from .runs import RunDir

CURATION_REPORT = "report.json"


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[ttl] {msg}", flush=True)


def run_for(profile: Profile, out: str | os.PathLike | None = None) -> RunDir:
    return (RunDir(Path(out).resolve()) if out else RunDir.for_profile(profile.name)).ensure()


# --------------------------------------------------------------------------- corpus
def _curation_complete(folder: Path) -> bool:
    report = folder / CURATION_REPORT
    if not report.is_file():
        return False
    return json.loads(report.read_text(encoding="utf-8")).get("status") == "complete"


def ensure_corpus(profile: Profile, run: RunDir, *, quiet: bool = False) -> Path:
    """The run's curated corpus folder (JSONL shards + report.json), curated when absent.

    With the embedded sample the input is the labelled dirty crawl made from it, exactly as
    in chapter 1 (same seed, same config), so a run gives the same corpus whether or not the
    chapter ran first; with a Hub name or a path, the corpus itself is curated as it streams.
    A curation that stopped halfway is redone from scratch.
    """
    from .data.curate import load_curation_config, run_curation

    folder = run.corpus_dir
    if _curation_complete(folder):
        return folder
    _log(f"curating the corpus into {folder}", quiet)
    config = load_curation_config(None, language=profile.data.language)
    if profile.data.corpus is None:
        from .data.crawl import make_raw_crawl, sample_documents

        docs = sample_documents(profile.data.max_documents)
        source = make_raw_crawl(docs, seed=profile.train.seed, language=profile.data.language)
    else:
        from .data.loaders import profile_texts

        source = profile_texts(profile)
    run_curation(config, source, folder, overwrite=True, progress=not quiet)
    if not _curation_complete(folder):
        raise RuntimeError(f"curation did not complete in {folder}; see {folder / CURATION_REPORT}")
    return folder


def read_corpus_texts(folder: str | os.PathLike) -> Iterator[str]:
    """Texts of a curated corpus folder, shard by shard, in order."""
    shards = sorted(Path(folder).glob("shard-*.jsonl"))
    if not shards:
        raise FileNotFoundError(f"no curated shards (shard-*.jsonl) in {folder}; run `ttl curate` first")
    for shard in shards:
        with shard.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)["text"]


def corpus_texts(profile: Profile, run: RunDir, *, quiet: bool = False) -> Iterator[str]:
    """Texts for tokenizer training and packing: the run's curated corpus."""
    yield from read_corpus_texts(ensure_corpus(profile, run, quiet=quiet))


# --------------------------------------------------------------------------- tokenizer
def ensure_tokenizer(profile: Profile, run: RunDir, *, quiet: bool = False):
    from .tokenizer import load_tokenizer, train_tokenizer

    folder = run.tokenizer_dir
    if (folder / "tokenizer.json").is_file():
        return load_tokenizer(folder)
    _log(f"training a {profile.tokenizer.vocab_size}-token tokenizer into {folder}", quiet)
    return train_tokenizer(corpus_texts(profile, run, quiet=quiet), profile.tokenizer.vocab_size, folder,
                           byte_fallback=profile.tokenizer.byte_fallback,
                           split_digits=profile.tokenizer.split_digits, max_chars=profile.tokenizer.max_chars,
                           show_progress=not quiet)


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- tokens
def ensure_tokens(profile: Profile, run: RunDir, *, quiet: bool = False) -> Path:
    from .data.packing import pack_documents

    tokenizer = ensure_tokenizer(profile, run, quiet=quiet)
    fingerprint = _fingerprint(run.tokenizer_dir / "tokenizer.json")
    meta_path = run.tokens_dir / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("tokenizer") == fingerprint:
            return run.tokens_dir
        _log("the tokenizer changed since the corpus was packed: packing again", quiet)
    _log(f"packing the corpus into {run.tokens_dir}", quiet)
    meta = pack_documents(corpus_texts(profile, run, quiet=quiet), tokenizer, run.tokens_dir,
                          val_fraction=profile.data.val_fraction, seed=profile.train.seed,
                          show_progress=not quiet)
    meta["tokenizer"] = fingerprint
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    os.replace(tmp, meta_path)
    return run.tokens_dir


# --------------------------------------------------------------------------- model
def _stale_aside(folder: Path, quiet: bool) -> None:
    """Move an artifact built from other inputs out of the way (renamed, never deleted)."""
    if folder.exists():
        n = 1
        while (aside := folder.with_name(f"{folder.name}.stale-{n}")).exists():
            n += 1
        _log(f"{folder.name} was built from another tokenizer or model config: kept as {aside.name}", quiet)
        os.replace(folder, aside)


def ensure_checkpoint(profile: Profile, run: RunDir, *, quiet: bool = False):
    """The trained model of the run: trains (or resumes) until ``train.max_steps``.

    A checkpoint trained with another tokenizer or another model shape is not reused:
    its folder is renamed aside and training starts again.
    """
    from .train import latest_checkpoint, load_trained_model, pretrain
    from .train.checkpoint import load_trainer_state

    ensure_tokenizer(profile, run, quiet=quiet)
    fingerprint = _fingerprint(run.tokenizer_dir / "tokenizer.json")
    last = latest_checkpoint(run.checkpoints_dir)
    if last is not None:
        state = load_trainer_state(last)
        same_model = state.get("config", {}).get("model") == profile.to_dict()["model"]
        if state.get("tokenizer") != fingerprint or not same_model:
            _stale_aside(run.checkpoints_dir, quiet)
        elif state["step"] >= profile.train.max_steps:
            return load_trained_model(profile, run, last)
    tokens = ensure_tokens(profile, run, quiet=quiet)
    _log(f"pretraining for {profile.train.max_steps} steps into {run.checkpoints_dir}", quiet)
    return pretrain(profile, run, tokens_dir=tokens, show_progress=not quiet).model.eval()


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _model_source(profile: Profile, run: RunDir) -> dict | None:
    """What the exported model is made of: the checkpoint and the tokenizer it was trained with."""
    from .train import latest_checkpoint

    last = latest_checkpoint(run.checkpoints_dir)
    tok = run.tokenizer_dir / "tokenizer.json"
    if last is None or not tok.is_file():
        return None
    return {"checkpoint": last.name, "tokenizer": _fingerprint(tok), "profile": profile.name}


SOURCE_FILE = "ttl_source.json"


def ensure_hf_model(profile: Profile, run: RunDir, *, quiet: bool = False) -> Path:
    """A Hugging Face model folder (LlamaForCausalLM + tokenizer) of the trained model."""
    from .model.hf import save_hf

    folder = run.hf_model_dir
    source = _model_source(profile, run)
    if source is not None and _read_json(folder / SOURCE_FILE) == source:
        return folder
    model = ensure_checkpoint(profile, run, quiet=quiet)
    tokenizer = ensure_tokenizer(profile, run, quiet=quiet)
    _log(f"exporting to Hugging Face format in {folder}", quiet)
    save_hf(model, folder, tokenizer=tokenizer)
    (folder / SOURCE_FILE).write_text(json.dumps(_model_source(profile, run)), encoding="utf-8")
    return folder


def load_task_dataset(task: str):
    from .data import loaders

    return {"assin2": loaders.load_assin2, "hatebr": loaders.load_hatebr,
            "faquad_nli": loaders.load_faquad_nli}[task]()


def ensure_classifier(profile: Profile, run: RunDir, task: str, *, quiet: bool = False) -> dict:
    from .finetune import finetune_classifier

    folder = run.classifier_dir(task)
    hf_dir = ensure_hf_model(profile, run, quiet=quiet)
    source = _read_json(hf_dir / SOURCE_FILE)
    if (folder / "metrics.json").is_file() and _read_json(folder / SOURCE_FILE) == source:
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8")) | {"path": str(folder)}
    _log(f"fine-tuning a {task} classifier into {folder}", quiet)
    folder.parent.mkdir(parents=True, exist_ok=True)
    result = finetune_classifier(hf_dir, task, load_task_dataset(task), profile.finetune, folder,
                                 show_progress=not quiet)
    (folder / SOURCE_FILE).write_text(json.dumps(source), encoding="utf-8")
    return result


def run_pipeline(profile: Profile | str | None = None, out: str | os.PathLike | None = None, *,
                 tasks: tuple[str, ...] = ("assin2", "hatebr"), quiet: bool = False) -> dict:
    """Run every stage and return where each artifact is, plus the headline figures."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    run = run_for(profile, out)
    summary: dict = {"profile": profile.name, "run_dir": str(run.root)}
    summary["corpus"] = str(ensure_corpus(profile, run, quiet=quiet))
    summary["curation"] = json.loads((run.corpus_dir / CURATION_REPORT).read_text(encoding="utf-8")).get("steps")
    ensure_tokenizer(profile, run, quiet=quiet)
    summary["tokenizer"] = str(run.tokenizer_dir)
    summary["tokens"] = str(ensure_tokens(profile, run, quiet=quiet))
    ensure_checkpoint(profile, run, quiet=quiet)
    summary["checkpoints"] = str(run.checkpoints_dir)
    summary["hf_model"] = str(ensure_hf_model(profile, run, quiet=quiet))
    summary["classifiers"] = {}
    for task in tasks:
        res = ensure_classifier(profile, run, task, quiet=quiet)
        summary["classifiers"][task] = {"path": res["path"], "test_accuracy": res["test_accuracy"],
                                        "test_macro_f1": res["test_macro_f1"]}
    (run.root / "pipeline.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
