"""The task registry: one declaration per task, read by the loaders, fine-tuning, evaluation and
the command line; adding a task is one new module and nothing else."""

import importlib
import json
import sys
import textwrap

import pytest

from helpers import copy_run, write_jsonl
from ttl.cli import main
from ttl.tasks import TaskError, all_tasks, get_dataset, get_task, task_names, unregister

TOY_MODULE = '''
"""A toy task written as a user would: English reviews, stars 0/1, its own prompt."""
from datasets import Features, Value

from ttl.tasks import DatasetSpec, Task, register

TOY = DatasetSpec(
    name="toy_reviews", hub_name="example-org/toy-reviews",
    features=Features({"review": Value("string"), "stars": Value("int32"), "shop": Value("string")}),
    required=("review", "stars"), label_column="stars", text_columns=("review",), label_range=2)

TASK = register(Task(
    name="toy_reviews", aliases=("toy",), data=TOY, kind="classification", description="a toy review task",
    label=lambda row: int(row["stars"]), label_names=("BAD", "GOOD"), input_columns=("review",),
    prompt=lambda r: f"Review: {r['review']}\\nIs it good?\\nAnswer:", choices={1: " yes", 0: " no"},
    num_fewshot=2, metric="macro_f1"))
'''

GOOD = ["great food and a warm welcome", "the best coffee in town", "fast delivery, lovely staff",
        "fresh bread every morning", "friendly people and fair prices", "a quiet place with good music"]
BAD = ["cold soup and a rude waiter", "we waited an hour for nothing", "the room smelled of smoke",
       "overpriced and tasteless", "broken chairs and dirty tables", "nobody answered the phone"]


def toy_rows(n: int, offset: int = 0) -> list[dict]:
    # Sorted by label, as real files often are: every good review first, then every bad one.
    good = [{"review": f"{GOOD[i % 6]} ({i + offset})", "stars": 1} for i in range(n // 2)]
    bad = [{"review": f"{BAD[i % 6]} ({i + offset})", "stars": 0} for i in range(n - n // 2)]
    return good + bad


@pytest.fixture()
def toy_task(tmp_path, monkeypatch):
    module = tmp_path / "mods" / "my_toy_task.py"
    module.parent.mkdir()
    module.write_text(textwrap.dedent(TOY_MODULE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(module.parent))
    importlib.import_module("my_toy_task")
    yield get_task("toy_reviews")
    unregister("toy_reviews")
    sys.modules.pop("my_toy_task", None)


@pytest.fixture()
def toy_data(tmp_path):
    folder = tmp_path / "toy"
    write_jsonl(folder / "train.jsonl", toy_rows(60))
    write_jsonl(folder / "dev.jsonl", toy_rows(16, 100))    # "dev": the usual other name of validation
    write_jsonl(folder / "test.jsonl", toy_rows(16, 200))
    return folder


def test_builtin_tasks_are_declared_once():
    assert task_names() == ["assin2_rte", "assin2_sts", "corpus", "faquad_nli", "hatebr"]
    assert get_task("assin2") is get_task("assin2_rte")            # the alias
    assert get_dataset("assin2_sts") is get_dataset("assin2_rte")  # one dataset, two tasks
    assert get_task("hatebr").data.hub_name == "ruanchaves/hatebr"
    assert [t.name for t in all_tasks(fewshot=True)] == ["assin2_rte", "assin2_sts", "faquad_nli", "hatebr"]
    with pytest.raises(TaskError, match="unknown task 'sst2'.*assin2_rte"):
        get_task("sst2")


def _code_strings(path) -> str:
    """The string constants of a module's code, docstrings and comments left out."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return "\n".join(node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                     and isinstance(node.value, str) and id(node) not in docstrings)


def test_the_package_has_one_definition_of_each_task_meaning():
    """Hub names, label names and prompt words are written in ttl/tasks/ only."""
    from pathlib import Path

    import ttl

    root = Path(ttl.__file__).parent
    needles = ["nilc-nlp/assin2", "ruanchaves/hatebr", "UNENTAILED", "NONTOXIC", "Premissa:", "O texto é ofensivo",
               "entailment_judgment", "instagram_comments"]
    code = {p.relative_to(root).as_posix(): _code_strings(p) for p in root.rglob("*.py")}
    for needle in needles:
        hits = sorted(name for name, text in code.items() if needle in text)
        assert hits and all(h.startswith("tasks/") for h in hits), (needle, hits)


def test_a_new_task_is_one_module(toy_task, toy_data, small_run, tmp_path, capsys, monkeypatch):
    """Register a toy task from a temporary module, then load it, fine-tune it and evaluate it
    few-shot through the same code and commands as the built-in tasks."""
    from ttl.data.loaders import load_task_data
    from ttl.eval import build_prompt, evaluate_task

    dsd = load_task_data("toy", str(toy_data))
    assert {s: len(dsd[s]) for s in dsd} == {"train": 60, "validation": 16, "test": 16}
    assert "shop" not in dsd["train"].column_names                    # an optional column may be missing
    prompt = build_prompt("toy_reviews", dsd["test"][0], [dsd["train"][0]])
    assert prompt.startswith("Review: great food") and "Answer: yes\n\nReview:" in prompt

    profile, run = small_run
    copy = copy_run(run, tmp_path)
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    assert main(["tasks"]) == 0
    assert "toy_reviews" in capsys.readouterr().out
    data = ["--data", f"toy={toy_data}", "--out", str(copy.root)]
    assert main(["finetune", "--task", "toy", *data]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("\n{") + 1:])  # after the [ttl] progress lines
    assert result["task"] == "toy_reviews" and result["train_examples"] == profile.finetune.max_train_examples
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(copy.classifier_dir("toy_reviews")).id2label == {0: "BAD", 1: "GOOD"}
    assert main(["eval", "--tasks", "toy_reviews", "--mode", "loglik", *data]) == 0
    scores = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert scores["task"] == "toy_reviews" and scores["examples"] == profile.eval.max_eval_examples
    model, tokenizer = pipeline_model(profile, copy)
    res = evaluate_task(model, tokenizer, "toy_reviews", dsd, num_fewshot=1, max_examples=6, mode="generate")
    assert res["examples"] == 6 and 0 <= res["macro_f1"] <= 1


def pipeline_model(profile, run):
    from ttl.pipeline import ensure_checkpoint, ensure_tokenizer

    return ensure_checkpoint(profile, run, build=False), ensure_tokenizer(profile, run, build=False)


def test_a_task_declared_inconsistently_is_refused():
    from datasets import Features, Value

    from ttl.tasks import DatasetSpec, Task

    with pytest.raises(TaskError, match="required column"):
        DatasetSpec(name="x", hub_name="a/x", features=Features({"text": Value("string")}), required=("label",))
    spec = DatasetSpec(name="x", hub_name="a/x", features=Features({"text": Value("string")}), required=("text",))
    with pytest.raises(TaskError, match="needs label"):
        Task(name="x", data=spec, kind="classification")
    with pytest.raises(TaskError, match="input column"):
        Task(name="x", data=spec, kind="classification", label=int, label_names=("A", "B"), choices={},
             input_columns=("body",))
