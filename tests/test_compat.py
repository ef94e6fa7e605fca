"""The exported folders load, and give the same results, in the OLDEST transformers the package
allows (pyproject.toml's floor, installed by `make compat-env` into .venv-compat/ with its own
tokenizers and huggingface_hub) and in the NEWEST (the venv's).

Both read the same folders through tests/compat_check.py: imported here for the newest, run in a
subprocess with PYTHONPATH=.venv-compat (which shadows the venv's transformers and tokenizers but
reuses its torch) for the oldest. Without .venv-compat the tests skip, except under CI=true.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import copy_run

ROOT = Path(__file__).resolve().parents[1]
COMPAT_DIR = ROOT / os.environ.get("TTL_COMPAT_DIR", ".venv-compat")   # `make` sets it (absolute)
CHECK = Path(__file__).with_name("compat_check.py")
TOL = 1e-4

TEXTS = ["Olá, coração! A ação e a emoção do pão com açúcar.",
         "  espaços antes e depois  ",
         "primeira linha\nsegunda linha\n\nfim\n",
         "R$ 1.234,56 em 2024, às 10h30",
         "Que dia lindo 🙂🇧🇷 não é?",
         "Era uma vez"]
PROMPTS = ["Era uma vez", "O Brasil é", "A capital do Brasil"]
PAIR = ["O gato dorme no sofá.", "Um animal descansa."]


@pytest.fixture(scope="session")   # session: set up before small_run, so a skip builds nothing
def compat_dir() -> Path:
    if (COMPAT_DIR / "transformers").is_dir() and (COMPAT_DIR / "tokenizers").is_dir():
        return COMPAT_DIR
    why = f"no oldest-transformers environment at {COMPAT_DIR}; `make compat-env` installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(why + " (CI=true: `make test` must have made it)")
    pytest.skip(why)


def _floor() -> str:
    """The transformers floor of pyproject.toml ("4.45")."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'"transformers>=([0-9.]+)', text).group(1)


def _word_token(tokenizer) -> int:
    """A token that starts a word ("▁de"): a continuation beginning with it needs its space."""
    vocab = tokenizer.get_vocab()
    for word in ("\u2581de", "\u2581a", "\u2581o", "\u2581e", "\u2581que"):
        if word in vocab:
            return vocab[word]
    return next(i for t, i in sorted(vocab.items(), key=lambda kv: kv[1])
                if t.startswith("\u2581") and len(t) > 1 and t[1:].isalpha())


