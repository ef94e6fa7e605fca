"""ttl's few-shot scoring against lm-evaluation-harness itself, on local data, offline.

The harness runs ttl's task YAMLs (ttl/eval/harness_tasks/) with its ``hf`` model on an
exported folder; ttl scores the same rows with its own model. Every choice's log-likelihood,
every prediction and every score must agree: same prompt, same shots, same token split, same
BOS, same truncation.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket

import pytest
import torch
import yaml

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is in the test extra: pip install -e '.[test]'")

from helpers import copy_run, listing  # noqa: E402
from ttl.data.loaders import load_task_data  # noqa: E402
from ttl.eval import build_prompt, evaluate_task  # noqa: E402
from ttl.eval.fewshot import eval_rows, split_context  # noqa: E402
from ttl.eval.harness import (CLASSIFICATION_METRICS, TASKS_DIR, harness_name, run_harness,  # noqa: E402
                              summarize, task_yaml, write_task_yamls)
from ttl.tasks import _REGISTRY, get_task  # noqa: E402

TASKS = ("assin2_rte", "hatebr", "faquad_nli", "assin2_sts")
SHOTS, EXAMPLES, SEED = 2, 8, 1234


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No Hub, no network: the offline switches on, and any connection out of the machine fails."""
    import datasets.config
    import huggingface_hub.constants

    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True, raising=False)
    connect = socket.socket.connect

    def local_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"test_harness must not use the network (tried {address})")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture(scope="module")
def export(tmp_path_factory, tiny_tokenizer):
    """A tiny Llama with a 256-token context, exported as the pipeline exports: long enough that
    some 2-shot prompts fit and others are cut. Its weight matrices are scaled up (x3) so that
    the answers' log-likelihoods depend on the prompt and the predictions are not all one class
    (an untrained model at the usual init, and the smoke model, always answer " Não")."""
    from helpers import tiny_profile
    from ttl.model import Llama
    from ttl.model.hf import save_hf

    config = tiny_profile().model
    config.max_seq_len = 256
    torch.manual_seed(0)
    model = Llama(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "embed" not in name:
                param.mul_(3)
    folder = save_hf(model, tmp_path_factory.mktemp("export") / "hf_model", tokenizer=tiny_tokenizer)
    return model, tiny_tokenizer, folder


@pytest.fixture(scope="module")
def compared(export):
    """ttl's results and the harness's, on the same 8 rows of each task's embedded sample."""
    model, tokenizer, folder = export
    datasets, ours, data = {}, {}, {}
    for name in TASKS:
        datasets[name] = dsd = load_task_data(name)
        mode = "loglik" if get_task(name).kind == "classification" else "generate"
        ours[name] = evaluate_task(model, tokenizer, name, dsd, num_fewshot=SHOTS, max_examples=EXAMPLES,
                                   mode=mode, seed=SEED)
        data[name] = {"train": dsd["train"], "test": eval_rows(name, dsd, EXAMPLES, SEED)}
    output = run_harness(folder, TASKS, data=data, num_fewshot=SHOTS, seed=SEED)
    return datasets, ours, output


def test_loglikelihoods_predictions_and_scores_equal_the_harness(compared):
    datasets, ours, output = compared
    worst, cut, scored = 0.0, 0, 0
    for name in TASKS:
        task, mine = get_task(name), ours[name]
        theirs = summarize(output, name)
        assert theirs["examples"] == mine["examples"] == EXAMPLES and theirs["num_fewshot"] == SHOTS
        for a, b in zip(mine["predictions"], theirs["predictions"], strict=True):
            assert a["gold"] == pytest.approx(b["gold"])
            assert a["pred"] == b["pred"]
            if task.kind == "classification":
                assert a["loglik"] == pytest.approx(b["loglik"], abs=1e-4)
                assert a["loglik_norm"] == pytest.approx(b["loglik_norm"], abs=1e-4)
                # acc_mutual_info: each answer scored with no prompt, by the harness's own requests
                assert mine["unconditional_loglik"] == pytest.approx(b["unconditional_loglik"], abs=1e-4)
                worst = max(worst, *(abs(x - y) for x, y in zip(a["loglik"], b["loglik"])))
            else:
                assert a["answer"] == b["answer"]            # the same greedy tokens, cut at a blank line
        metrics = CLASSIFICATION_METRICS if task.kind == "classification" else ("pearson",)
        for metric in metrics:
            assert mine[metric] == pytest.approx(theirs[metric], abs=1e-9), (name, metric)
        cut += mine["truncated_prompts"]
        scored += mine["examples"]
    assert worst <= 1e-4
    # Both sides of the truncation rule were exercised: prompts that fit and prompts cut from the left.
    assert 0 < cut < scored
    # The scores are not all one class (the comparison would then prove little).
    preds = {p["pred"] for name in TASKS[:3] for p in ours[name]["predictions"]}
    assert preds == {0, 1}, "the test model answers one class only: change its seed or scale in `export`"


def test_the_harness_sees_ttl_prompts_and_shots_and_splits_tokens_as_ttl(compared, export):
    """The contexts lm-eval built are ttl's prompts with the shots ttl draws (one seeded
    Random, k training rows per evaluated row in turn), and its context/answer split of every
    scored pair (with the tokenizer it loaded from the export) is ttl's split_context."""
    from ttl.eval.harness import _hf_model

    datasets, ours, output = compared
    _, tokenizer, folder = export
    lm = _hf_model(folder, batch_size=1, device="cpu", dtype="float32")
    for name in TASKS:
        task = get_task(name)
        rng, train = random.Random(SEED), list(datasets[name]["train"])
        rows = eval_rows(name, datasets[name], EXAMPLES, SEED)
        for row, theirs in zip(rows, summarize(output, name)["predictions"], strict=True):
            assert theirs["context"] == build_prompt(task, row, rng.sample(train, SHOTS))
            for answer in (task.choices or {}).values():
                assert lm._encode_pair(theirs["context"], answer) == split_context(tokenizer, theirs["context"], answer)


def test_the_comparison_can_fail(compared, export):
    """Scoring an answer tokenized on its own (the stray '▁' trap of chapter 7) instead of in
    context moves its log-likelihood far beyond the tolerance: the test would see it."""
    from ttl.eval.fewshot import _loglik

    model, tokenizer, _ = export
    _, ours, output = compared
    for mine, theirs in list(zip(ours["hatebr"]["predictions"], summarize(output, "hatebr")["predictions"]))[:2]:
        for label, answer in get_task("hatebr").choices.items():
            lone = tokenizer(answer, add_special_tokens=False)["input_ids"]
            context = tokenizer(theirs["context"])["input_ids"]
            wrong = _loglik(model, (context + lone)[-(model.config.max_seq_len + 1):], len(lone))
            assert abs(wrong - theirs["loglik"][label]) > 1e-2
            assert mine["loglik"][label] == pytest.approx(theirs["loglik"][label], abs=1e-4)


def _load(path):
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: ("!function", loader.construct_scalar(node)))
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)


