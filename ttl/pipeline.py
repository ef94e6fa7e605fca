"""The whole chain, stage by stage, each stage reusing what the run folder already holds.

    corpus -> tokenizer -> tokens -> checkpoint -> hf_model -> classifiers/<task>

Every ``ensure_*`` function returns its artifact, building it (and what it needs) when it is
absent or stale. Each stage writes a ``manifest.json`` (:mod:`ttl.manifest`) with the digests
of its inputs and the part of the profile it used; an artifact whose manifest does not match
is *stale*:

* a command that builds (``ttl pipeline``, ``ttl pretrain``, ``ttl finetune``, the notebooks)
  renames a stale artifact aside (``<name>.stale-N``, never deleted) and builds it again;
* a command that only reads (``ttl generate``, ``ttl eval``, ``ttl export``) passes
  ``build=False``: it never moves or deletes anything, and a missing or stale artifact is an
  error that says which input differs and what to run.

:func:`run_status` reports every stage without touching anything (``ttl status``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Profile, load_profile
from .io import atomic_dir, atomic_write_json, move_aside
from .manifest import (MANIFEST, StaleError, differences, digest_data, digest_dataset, digest_file, digest_stat,
                       digest_tokenizer, digest_tree, read_manifest, write_manifest)
from .runs import RunDir

CURATION_REPORT = "report.json"


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[ttl] {msg}", flush=True)


def run_for(profile: Profile, out: str | os.PathLike | None = None) -> RunDir:
    return (RunDir(Path(out).resolve()) if out else RunDir.for_profile(profile.name)).ensure()


# --------------------------------------------------------------------------- freshness

@dataclass
class Expectation:
    """What a stage's manifest must say for its artifact to be reused."""

    stage: str
    folder: Path
    inputs: dict[str, Any]
    config: dict[str, Any]
    fix: str                                 # the command that rebuilds it
    present: Callable[[Path], bool]          # does the folder hold the artifact at all?
    # Compare only the config sections named in ``config`` (a checkpoint may continue with
    # another learning rate, but not with another model shape).
    partial: bool = False

    def problems(self) -> list[str]:
        if not self.present(self.folder):
            return ["missing"]
        found = read_manifest(self.folder)
        if found is not None and self.partial:
            found = {**found, "config": {k: v for k, v in found.get("config", {}).items() if k in self.config}}
        return differences(found, inputs=self.inputs, config=self.config)


def _set_aside(folder: Path, why: list[str], quiet: bool) -> None:
    """Move a stale artifact out of the way (renamed, never deleted): only builders call this."""
    if folder.exists():
        aside = move_aside(folder, "stale")
        _log(f"{folder.name} is stale ({'; '.join(why)}): kept as {aside.name}, building it again", quiet)


def _reuse(expect: Expectation, *, build: bool, quiet: bool) -> bool:
    """True when the artifact can be used as it is. Otherwise a builder clears the way and gets
    False; a reader gets a StaleError that names what differs and the command to run."""
    problems = expect.problems()
    if not problems:
        return True
    if not build:
        if problems == ["missing"]:
            raise StaleError(f"no {expect.stage} in {expect.folder}; build it with `{expect.fix}`")
        raise StaleError(f"the {expect.stage} in {expect.folder} does not match this profile: "
                         f"{'; '.join(problems)}. Rebuild it with `{expect.fix}`, or pass the profile it was "
                         "built with (--profile).")
    if problems != ["missing"]:
        _set_aside(expect.folder, problems, quiet)
    return False


def _digest_of(folder: Path) -> str | None:
    manifest = read_manifest(folder)
    return manifest["digest"] if manifest else None


def _fix(command: str, run: RunDir, profile: Profile) -> str:
    return f"ttl {command} --profile {profile.name} --out {run.root}"


# --------------------------------------------------------------------------- data sources

def task_source(profile: Profile, task) -> str | None:
    """Where the profile reads a task's dataset from (``data.tasks`` or ``--data``); None: the sample."""
    from .tasks import get_dataset

    wanted = get_dataset(task).name
    for key, source in profile.data.tasks.items():
        if get_dataset(key).name == wanted:
            return source
    return None