@pytest.fixture(scope="module")
def folders(compat_dir, small_run, tmp_path_factory):
    """The small run's export and tokenizer, a classifier fine-tuned by the pipeline (on a copy of
    the run) and, for RoPE's base, an export of the same weights with rope_theta=100 and a
    classifier made from it."""
    from transformers import AutoTokenizer

    from ttl import pipeline
    from ttl.data.loaders import load_assin2
    from ttl.finetune import finetune_classifier
    from ttl.model.hf import from_hf, save_hf

    profile, run = small_run
    base = tmp_path_factory.mktemp("compat")
    own = copy_run(run, base)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # a tiny model: faster so, above all on a busy machine
    try:
        classifier = Path(pipeline.ensure_classifier(profile, own, "assin2_rte", quiet=True)["path"])
        tokenizer = AutoTokenizer.from_pretrained(own.hf_model_dir)
        rope = save_hf(from_hf(own.hf_model_dir, rope_theta=100.0), base / "rope", tokenizer=tokenizer)
        cfg = dataclasses.replace(profile.finetune, epochs=1, max_train_examples=16)
        finetune_classifier(rope, "assin2_rte", load_assin2(), cfg, base / "rope_clf", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    return {"compat": compat_dir, "run": own, "classifier": classifier, "tokenizer": tokenizer,
            "rope": rope, "rope_classifier": base / "rope_clf", "tmp": base,
            "max_length": profile.finetune.max_length}


@pytest.fixture(scope="module")
def reports(folders):
    """(oldest, newest): what each transformers gives on the same folders."""
    from ttl.export.card import SAMPLING_DEFAULTS

    import compat_check   # tests/ is on sys.path, as for helpers

    run = folders["run"]
    spec = {"model": str(run.hf_model_dir), "tokenizer": str(run.tokenizer_dir),
            "classifier": str(folders["classifier"]), "texts": TEXTS, "prompts": PROMPTS, "max_new_tokens": 6,
            "pair": PAIR, "generation_keys": sorted(SAMPLING_DEFAULTS) + ["bos_token_id", "eos_token_id",
                                                                         "pad_token_id"],
            "space": {"prompt": "Era uma vez", "token": _word_token(folders["tokenizer"])},
            "more": {"rope": {"path": str(folders["rope"]), "kind": "causal"},
                     "rope_classifier": {"path": str(folders["rope_classifier"]), "kind": "classifier"}}}
    spec_path, old_path = folders["tmp"] / "spec.json", folders["tmp"] / "oldest.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folders["compat"])] + (
        [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(CHECK), str(spec_path), str(old_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the oldest transformers failed on the export:\n{done.stderr[-6000:]}"
    newest = compat_check.report(spec)
    return json.loads(old_path.read_text(encoding="utf-8")), json.loads(json.dumps(newest, ensure_ascii=False))


def _max_diff(a, b) -> float:
    a, b = torch.tensor(a), torch.tensor(b)
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_the_subprocess_runs_the_oldest_transformers_pyproject_allows(reports, folders):
    oldest, newest = reports
    v = oldest["versions"]
    assert v["transformers"].split(".")[:2] == _floor().split(".")[:2], (v, _floor())
    for module in ("transformers_file", "tokenizers_file"):   # shadowing the venv's copies
        assert Path(v[module]).resolve().is_relative_to(folders["compat"].resolve()), v
    assert v["torch"] == newest["versions"]["torch"] == torch.__version__   # the venv's torch, shared
    assert int(newest["versions"]["transformers"].split(".")[0]) > int(v["transformers"].split(".")[0])
    assert newest["versions"]["tokenizers"] != v["tokenizers"]


@pytest.mark.parametrize("folder", ["run_tokenizer", "tokenizer"])
def test_the_tokenizer_gives_the_same_ids_and_text(reports, folder):
    oldest, newest = reports
    old, new = oldest[folder], newest[folder]
    for i, text in enumerate(TEXTS):
        assert old["ids"][i] == new["ids"][i], text
        assert old["decoded"][i] == new["decoded"][i], text
    assert old["keys"] == new["keys"] == ["attention_mask", "input_ids"]   # no token_type_ids for Llama
    assert (old["batch_ids"], old["batch_mask"]) == (new["batch_ids"], new["batch_mask"])
    assert old["specials"] == new["specials"] and old["padding_side"] == new["padding_side"] == "right"
    assert new["ids"] == newest["run_tokenizer"]["ids"]        # the export carries the run's tokenizer


def test_the_causal_lm_gives_the_same_logits_generation_and_settings(reports):
    from ttl.export.card import SAMPLING_DEFAULTS

    oldest, newest = reports
    for i, text in enumerate(TEXTS):
        assert _max_diff(oldest["logits"][i], newest["logits"][i]) <= TOL, text
    assert oldest["generated"] == newest["generated"]
    for old, new in zip(oldest["pipeline"], newest["pipeline"]):   # the same tokens, read alike
        assert old["full"].replace(" ", "") == new["full"].replace(" ", "")
    for report in reports:     # the card's example, sampling with generation_config.json's settings
        assert report["card_example"].startswith(PROMPTS[0]) and len(report["card_example"]) > len(PROMPTS[0])
    for found in (oldest["generation_config"], oldest["model_generation_config"],
                  newest["generation_config"], newest["model_generation_config"]):
        assert found == newest["generation_config"]
        assert {k: found[k] for k in SAMPLING_DEFAULTS} == SAMPLING_DEFAULTS


def test_the_classifier_gives_the_same_logits_on_the_cards_input(reports, folders):
    from transformers import AutoTokenizer

    from ttl.finetune import encode_example

    oldest, newest = reports
    old, new = oldest["classifier"], newest["classifier"]
    tokenizer = AutoTokenizer.from_pretrained(folders["classifier"])
    row = {"premise": PAIR[0], "hypothesis": PAIR[1], "entailment_judgment": 1}
    assert old["ids"] == new["ids"] == encode_example(tokenizer, "assin2_rte", row,
                                                                 folders["max_length"])   # the training encoding
    assert _max_diff(old["logits"], new["logits"]) <= TOL
    assert _max_diff(old["called"], old["logits"]) <= TOL    # model(**tokenizer(text)) works in both
    assert old["id2label"] == new["id2label"] and old["pad_token_id"] == new["pad_token_id"]
    for label, score in new["pipeline"].items():
        assert old["pipeline"][label] == pytest.approx(score, abs=TOL)


def _keeps_space(report) -> None:
    space = report["space"]
    prompt = "Era uma vez"
    assert space["joined"].startswith(prompt + " "), space      # the forced word, with its space
    assert space["full"] == space["joined"], space
    assert space["new"] == space["joined"][len(prompt):], space


def test_text_generation_pipeline_keeps_the_space_after_the_prompt_in_the_oldest(reports):
    _keeps_space(reports[0])


def test_text_generation_pipeline_keeps_the_space_after_the_prompt_in_the_newest(reports):
    newest = reports[1]
    space, prompt = newest["space"], "Era uma vez"
    version = tuple(int(x) for x in newest["versions"]["transformers"].split(".")[:2])
    if version >= (5, 9) and space["full"] != space["joined"]:
        # Only that space is lost: the rest of the text is the tokens', read as they should be.
        assert space["full"] == prompt + space["joined"][len(prompt) + 1:], space
        assert space["new"] == space["joined"][len(prompt) + 1:], space
        # transformers 5.9 changed TextGenerationPipeline.postprocess to decode the new tokens
        # alone; a SentencePiece decoder (Llama's own, ours) drops the leading space of any
        # text it decodes, so a continuation that starts with a word loses its space. Nothing
        # in the exported folder can tell the decoder it is decoding a continuation.
        # ttl.generate decodes prompt + continuation and is not affected.
        pytest.xfail("transformers >= 5.9's text-generation pipeline decodes the continuation alone "
                     "and loses the space before its first word (upstream; ttl.generate keeps it)")
    _keeps_space(newest)


@pytest.mark.parametrize("folder", ["rope", "rope_classifier"])
def test_another_rope_base_reaches_the_oldest_transformers(reports, folder):
    """transformers 5 writes RoPE's base only in `rope_parameters`, which 4.x does not read: the
    export writes `rope_theta` too (ttl.model.hf.pin_portable_config), or 4.x would silently
    build the model with a base of 10000 (other logits, no warning)."""
    oldest, newest = reports
    old, new = oldest["more"][folder], newest["more"][folder]
    assert new["rope_theta"] == pytest.approx(100.0, rel=1e-4)
    assert old["rope_theta"] == pytest.approx(100.0, rel=1e-4)     # not 4.x's default, 10000
    if folder == "rope":       # one row of logits per text
        for i, text in enumerate(TEXTS):
            assert _max_diff(old["logits"][i], new["logits"][i]) <= TOL, text
    else:
        assert _max_diff(old["logits"], new["logits"]) <= TOL
