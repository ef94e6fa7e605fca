"""ttl's few-shot tasks in lm-evaluation-harness (lm-eval 0.4.x), generated from the registry.

The task YAMLs in ``ttl/eval/harness_tasks/`` are written by :func:`write_task_yamls` from
:mod:`ttl.tasks` (prompt, answers, label column, shot count, Hub dataset) and must never be
edited by hand: ``python -m ttl.eval.harness`` writes them again, and tests/test_harness.py
fails when they no longer say what the registry says. Each task is named ``ttl_<task>``
(``ttl_assin2_rte``, ``ttl_hatebr``...), so that none collides with the harness's own tasks
(upstream has an English-style ``assin2_rte``; the Portuguese harness calls HateBR
``hatebr_offensive``).

What the YAMLs do, and how it relates to the Portuguese harness (eduagarcia/lm-evaluation-
harness-pt) whose prompts the registry uses:

* the prompts are the registry's, written out as Jinja templates (derived by rendering the
  registry's prompt with placeholders, then checked against it). They are the Portuguese
  harness's for assin2_rte, assin2_sts and hatebr; for faquad_nli the registry adds
  "\\nResposta:" after the question, and ttl shows no task description (instruction line)
  before the shots, which the Portuguese harness does;
* classification tasks are ``multiple_choice``: the log-likelihood of each of the registry's
  answers (" Não", " Sim") after the prompt, which is ttl's ``mode="loglik"``; the Portuguese
  harness generates an answer and matches it to a label instead (ttl's ``mode="generate"``);
* STS is ``generate_until`` (greedy, until a blank line, at most
  :data:`~ttl.eval.fewshot.ANSWER_TOKENS` tokens), the number parsed by the registry
  (decimal comma, clipped to 1-5, an unparseable answer scored as the middle of the scale, as
  ttl does), Pearson correlation;
* shots come from the train split through the harness's default sampler (seeded random per
  evaluated row), which is what ttl's :func:`~ttl.eval.fewshot.evaluate_task` draws for the
  same rows in the same order and the same seed. The Portuguese harness uses fixed lists of
  training ids (a sampler of its fork that upstream lm-eval does not have);
* metrics: ``f1_macro`` (macro-F1 over the task's classes, as ttl's), ``acc``, ``acc_norm``
  (log-likelihood per character of the answer; " Sim" and " Não" have the same length, so
  here it equals ``acc``), ``acc_mutual_info`` (log-likelihood minus that of the answer
  scored with no prompt: the harness adds those requests itself when the metric is listed),
  ``pearson`` for STS. The harness's own ``f1`` is binary F1.

By default the YAMLs read the Hub datasets of the registry (``nilc-nlp/assin2``, ...), so
they also run from lm-eval's own command line::

    lm_eval --model hf --model_args pretrained=RUN/hf_model --include_path ttl/eval/harness_tasks \
        --tasks ttl_assin2_rte,ttl_hatebr

(a ttl export's generation_config.json sets no ``max_new_tokens``, which transformers would let
win over the task's ``max_gen_toks``; :func:`run_harness` also resets the loaded copy's settings).
:func:`run_harness` with ``data=`` writes the given splits to parquet in a scratch folder and
points a copy of the YAMLs at them instead: that is how ``ttl eval --harness`` compares ttl
with the harness on exactly the rows it scored, offline.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..tasks import Task
from .fewshot import ANSWER_TOKENS, _argmax, all_fewshot_tasks, fewshot_task
from .metrics import macro_f1, pearson as _pearson

TASKS_DIR = Path(__file__).parent / "harness_tasks"
CLASSIFICATION_METRICS = ("f1_macro", "acc", "acc_norm", "acc_mutual_info")
PREFIX = "ttl_"
_HOOKS = "ttl.eval.harness"   # the module the YAMLs' !function entries import (also under -m)
_HEADER = ("# Written by ttl.eval.harness.write_task_yamls from the task registry (ttl/tasks/{module}.py).\n"
           "# Do not edit: change the registry and run `python -m ttl.eval.harness`.\n")


class HarnessError(ValueError):
    """lm-eval is missing, or a task cannot be written as a harness task."""


def harness_name(task: str | Task) -> str:
    """``ttl_<task>``: the harness task of a registered few-shot task."""
    return PREFIX + fewshot_task(task).name


def harness_tasks() -> list[Task]:
    return all_fewshot_tasks()


# --------------------------------------------------------------------------- the YAMLs

class _Function(str):
    """A ``!function module.name`` entry of a task YAML."""


def _dump(config: dict) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        # One line per template, with \n written out: the prompt reads as the registry writes it.
        style = '"' if "\n" in value or value != value.strip() else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    Dumper.add_representer(_Function, lambda d, v: d.represent_scalar("!function", str(v)))
    return yaml.dump(config, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=10_000)


class _Placeholders(dict):
    """A row whose every column reads as the Jinja expression of that column."""

    def __missing__(self, column: str) -> str:
        return "{{ " + column + " }}"


def _render(template: str, row: Mapping) -> str:
    """Render as lm-eval renders (jinja2, strict undefined, trailing newline kept)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.BaseLoader, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.from_string(template).render(**row)