def load_task_dataset(profile: Profile, task):
    """The train/validation/test splits of ``task`` from the profile's source for it."""
    from .data.loaders import load_task_data

    return load_task_data(task, task_source(profile, task))


def source_digest(source: str | None, dataset: str = "corpus", language: str = "pt") -> str:
    """Digest of a data source: the sample's bytes, a local path's names/sizes/times, a Hub name.

    The embedded corpus sample is the one of ``language`` (``data/corpus-<code>/`` unless pt)."""
    from .data.loaders import corpus_sample_file, sample_file
    from .data.readers import resolve_source

    if source is None:
        if dataset == "corpus":
            return digest_file(corpus_sample_file(language))
        return digest_file(sample_file(dataset, "train"))
    kind, where = resolve_source(source)
    return digest_stat(where) if kind == "local" else f"hub:{where}"


# --------------------------------------------------------------------------- corpus

def _curation_complete(folder: Path) -> bool:
    try:
        report = json.loads((folder / CURATION_REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return report.get("status") == "complete" and report.get("docs_out", 1) > 0


def _corpus_expectation(profile: Profile, run: RunDir):
    from .data.curate import load_curation_config

    data = profile.data
    curation = load_curation_config(data.curation, language=data.language)
    config = {"source": data.corpus or "embedded sample, as a labelled raw crawl", "split": data.corpus_split,
              "text_column": data.text_column, "max_documents": data.max_documents, "language": data.language,
              "curation": curation.to_dict()}
    if data.corpus is None:
        config["crawl_seed"] = profile.train.seed
    inputs = {"source": source_digest(data.corpus, language=data.language)}
    expect = Expectation("curated corpus", run.corpus_dir, inputs, config, _fix("pipeline", run, profile),
                         _curation_complete)
    return expect, curation


def ensure_corpus(profile: Profile, run: RunDir, *, quiet: bool = False, build: bool = True) -> Path:
    """The run's curated corpus folder (shards + report.json + manifest.json), curated when needed.

    With the embedded sample the input is the labelled dirty crawl made from it, exactly as in
    chapter 1 (same seed, same config); with a Hub name or a path, the corpus itself is curated
    as it streams. A curation that was killed halfway resumes from its last complete shard
    (the same input read again, the documents already curated skipped); one of another input
    or config starts again.
    """
    from .config import ConfigError
    from .data.curate import run_curation
    from .data.curate.writer import STATE_DIR
    from .data.readers import corpus_texts

    expect, curation = _corpus_expectation(profile, run)
    folder = run.corpus_dir
    if _reuse(expect, build=build, quiet=quiet):
        return folder
    _log(f"curating the corpus into {folder}", quiet)
    data = profile.data
    curation.num_proc = data.num_proc  # a speed setting: it changes neither the output nor the digest

    def source():
        if data.corpus is None:
            from .data.crawl import make_raw_crawl
            from .data.loaders import load_corpus

            return make_raw_crawl(load_corpus(max_documents=data.max_documents, language=data.language),
                                  seed=profile.train.seed, language=data.language)
        return corpus_texts(data.corpus, text_column=data.text_column, max_documents=data.max_documents,
                            split=data.corpus_split)

    report = None
    if (folder / STATE_DIR / "state.json").is_file():
        try:
            report = run_curation(curation, source(), folder, resume=True, progress=not quiet)
            _log(f"resumed the interrupted curation in {folder}", quiet)
        except ConfigError as exc:  # another input or config: nothing of it can be reused
            _log(f"cannot resume the curation in {folder} ({exc}); starting again", quiet)
    if report is None:
        report = run_curation(curation, source(), folder, overwrite=True, progress=not quiet)
    if not _curation_complete(folder):
        raise RuntimeError(f"curation did not complete in {folder} ({report.docs_out} documents kept of "
                           f"{report.docs_in}); see {folder / CURATION_REPORT}")
    write_manifest(folder, "corpus", digest=digest_tree(folder, exclude=(MANIFEST, CURATION_REPORT)),
                   inputs=expect.inputs, config=expect.config, profile=profile.name)
    return folder


# --------------------------------------------------------------------------- published models

def published_model(profile: Profile, *, download: bool = True) -> Path | None:
    """The folder of the profile's published model (``published.model``), or None when the run
    trains its own. A Hub name is downloaded once (safe files only) into the Hub cache."""
    if not profile.published.model:
        return None
    from .model.published import published_folder

    return published_folder(profile.published.model, profile.published.revision, download=download)


def _published_tokenizer_expectation(profile: Profile, run: RunDir, folder: Path) -> Expectation:
    from .model.published import published_identity

    return Expectation("tokenizer", run.tokenizer_dir, {"published": published_identity(folder)},
                       {"published": dataclasses.asdict(profile.published)}, _fix("pipeline", run, profile),
                       lambda f: (f / "tokenizer.json").is_file())


def _adopt_published_tokenizer(profile: Profile, run: RunDir, folder: Path, *, quiet: bool, build: bool):
    """The published model's tokenizer; a builder copies it into the run (with its manifest), so
    that packing and every later stage name it as they name a tokenizer trained here."""
    from .model.published import hub_folder_name, load_published_tokenizer
    from .tokenizer import load_tokenizer

    if not build:  # a reader reads it where it is and writes nothing
        return load_published_tokenizer(folder)
    expect = _published_tokenizer_expectation(profile, run, folder)
    if _reuse(expect, build=True, quiet=quiet):
        return load_tokenizer(run.tokenizer_dir)
    _log(f"adopting the tokenizer of {hub_folder_name(folder)} into {run.tokenizer_dir}", quiet)
    tokenizer = load_published_tokenizer(folder)
    with atomic_dir(run.tokenizer_dir) as tmp:
        tokenizer.save_pretrained(tmp)   # always writes tokenizer.json, even from tokenizer.model
        write_manifest(tmp, "tokenizer", digest=digest_tokenizer(tokenizer), inputs=expect.inputs,
                       config=expect.config, profile=profile.name)
    return load_tokenizer(run.tokenizer_dir)


def _published_digest(profile: Profile) -> str | None:
    folder = published_model(profile, download=False)
    if folder is None:
        return None
    from .model.published import published_identity

    return published_identity(folder)


def model_digest(profile: Profile, run: RunDir) -> str | None:
    """What the stages built on the pretrained model (classifiers, GGUF) record as their input:
    the run's export, or the published model's own files."""
    return _published_digest(profile) if profile.published.model else _digest_of(run.hf_model_dir)


def checkpoint_digest(profile: Profile, run: RunDir) -> str | None:
    """What a stage trained from the pretrained weights (chat tuning) records as its input: the
    run's latest checkpoint, or the published model's own files."""
    from .train import latest_checkpoint

    if profile.published.model:
        return _published_digest(profile)
    last = latest_checkpoint(run.checkpoints_dir)
    return _digest_of(last) if last else None


# --------------------------------------------------------------------------- tokenizer

def _tokenizer_expectation(profile: Profile, run: RunDir, corpus_digest: str | None) -> Expectation:
    return Expectation("tokenizer", run.tokenizer_dir, {"corpus": corpus_digest},
                       dataclasses.asdict(profile.tokenizer), _fix("tokenizer train", run, profile),
                       lambda f: (f / "tokenizer.json").is_file())


def ensure_tokenizer(profile: Profile, run: RunDir, *, quiet: bool = False, build: bool = True):
    """The run's tokenizer, trained on its curated corpus when absent or stale."""
    from .tokenizer import load_tokenizer

    published = published_model(profile)
    if published is not None:
        return _adopt_published_tokenizer(profile, run, published, quiet=quiet, build=build)
    if not build:  # a reader trusts the tokenizer the checkpoint names (checked there)
        folder = run.tokenizer_dir
        if not (folder / "tokenizer.json").is_file():
            raise StaleError(f"no tokenizer in {folder}; build it with `{_fix('tokenizer train', run, profile)}`")
        return load_tokenizer(folder)
    corpus = ensure_corpus(profile, run, quiet=quiet)
    expect = _tokenizer_expectation(profile, run, _digest_of(corpus))
    if _reuse(expect, build=True, quiet=quiet):
        return load_tokenizer(run.tokenizer_dir)
    return build_tokenizer(profile, run, quiet=quiet)


def build_tokenizer(profile: Profile, run: RunDir, *, quiet: bool = False):
    """Train the run's tokenizer on its curated corpus (curated first if needed) and record how."""
    from .data.readers import corpus_texts
    from .tokenizer import train_tokenizer

    if profile.published.model:
        return ensure_tokenizer(profile, run, quiet=quiet)   # the published model's, adopted
    corpus = ensure_corpus(profile, run, quiet=quiet)
    expect = _tokenizer_expectation(profile, run, _digest_of(corpus))
    tcfg = profile.tokenizer
    _log(f"training a {tcfg.vocab_size}-token tokenizer into {run.tokenizer_dir}", quiet)
    tokenizer = train_tokenizer(corpus_texts(corpus), tcfg.vocab_size, run.tokenizer_dir,
                                byte_fallback=tcfg.byte_fallback, split_digits=tcfg.split_digits,
                                max_chars=tcfg.max_chars, show_progress=not quiet)
    write_manifest(run.tokenizer_dir, "tokenizer", digest=digest_tokenizer(tokenizer), inputs=expect.inputs,
                   config=expect.config, profile=profile.name)
    return tokenizer


# --------------------------------------------------------------------------- tokens

def _tokens_expectation(profile: Profile, run: RunDir, corpus_digest, tokenizer_digest) -> Expectation:
    return Expectation("token files", run.tokens_dir, {"corpus": corpus_digest, "tokenizer": tokenizer_digest},
                       {"val_fraction": profile.data.val_fraction, "seed": profile.train.seed},
                       _fix("pretrain", run, profile), lambda f: (f / "meta.json").is_file())


def ensure_tokens(profile: Profile, run: RunDir, *, quiet: bool = False) -> Path:
    """The run's packed token files, packed again whenever the corpus or the tokenizer changed."""
    from .data.packing import pack_documents
    from .data.readers import corpus_texts

    tokenizer = ensure_tokenizer(profile, run, quiet=quiet)
    if profile.published.model:   # a published tokenizer is adopted without reading the corpus
        ensure_corpus(profile, run, quiet=quiet)
    corpus = run.corpus_dir
    expect = _tokens_expectation(profile, run, _digest_of(corpus), _digest_of(run.tokenizer_dir))
    if _reuse(expect, build=True, quiet=quiet):
        return run.tokens_dir
    _log(f"packing the corpus into {run.tokens_dir}", quiet)
    pack_documents(corpus_texts(corpus), tokenizer, run.tokens_dir, val_fraction=profile.data.val_fraction,
                   seed=profile.train.seed, show_progress=not quiet, num_proc=profile.data.num_proc,
                   manifest={"inputs": {"corpus": expect.inputs["corpus"]}, "config": expect.config,
                             "profile": profile.name})
    return run.tokens_dir


# --------------------------------------------------------------------------- checkpoint

def _checkpoint_expectation(profile: Profile, run: RunDir, last: Path | None) -> Expectation:
    """The latest checkpoint must have the profile's model shape and the run's tokenizer."""
    folder = last if last is not None else run.checkpoints_dir
    # `ttl pretrain` refuses to resume a foreign checkpoint; the pipeline sets it aside.
    fix = f"{_fix('pipeline', run, profile)} (sets the old checkpoints aside), or train into a new --out"
    return Expectation("checkpoint", folder, {"tokenizer": _digest_of(run.tokenizer_dir)},
                       {"model": dataclasses.asdict(profile.model)}, fix, lambda f: last is not None, partial=True)


def checkpoint_problems(profile: Profile, run: RunDir, checkpoint: Path) -> list[str]:
    """Why ``checkpoint`` cannot continue (or serve) this profile in this run: other tokenizer or model."""
    return _checkpoint_expectation(profile, run, checkpoint).problems()


def ensure_checkpoint(profile: Profile, run: RunDir, *, quiet: bool = False, build: bool = True):
    """The trained model of the run: trains (or resumes) until ``train.max_steps``.

    A builder sets aside checkpoints trained with another tokenizer or model shape and trains
    again; a reader (``build=False``) takes the latest checkpoint as it is, or stops with an
    error when there is none or it does not fit the profile.
    """
    from .train import latest_checkpoint, load_trained_model, pretrain
    from .train.checkpoint import checkpoint_step

    published = published_model(profile)
    if published is not None:   # nothing to pretrain: the released weights are the model
        from .model.published import hub_folder_name, load_published_model

        ensure_tokenizer(profile, run, quiet=quiet, build=build)
        _log(f"using the published model {hub_folder_name(published)}", quiet)
        return load_published_model(published)
    if not build:
        last = latest_checkpoint(run.checkpoints_dir)
        _reuse(_checkpoint_expectation(profile, run, last), build=False, quiet=quiet)
        return load_trained_model(profile, run, last)
    ensure_tokenizer(profile, run, quiet=quiet)
    last = latest_checkpoint(run.checkpoints_dir)
    if last is not None:
        problems = checkpoint_problems(profile, run, last)
        if problems:
            _set_aside(run.checkpoints_dir, problems, quiet)
        elif checkpoint_step(last) >= profile.train.max_steps:
            return load_trained_model(profile, run, last)
    tokens = ensure_tokens(profile, run, quiet=quiet)
    _log(f"pretraining for {profile.train.max_steps} steps into {run.checkpoints_dir}", quiet)
    return pretrain(profile, run, tokens_dir=tokens, show_progress=not quiet).model.eval()


# --------------------------------------------------------------------------- Hugging Face export

def _hf_expectation(profile: Profile, run: RunDir) -> Expectation:
    from .train import latest_checkpoint

    last = latest_checkpoint(run.checkpoints_dir)
    inputs = {"checkpoint": _digest_of(last) if last else None, "tokenizer": _digest_of(run.tokenizer_dir)}
    return Expectation("Hugging Face export", run.hf_model_dir, inputs, {"checkpoint": last.name if last else None},
                       _fix("export", run, profile), lambda f: (f / "config.json").is_file())


# The card describes the model and gains facts after the export (evaluation results): it is left
# out of the export's digest, so refreshing it never makes the classifiers built on it stale.
CARD = "README.md"


def ensure_hf_model(profile: Profile, run: RunDir, *, quiet: bool = False, build: bool = True) -> Path:
    """A Hugging Face model folder (LlamaForCausalLM + tokenizer) of the run's latest checkpoint.

    With ``build=False`` (``ttl export``) the checkpoint must already exist and fit the profile;
    the export itself is written (or rewritten) either way: it is this stage's own artifact. A
    fresh export gets its model card rewritten when the run's facts changed (``ttl eval`` ran).
    """
    from .io import atomic_write_text
    from .model.hf import save_hf

    published = published_model(profile)
    if published is not None:   # already a Hugging Face folder: it is used where it is
        ensure_tokenizer(profile, run, quiet=quiet, build=build)
        return published
    model = ensure_checkpoint(profile, run, quiet=quiet, build=build)
    tokenizer = ensure_tokenizer(profile, run, quiet=quiet, build=build)
    expect = _hf_expectation(profile, run)
    card = _export_card(profile, run, model, expect)
    if not expect.problems():
        path = run.hf_model_dir / CARD
        if not path.is_file() or path.read_text(encoding="utf-8") != card:
            atomic_write_text(path, card)
        return run.hf_model_dir
    _log(f"exporting to Hugging Face format in {run.hf_model_dir}", quiet)
    save_hf(model, run.hf_model_dir, tokenizer=tokenizer, card=card)
    write_manifest(run.hf_model_dir, "export", digest=digest_tree(run.hf_model_dir, exclude=(MANIFEST, CARD)),
                   inputs=expect.inputs, config=expect.config, profile=profile.name)
    return run.hf_model_dir


def require_fresh_export(profile: Profile, run: RunDir) -> Path:
    """The run's Hugging Face export for a reader (the evaluation harness): a StaleError that says
    what to run when it is missing or stale; nothing is built, moved or rewritten."""
    published = published_model(profile)
    if published is not None:
        return published
    _reuse(_hf_expectation(profile, run), build=False, quiet=True)
    return run.hf_model_dir


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _export_card(profile: Profile, run: RunDir, model, expect: Expectation) -> str:
    """The export's model card, from the run's own facts: config, corpus, last metrics, checkpoint,
    the training's CO2 (when tracked) and the few-shot results of ``ttl eval`` (when run)."""
    from .export import model_card
    from .train.loop import EMISSIONS_FILE

    metrics = {}
    history = run.checkpoints_dir / "metrics.jsonl"
    if history.is_file():
        rows = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines() if line.strip()]
        last = next((r for r in reversed(rows) if "val_loss" in r), rows[-1] if rows else {})
        metrics = {k: last[k] for k in ("step", "tokens", "loss", "val_loss", "val_ppl") if k in last}
    evaluations = _read_json(run.reports_dir / "fewshot.json")
    return model_card(model.config, name=f"ttl-{profile.name}", language=profile.data.language,
                      corpus=profile.data.corpus, parameters=model.num_parameters(), metrics=metrics,
                      manifest={"config": expect.config, "profile": profile.name},
                      emissions=_read_json(run.checkpoints_dir / EMISSIONS_FILE),
                      evaluations=evaluations if isinstance(evaluations, list) else None)


# The models of a run that export: the pretrained one and the two chat-tuned ones (chapter 10).
EXPORTABLE = ("base", "sft", "dpo")


def _chat_stage(run: RunDir, stage: str) -> Path:
    from .chat.stages import chat_dir

    return chat_dir(run, stage)


def export_dir(run: RunDir, model: str = "base") -> Path:
    """The Hugging Face folder of ``model``: ``RUN/hf_model``, or ``RUN/chat/<stage>/hf_model``."""
    return run.hf_model_dir if model == "base" else _chat_stage(run, model) / "hf_model"


def _chat_export_expectation(profile: Profile, run: RunDir, stage: str) -> Expectation:
    stage_dir = _chat_stage(run, stage)
    return Expectation(f"{stage} chat export", export_dir(run, stage), {stage: _digest_of(stage_dir)}, {},
                       _fix(f"export --model {stage}", run, profile), lambda f: (f / "config.json").is_file())


def ensure_chat_export(profile: Profile, run: RunDir, stage: str, *, quiet: bool = False) -> Path:
    """The Hugging Face folder of a finished chat stage (``sft`` or ``dpo``), chat template kept,
    with a card that shows how to chat with it; never trains (``ttl sft``/``ttl dpo`` do)."""
    from .chat.stages import _load_stage_model
    from .export import model_card
    from .io import atomic_write_text
    from .model.hf import save_hf
    from .tokenizer import load_tokenizer

    if stage not in EXPORTABLE[1:]:
        raise ValueError(f"no chat stage {stage!r}; choose one of {', '.join(EXPORTABLE[1:])}")
    stage_dir = _chat_stage(run, stage)
    if read_manifest(stage_dir) is None:
        raise StaleError(f"no finished {stage.upper()} stage in {stage_dir}; train it with "
                         f"`{_fix(stage, run, profile)}`")
    expect = _chat_export_expectation(profile, run, stage)
    model = _load_stage_model(stage_dir)
    card = model_card(model.config, name=f"ttl-{profile.name}-{stage}", language=profile.data.language,
                      corpus=profile.data.corpus, parameters=model.num_parameters(), chat=stage,
                      manifest={"config": {"checkpoint": f"chat/{stage}"}, "profile": profile.name})
    if not expect.problems():
        if (expect.folder / CARD).is_file() and (expect.folder / CARD).read_text(encoding="utf-8") != card:
            atomic_write_text(expect.folder / CARD, card)
        return expect.folder
    _reuse(expect, build=True, quiet=quiet)
    _log(f"exporting the {stage} chat model to Hugging Face format in {expect.folder}", quiet)
    save_hf(model, expect.folder, tokenizer=load_tokenizer(stage_dir / "tokenizer"), card=card)
    write_manifest(expect.folder, "export", digest=digest_tree(expect.folder, exclude=(MANIFEST, CARD)),
                   inputs=expect.inputs, config=expect.config, profile=profile.name)
    return expect.folder


def gguf_file(run: RunDir, profile: Profile, quant: str, model: str = "base") -> Path:
    """Where ``ttl export --format gguf`` writes: ``RUN/gguf/QUANT/ttl-PROFILE-QUANT.gguf`` for the
    pretrained model, ``RUN/chat/STAGE/gguf/QUANT/ttl-PROFILE-STAGE-QUANT.gguf`` for a chat model."""
    quant = quant.lower()
    if model == "base":
        return run.gguf_dir(quant) / f"ttl-{profile.name}-{quant}.gguf"
    return _chat_stage(run, model) / "gguf" / quant / f"ttl-{profile.name}-{model}-{quant}.gguf"


def _gguf_expectation(profile: Profile, run: RunDir, quant: str, model: str = "base") -> Expectation:
    target = gguf_file(run, profile, quant, model)
    flag = "" if model == "base" else f" --model {model}"
    source = model_digest(profile, run) if model == "base" else _digest_of(export_dir(run, model))
    return Expectation("GGUF export", target.parent, {"hf_model": source},
                       {"quant": quant.lower()}, _fix(f"export --format gguf --quant {quant}{flag}", run, profile),
                       lambda f: (f / target.name).is_file())


def ensure_gguf(profile: Profile, run: RunDir, quant: str = "f16", *, model: str = "base", quiet: bool = False,
                build: bool = True) -> Path:
    """One of the run's models (``base``, ``sft``, ``dpo``) as one GGUF file for llama.cpp
    (:mod:`ttl.export.gguf`), from its Hugging Face export.

    Like the HF export, the file is this stage's own artifact: written when missing or when
    the export it came from changed (the old one kept aside); ``build`` governs the stages before.
    """
    from .export.gguf import export_gguf

    if model == "base":
        hf_dir = ensure_hf_model(profile, run, quiet=quiet, build=build)
    else:
        hf_dir = ensure_chat_export(profile, run, model, quiet=quiet)
    expect = _gguf_expectation(profile, run, quant, model)
    target = gguf_file(run, profile, quant, model)
    if _reuse(expect, build=True, quiet=quiet):
        return target
    _log(f"writing {target.name} ({quant}) for llama.cpp", quiet)
    with atomic_dir(expect.folder) as tmp:
        export_gguf(hf_dir, tmp / target.name, quant=quant, name=target.stem)
        write_manifest(tmp, "gguf", digest=digest_file(tmp / target.name), inputs=expect.inputs,
                       config=expect.config, profile=profile.name)
    return target


# --------------------------------------------------------------------------- classifiers

def _classifier_expectation(profile: Profile, run: RunDir, task, dataset) -> Expectation:
    from .tasks import get_task

    name = get_task(task).name
    inputs = {"model": model_digest(profile, run), "data": digest_dataset(dataset)}
    config = {"task": name, "data_source": task_source(profile, name) or "embedded sample",
              "finetune": dataclasses.asdict(profile.finetune)}
    return Expectation(f"{name} classifier", run.classifier_dir(name), inputs, config,
                       _fix(f"finetune --task {name}", run, profile), lambda f: (f / "metrics.json").is_file())


def ensure_classifier(profile: Profile, run: RunDir, task: str, *, quiet: bool = False, dataset=None) -> dict:
    """A classifier fine-tuned on ``task``; fine-tuned again when the model, the data or the recipe changed."""
    from .finetune import finetune_classifier
    from .manifest import make_manifest
    from .tasks import get_task

    name = get_task(task).name
    hf_dir = ensure_hf_model(profile, run, quiet=quiet)
    dataset = load_task_dataset(profile, name) if dataset is None else dataset
    expect = _classifier_expectation(profile, run, name, dataset)
    folder = expect.folder
    if _reuse(expect, build=True, quiet=quiet):
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8")) | {"path": str(folder)}
    _log(f"fine-tuning a {name} classifier into {folder}", quiet)
    # Nothing reads a classifier further down the chain, so its digest is that of what made it.
    manifest = make_manifest("classifier", digest=digest_data({"inputs": expect.inputs, "config": expect.config}),
                             inputs=expect.inputs, config=expect.config, profile=profile.name)
    return finetune_classifier(hf_dir, name, dataset, profile.finetune, folder, show_progress=not quiet,
                               manifest=manifest)


# --------------------------------------------------------------------------- status

def run_status(profile: Profile, run: RunDir) -> list[dict[str, Any]]:
    """Every stage of ``run``: present or not, fresh or not, and why. Reads only."""
    from .data.readers import DataError
    from .tasks import all_tasks
    from .train import latest_checkpoint

    rows = []

    def add(expect: Expectation | None, stage: str, folder: Path, error: str | None = None) -> None:
        problems = [error] if error else expect.problems()
        state = "fresh" if not problems else ("missing" if problems == ["missing"] else "stale")
        # The chain is linear: an artifact built on a stale or missing one is stale too, even
        # when its own manifest still matches what it was built from.
        upstream = next((r for r in reversed(rows) if r["state"] in ("stale", "missing")
                         and not r["stage"].startswith("classifier")), None)
        if state == "fresh" and upstream is not None:
            state, problems = "stale", [f"built on the {upstream['stage']}, which is {upstream['state']}"]
        rows.append({"stage": stage, "folder": str(folder), "state": state,
                     "why": [] if state != "stale" else problems, "fix": expect.fix if expect else None})

    try:
        corpus, _ = _corpus_expectation(profile, run)
        add(corpus, "corpus", run.corpus_dir)
    except DataError as exc:
        add(None, "corpus", run.corpus_dir, error=str(exc))
    if profile.published.model:
        _published_status(profile, run, rows, add)
    else:
        add(_tokenizer_expectation(profile, run, _digest_of(run.corpus_dir)), "tokenizer", run.tokenizer_dir)
    add(_tokens_expectation(profile, run, _digest_of(run.corpus_dir), _digest_of(run.tokenizer_dir)), "tokens",
        run.tokens_dir)
    if not profile.published.model:
        last = latest_checkpoint(run.checkpoints_dir)
        add(_checkpoint_expectation(profile, run, last), "checkpoint", last or run.checkpoints_dir)
        if last is not None and rows[-1]["state"] == "fresh":
            from .train.checkpoint import checkpoint_step

            step = checkpoint_step(last)
            if step < profile.train.max_steps:
                rows[-1].update(state="partial", why=[f"step {step} of {profile.train.max_steps}; "
                                                      "`ttl pretrain` resumes it"])
        add(_hf_expectation(profile, run), "hf_model", run.hf_model_dir)
    if any(r["stage"] == "published model" and r["state"] == "missing" for r in rows):
        return rows   # what is built on a model that cannot be found cannot be checked
    for folder in sorted((run.root / "gguf").glob("*/")):
        add(_gguf_expectation(profile, run, folder.name), f"gguf {folder.name}", folder)
    for task in all_tasks("classification"):
        folder = run.classifier_dir(task.name)
        if not folder.exists():
            continue
        try:
            expect = _classifier_expectation(profile, run, task.name, load_task_dataset(profile, task.name))
            add(expect, f"classifier {task.name}", folder)
        except DataError as exc:
            add(None, f"classifier {task.name}", folder, error=f"its data cannot be read: {exc}")
    return rows


def _published_status(profile: Profile, run: RunDir, rows: list, add) -> None:
    """The published model (found in its folder or the local Hub cache, never downloaded) and the
    tokenizer the run adopted from it."""
    from .model.published import PublishedModelError, hub_folder_name

    try:
        folder = published_model(profile, download=False)
    except PublishedModelError as exc:
        rows.append({"stage": "published model", "folder": profile.published.model, "state": "missing",
                     "why": [str(exc)], "fix": _fix("pipeline", run, profile)})
        rows.append({"stage": "tokenizer", "folder": str(run.tokenizer_dir), "state": "missing", "why": [],
                     "fix": _fix("pipeline", run, profile)})
        return
    rows.append({"stage": "published model", "folder": hub_folder_name(folder), "state": "fresh", "why": [],
                 "fix": None})
    add(_published_tokenizer_expectation(profile, run, folder), "tokenizer", run.tokenizer_dir)


def run_pipeline(profile: Profile | str | None = None, out: str | os.PathLike | None = None, *,
                 tasks: tuple[str, ...] = ("assin2_rte", "hatebr"), quiet: bool = False) -> dict:
    """Run every stage and return where each artifact is, plus the headline figures."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    run = run_for(profile, out)
    with run.lock("ttl pipeline"):
        return _run_pipeline(profile, run, tasks, quiet)


def _run_pipeline(profile: Profile, run: RunDir, tasks: tuple[str, ...], quiet: bool) -> dict:
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
        summary["classifiers"][res["task"]] = {"path": res["path"], "test_accuracy": res["test_accuracy"],
                                               "test_macro_f1": res["test_macro_f1"]}
    atomic_write_json(run.root / "pipeline.json", summary)
    return summary