def test_shipped_yamls_say_what_the_registry_says(tmp_path, monkeypatch):
    from lm_eval.utils import apply_template

    fresh = write_task_yamls(tmp_path)
    shipped = sorted(p.name for p in TASKS_DIR.glob("*.yaml"))
    assert shipped == sorted(f"{harness_name(t)}.yaml" for t in fresh) == sorted(f"ttl_{t}.yaml" for t in TASKS)
    for name, path in fresh.items():
        assert (TASKS_DIR / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{path.name} is out of date: run `python -m ttl.eval.harness`")
    for name in TASKS:
        task, config = get_task(name), _load(TASKS_DIR / f"ttl_{name}.yaml")
        assert config["task"] == f"ttl_{name}" and config["dataset_path"] == task.data.hub_name
        assert config["num_fewshot"] == task.num_fewshot and config["fewshot_split"] == "train"
        assert config["target_delimiter"] == "" and config["fewshot_delimiter"] == "\n\n"
        dsd = load_task_data(name)
        rows = [*dsd["train"].select(range(100)), *dsd["test"]]
        assert all(apply_template(config["doc_to_text"], row) == task.prompt(row) for row in rows)
        if task.kind == "classification":
            assert config["output_type"] == "multiple_choice"
            assert config["doc_to_choice"] == [task.choices[label] for label in range(task.num_labels)]
            assert all(int(apply_template(config["doc_to_target"], row)) == task.label(row) for row in rows)
            assert [m["metric"] for m in config["metric_list"]] == list(CLASSIFICATION_METRICS)
        else:
            assert config["output_type"] == "generate_until"
            assert config["generation_kwargs"]["until"] == ["\n\n"]
            assert [m["metric"] for m in config["metric_list"]] == ["pearson"]
    from lm_eval.tasks import TaskManager

    assert TaskManager(include_path=str(TASKS_DIR), include_defaults=False).all_tasks == sorted(
        f"ttl_{t}" for t in TASKS)
    # A registry change that is not written out shows.
    import dataclasses

    hatebr = get_task("hatebr")
    monkeypatch.setitem(_REGISTRY, "hatebr", dataclasses.replace(
        hatebr, prompt=lambda r: f"Comentário: {r['instagram_comments']}\nPergunta: O texto é ofensivo?\nResposta:"))
    assert task_yaml("hatebr") != (TASKS_DIR / "ttl_hatebr.yaml").read_text(encoding="utf-8")
    monkeypatch.setitem(_REGISTRY, "hatebr", dataclasses.replace(hatebr, choices={1: " sim", 0: " não"}))
    assert task_yaml("hatebr") != (TASKS_DIR / "ttl_hatebr.yaml").read_text(encoding="utf-8")


def _tree_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ttl_eval_harness_prints_lm_eval_beside_ttl(small_run, tmp_path, capsys, monkeypatch):
    from ttl.cli import main

    profile, run = small_run
    copy = copy_run(run, tmp_path)
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    export_before, before = _tree_digest(copy.hf_model_dir), listing(copy.root)
    assert main(["eval", "--harness", "--tasks", "assin2_rte", "assin2_sts", "--out", str(copy.root)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ttl_lines, side = lines[:2], lines[2:]
    assert [line["task"] for line in side] == ["assin2_rte", "assin2_sts"]
    assert ttl_lines[0]["mode"] == "loglik" and ttl_lines[1]["mode"] == "generate"   # like with like
    for line in side:
        assert line["examples"] == profile.eval.max_eval_examples and line["num_fewshot"] == profile.eval.num_fewshot
        assert line["ttl"] == pytest.approx(line["harness"], abs=1e-9)
    assert side[0]["max_abs_loglik_diff"] <= 1e-4 and set(side[0]["harness"]) == set(CLASSIFICATION_METRICS)
    assert side[0]["max_abs_unconditional_diff"] <= 1e-4
    assert json.loads((copy.reports_dir / "harness.json").read_text()) == side
    # Read-only: the export is untouched, and nothing but the two reports was added.
    assert _tree_digest(copy.hf_model_dir) == export_before
    after = set(listing(copy.root))
    assert set(before) <= after and after - set(before) <= {"reports", "reports/fewshot.json", "reports/harness.json"}


def test_ttl_eval_harness_never_builds_the_export(small_run, tmp_path, capsys, monkeypatch):
    import shutil

    from ttl.cli import main

    profile, run = small_run
    copy = copy_run(run, tmp_path)
    shutil.rmtree(copy.hf_model_dir)
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    before = listing(copy.root)
    assert main(["eval", "--harness", "--tasks", "hatebr", "--out", str(copy.root)]) == 2
    err = capsys.readouterr().err
    assert "no Hugging Face export" in err and "ttl export" in err
    assert listing(copy.root) == before and not copy.hf_model_dir.exists()


def test_a_prompt_that_is_not_a_template_calls_the_registry(monkeypatch):
    """A prompt that does more than put columns in place cannot be a Jinja template: the YAML
    then names the registry's own function, which the harness imports."""
    import dataclasses

    import ttl.eval.harness as harness
    from ttl.eval.harness import task_config

    hatebr = get_task("hatebr")
    shout = dataclasses.replace(hatebr, prompt=lambda r: f"Texto: {r['instagram_comments'].upper()}\nResposta:")
    monkeypatch.setitem(_REGISTRY, "hatebr", shout)
    config = task_config("hatebr")
    assert config["doc_to_text"] == "ttl.eval.harness.doc_to_text_hatebr"
    row = {"instagram_comments": "que vergonha", "offensive_language": True}
    assert harness.doc_to_text_hatebr(row) == "Texto: QUE VERGONHA\nResposta:"
    assert harness.doc_to_target_hatebr(row) == 1
    assert harness.process_results_hatebr(row, [(-2.0, False), (-1.0, True)])["acc"] == 1.0
    with pytest.raises(AttributeError):
        harness.doc_to_text_nosuchtask