def _probe_rows(task: Task) -> list[dict]:
    """Rows that exercise a template: distinct texts, and each label (a class, or a few scores)."""
    from datasets import ClassLabel

    rows = []
    for i in range(task.num_labels if task.kind == "classification" else 3):
        row = {}
        for col, feature in task.data.features.items():
            dtype = getattr(feature, "dtype", "")
            if isinstance(feature, ClassLabel) or "int" in dtype:
                row[col] = i
            elif dtype == "bool":
                row[col] = bool(i)
            elif dtype.startswith("float"):
                row[col] = 1.0 + 1.25 * i
            else:
                row[col] = f"text {i} of {col}, with 'quotes', \"more\" and {{braces}}"
        rows.append(row)
    return rows


def _text_template(task: Task) -> str | None:
    """The prompt as a Jinja template, or None when the registry's prompt is more than columns
    put in place (then the YAML calls the registry instead)."""
    template = task.prompt(_Placeholders())
    if "{%" in template or "{#" in template:
        return None
    try:
        ok = all(_render(template, row) == task.prompt(row) for row in _probe_rows(task))
    except Exception:  # noqa: BLE001 - any failure means "not expressible"
        return None
    return template if ok else None


def _target_template(task: Task) -> str | None:
    """``{{ column | int }}`` when the label is the label column read as an int."""
    column = task.data.label_column
    if task.kind != "classification" or column is None:
        return None
    template = "{{ " + column + " | int }}"
    try:
        ok = all(_render(template, row) == str(task.label(row)) for row in _probe_rows(task))
    except Exception:  # noqa: BLE001
        return None
    return template if ok else None


def task_config(task: str | Task, *, data_files: Mapping[str, str] | None = None,
                cache_dir: str | None = None) -> dict:
    """The lm-eval task config of ``task``: the Hub dataset by default, or parquet files
    (``{"train": path, "test": path}``) with the same columns."""
    task = fewshot_task(task)
    if task.kind == "classification" and sorted(task.choices) != list(range(task.num_labels)):
        raise HarnessError(f"{task.name}: the harness needs the choices of labels 0..{task.num_labels - 1}")
    config: dict[str, Any] = {"task": harness_name(task)}
    if data_files is None:
        config["dataset_path"] = task.data.hub_name
        if task.data.hub_config:
            config["dataset_name"] = task.data.hub_config
        if task.data.hub_revision:
            config["dataset_kwargs"] = {"revision": task.data.hub_revision}
    else:
        config["dataset_path"] = "parquet"
        config["dataset_kwargs"] = {"data_files": dict(data_files), **({"cache_dir": cache_dir} if cache_dir else {})}
    config |= {"training_split": "train", "fewshot_split": "train", "test_split": "test",
               "fewshot_config": {"sampler": "default"}, "num_fewshot": task.num_fewshot}
    text = _text_template(task)
    config["doc_to_text"] = text if text is not None else _Function(f"{_HOOKS}.doc_to_text_{task.name}")
    # The registry's answers carry their own leading space (" Sim"): no delimiter before them.
    config["target_delimiter"] = ""
    config["fewshot_delimiter"] = "\n\n"
    if task.kind == "classification":
        target = _target_template(task)
        config["output_type"] = "multiple_choice"
        config["doc_to_choice"] = [task.choices[label] for label in range(task.num_labels)]
        config["doc_to_target"] = target if target is not None else _Function(f"{_HOOKS}.doc_to_target_{task.name}")
        metrics = [("f1_macro", _Function(f"{_HOOKS}.f1_macro")), ("acc", "mean"), ("acc_norm", "mean"),
                   ("acc_mutual_info", "mean")]   # the harness then also scores each answer alone
    else:
        config["output_type"] = "generate_until"
        config["doc_to_target"] = _Function(f"{_HOOKS}.doc_to_target_{task.name}")
        # Greedy as ttl's generate mode; repetition_penalty 1.0 overrides the export's
        # generation_config.json (the model card's sampling settings).
        config["generation_kwargs"] = {"until": ["\n\n"], "do_sample": False, "temperature": 0.0,
                                       "max_gen_toks": ANSWER_TOKENS, "repetition_penalty": 1.0}
        metrics = [("pearson", _Function(f"{_HOOKS}.pearson"))]
    config["process_results"] = _Function(f"{_HOOKS}.process_results_{task.name}")
    config["metric_list"] = [{"metric": name, "aggregation": agg, "higher_is_better": True} for name, agg in metrics]
    config["metadata"] = {"version": 1.0, "registry": f"ttl.tasks.{task.name}"}
    return config


def task_yaml(task: str | Task, **kwargs) -> str:
    task = fewshot_task(task)
    return _HEADER.format(module=task.name) + _dump(task_config(task, **kwargs))


def write_task_yamls(folder: str | Path = TASKS_DIR, tasks: Iterable[str | Task] | None = None, *,
                     data_files: Mapping[str, Mapping[str, str]] | None = None,
                     cache_dir: str | None = None) -> dict[str, Path]:
    """Write one ``ttl_<task>.yaml`` per task into ``folder`` (default: the shipped ones).

    ``data_files`` maps a task name to its parquet files (``{"train": ..., "test": ...}``);
    tasks not in it read the Hub.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for task in (harness_tasks() if tasks is None else [fewshot_task(t) for t in tasks]):
        files = (data_files or {}).get(task.name)
        path = folder / f"{harness_name(task)}.yaml"
        path.write_text(task_yaml(task, data_files=files, cache_dir=cache_dir), encoding="utf-8")
        written[task.name] = path
    return written


# --------------------------------------------------------------------------- the hooks the YAMLs call

def f1_macro(items) -> float:
    """Aggregation: macro-F1 over the task's classes (items are ``(gold, pred, labels)``)."""
    golds, preds, labels = zip(*items)
    return macro_f1(list(golds), list(preds), list(labels[0]))


def pearson(items) -> float:
    golds, preds = zip(*items)
    return _pearson(list(golds), list(preds))


def _split_results(task: Task, results) -> tuple[list[float], list[float]]:
    """The harness passes each choice's log-likelihood after the prompt, then (for
    acc_mutual_info) each choice's log-likelihood with no prompt."""
    lls = [float(ll) for ll, *_ in results]
    n = task.num_labels
    return lls[:n], lls[n:]


def _process_classification(task: Task, doc: dict, results) -> dict:
    labels = list(range(task.num_labels))
    lls, unconditional = _split_results(task, results)
    norm = [ll / len(task.choices[label]) for ll, label in zip(lls, labels)]
    gold, pred, pred_norm = task.label(doc), labels[_argmax(lls)], labels[_argmax(norm)]   # ties: the first
    out = {"f1_macro": (gold, pred, tuple(labels)), "acc": float(pred == gold), "acc_norm": float(pred_norm == gold)}
    if unconditional:
        mutual = [ll - u for ll, u in zip(lls, unconditional)]
        out["acc_mutual_info"] = float(labels[_argmax(mutual)] == gold)
    return out


def _process_regression(task: Task, doc: dict, results) -> dict:
    pred = task.parse_answer(results[0])
    if pred is None:
        low, high = task.score_range
        pred = (low + high) / 2      # unparseable: the middle of the scale, as ttl's generate mode
    return {"pearson": (task.label(doc), pred)}


def _hook(kind: str, task: Task):
    if kind == "process_results_":
        process = _process_classification if task.kind == "classification" else _process_regression
        return lambda doc, results: process(task, doc, results)
    if kind == "doc_to_text_":
        return task.prompt
    if task.kind == "classification":
        return task.label
    return lambda doc: task.answer_text(task.label(doc))


def __getattr__(name: str):
    """``process_results_<task>``, ``doc_to_text_<task>``, ``doc_to_target_<task>``: the
    registry's functions of one task, under the names the YAMLs give them."""
    for kind in ("process_results_", "doc_to_text_", "doc_to_target_"):
        if name.startswith(kind):
            try:
                return _hook(kind, fewshot_task(name[len(kind):]))
            except ValueError as exc:   # an unknown task, or one without a prompt
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {exc}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- running lm-eval

def require_lm_eval() -> None:
    """Stop with a message that says what to install when lm-eval is missing."""
    try:
        import lm_eval  # noqa: F401
    except ImportError as exc:
        raise HarnessError("lm-evaluation-harness is not installed: pip install 'ttl[harness]' "
                           "(or pip install 'lm-eval~=0.4.13')") from exc


def _write_parquet(data: Mapping[str, Any], folder: Path) -> dict[str, dict[str, str]]:
    """Each task's train and test splits as parquet files (features kept): the harness reads
    exactly the rows, columns and dtypes ttl read."""
    files: dict[str, dict[str, str]] = {}
    for name, dsd in data.items():
        for split in ("train", "test"):
            path = folder / name / f"{split}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            dsd[split].to_parquet(str(path))
            files.setdefault(name, {})[split] = str(path)
    return files


def run_harness(model_dir: str | Path, tasks: Iterable[str | Task], *, data: Mapping[str, Any] | None = None,
                num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234,
                batch_size: int | str = 1, device: str | None = None, dtype: str = "auto",
                bootstrap_iters: int = 0, work_dir: str | Path | None = None) -> dict:
    """Run lm-eval's ``simple_evaluate`` (``model="hf"``) on an exported model folder.

    ``data`` maps a task name to a DatasetDict with ``train`` (the shots) and ``test`` (the
    rows scored, in order); without it the tasks read the Hub. ``num_fewshot`` None keeps each
    task's count. ``seed`` is the harness's ``fewshot_random_seed``: with ttl's ``seed`` and
    the rows of :func:`~ttl.eval.fewshot.eval_rows`, both draw the same shots. Returns
    lm-eval's result (``results``, ``samples``, ``config`` ...); see :func:`summarize`.
    Nothing is written into ``model_dir``; the scratch folder (parquet files, datasets cache)
    is ``work_dir`` or a temporary one. ``device`` None: the GPU when there is one.
    """
    require_lm_eval()
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    tasks = [fewshot_task(t) for t in tasks]
    data = {fewshot_task(name).name: dsd for name, dsd in (data or {}).items()}
    missing = [t.name for t in tasks if data and t.name not in data]
    if missing:
        raise HarnessError(f"no data given for {', '.join(missing)}")
    with contextlib.ExitStack() as stack:
        scratch = (Path(work_dir) if work_dir else
                   Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ttl-harness-"))))
        if data:
            folder = scratch / "tasks"
            files = _write_parquet({t.name: data[t.name] for t in tasks}, scratch / "data")
            write_task_yamls(folder, tasks, data_files=files, cache_dir=str(scratch / "cache"))
        else:
            folder = TASKS_DIR
        manager = TaskManager(include_path=str(folder), include_defaults=False)
        return simple_evaluate(
            model=_hf_model(model_dir, batch_size=batch_size, device=device, dtype=dtype),
            tasks=[harness_name(t) for t in tasks], num_fewshot=num_fewshot, limit=limit,
            bootstrap_iters=bootstrap_iters, log_samples=True, task_manager=manager,
            fewshot_random_seed=seed)


def _hf_model(model_dir, *, batch_size, device, dtype):
    """lm-eval's ``hf`` model (what ``simple_evaluate(model="hf", model_args=...)`` builds) on
    the folder, with the generation settings of a model that has no generation_config.json.

    A ttl export carries the model cards' sampling settings (sampling, repetition penalty 1.2);
    an older export or another model may also set ``max_new_tokens``, which transformers applies
    over the ``max_length`` the harness asks for (150 tokens where the task says
    :data:`~ttl.eval.fewshot.ANSWER_TOKENS`). Only the loaded copy is changed.
    """
    from lm_eval.api.registry import get_model
    from transformers import GenerationConfig

    lm = get_model("hf").create_from_arg_obj({"pretrained": str(model_dir), "dtype": dtype},
                                             {"batch_size": batch_size, "device": device})
    lm.model.generation_config = GenerationConfig.from_model_config(lm.model.config)
    return lm


def summarize(output: dict, task: str | Task) -> dict:
    """One task of :func:`run_harness`'s output in ttl's terms: the scores under ttl's names
    (:data:`CLASSIFICATION_METRICS` / ``pearson``), the shot count, and per evaluated row
    (in order) the gold label, the prediction and, for a classification task, the
    log-likelihood of each choice (``loglik``) and the same per character (``loglik_norm``)."""
    task = fewshot_task(task)
    name = harness_name(task)
    scores = output["results"][name]
    out: dict[str, Any] = {"task": task.name, "harness_task": name,
                           "num_fewshot": output.get("n-shot", {}).get(name)}
    metrics = CLASSIFICATION_METRICS if task.kind == "classification" else ("pearson",)
    for metric in metrics:
        value = scores.get(f"{metric},none")
        out[metric] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    samples = sorted(output.get("samples", {}).get(name, []), key=lambda s: s["doc_id"])
    out["examples"] = len(samples)
    predictions = []
    for s in samples:
        if task.kind == "classification":
            lls, unconditional = _split_results(task, s["filtered_resps"])
            norm = [ll / len(task.choices[i]) for i, ll in enumerate(lls)]
            gold, pred, _ = s["f1_macro"]
            predictions.append({"gold": gold, "pred": pred, "loglik": lls, "loglik_norm": norm,
                                "unconditional_loglik": unconditional, "context": s["arguments"][0][0]})
        else:
            gold, pred = s["pearson"]
            predictions.append({"gold": gold, "pred": pred, "answer": s["filtered_resps"][0],
                                "context": s["arguments"][0][0]})
    out["predictions"] = predictions
    return out


def side_by_side(ttl_result: dict, output: dict) -> dict:
    """ttl's scores of a task (:func:`~ttl.eval.fewshot.evaluate_task`) beside lm-eval's on the
    same rows, and the largest difference of a choice's log-likelihood when both have them."""
    task = fewshot_task(ttl_result["task"])
    theirs = summarize(output, task)
    metrics = CLASSIFICATION_METRICS if task.kind == "classification" else ("pearson",)
    line = {"task": task.name, "harness_task": theirs["harness_task"], "examples": theirs["examples"],
            "num_fewshot": theirs["num_fewshot"], "ttl_mode": ttl_result["mode"],
            "harness_output_type": "multiple_choice" if task.kind == "classification" else "generate_until",
            "ttl": {m: ttl_result.get(m) for m in metrics}, "harness": {m: theirs[m] for m in metrics}}
    pairs = list(zip(ttl_result.get("predictions", []), theirs["predictions"]))
    if pairs and all("loglik" in a and "loglik" in b for a, b in pairs):
        line["max_abs_loglik_diff"] = max(abs(x - y) for a, b in pairs for x, y in zip(a["loglik"], b["loglik"]))
        if theirs["predictions"][0].get("unconditional_loglik"):
            line["max_abs_unconditional_diff"] = max(
                abs(x - y) for x, y in zip(ttl_result["unconditional_loglik"],
                                           theirs["predictions"][0]["unconditional_loglik"]))
    return line


if __name__ == "__main__":
    for name, path in write_task_yamls().items():
        print(f"{name}: {path}")
