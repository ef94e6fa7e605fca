"""Few-shot evaluation with the prompts of the Portuguese evaluation harness.

Each task turns an example into a prompt, puts ``k`` solved examples from the
training split before it (separated by blank lines), lets the model answer
greedily until a blank line, and maps the answer back to a label. Scores are
printed beside the majority-class baseline: for a small model a few-shot
macro-F1 of 33.33 on a balanced binary task means "always the same answer".

Two modes:
* ``generate`` (as the harness): greedy generation, answer parsed from the text;
* ``loglik``: compare the log-probability of each label's answer (" Sim" vs
  " Não"); more informative for tiny models that do not yet follow the format.

Prompts, answers and metrics come from the task registry (:mod:`ttl.tasks`): a task with a
``prompt`` is a few-shot task, whatever its language.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from ..data.loaders import stratified_subset
from ..generate import SamplingConfig, generate_ids
from ..tasks import Task, get_task
from .metrics import accuracy, macro_f1, majority_baseline, pearson


def fewshot_task(name: str | Task) -> Task:
    """A registered task that has a few-shot prompt (classification or regression)."""
    task = get_task(name)
    if not task.fewshot:
        raise ValueError(f"task {task.name!r} has no few-shot prompt; choose one of "
                         f"{', '.join(t.name for t in all_fewshot_tasks())}")
    return task


def all_fewshot_tasks() -> list[Task]:
    from ..tasks import all_tasks

    return all_tasks(fewshot=True)


def _shot_text(task: Task, row: dict) -> str:
    return task.prompt(row) + task.answer_text(task.label(row))


def build_prompt(task: Task | str, row: dict, shots: list[dict]) -> str:
    """Solved examples, each followed by a blank line, then the query, as the harness lays them out."""
    task = fewshot_task(task)
    return "\n\n".join([*(_shot_text(task, s) for s in shots), task.prompt(row)])


def split_context(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """``(context tokens, continuation tokens)`` as lm-evaluation-harness scores an answer:
    the two texts encoded together, split where the context's own encoding ends.

    Encoded alone, " Sim" becomes ['▁', '▁S', 'im'] with a SentencePiece-style tokenizer (a
    word start of its own, then the word); after "Resposta:" it is ['▁S', 'im']. Scoring the
    lone encoding adds the cost of a token the model never has to predict.
    """
    whole = tokenizer(context + continuation)["input_ids"]
    head = tokenizer(context)["input_ids"]
    if whole[:len(head)] != head:
        # The context's last token merged with the continuation's first: split where they differ.
        head = head[:next(i for i, (a, b) in enumerate(zip(whole, head)) if a != b)]
    return whole[:len(head)], whole[len(head):]


def _fit(ids: list[int], limit: int) -> tuple[list[int], bool]:
    """Keep the end of the prompt (the query) when it does not fit the context."""
    return (ids[-limit:], True) if len(ids) > limit else (ids, False)


def _midscale(task: Task) -> float:
    low, high = task.score_range
    return (low + high) / 2


@torch.no_grad()
def _loglik(model, prefix: list[int], continuation: list[int]) -> float:
    device = next(model.parameters()).device
    ids = torch.tensor([prefix + continuation], device=device)
    logp = F.log_softmax(model(ids[:, :-1]).logits.float(), -1)
    targets = ids[0, len(prefix):]
    return float(logp[0, len(prefix) - 1:].gather(-1, targets[:, None]).sum())


def evaluate_task(model, tokenizer, task: Task | str, dataset, *, num_fewshot: int | None = None,
                  max_examples: int | None = None, mode: str = "generate", seed: int = 1234,
                  split: str = "test", max_new_tokens: int = 6) -> dict:
    """Score ``model`` on ``task`` with ``dataset`` (a DatasetDict with train and ``split``)."""
    task = fewshot_task(task)
    if mode not in ("generate", "loglik"):
        raise ValueError("mode must be 'generate' or 'loglik'")
    if mode == "loglik" and task.kind != "classification":
        raise ValueError(f"{task.name} is a regression task; use mode='generate'")
    k = task.num_fewshot if num_fewshot is None else num_fewshot
    rng = random.Random(seed)
    train = list(dataset["train"])
    # A seeded, label-stratified subset: a test file sorted by label must not give one class.
    rows = list(stratified_subset(dataset[split], max_examples, task, seed))
    limit = model.config.max_seq_len - max_new_tokens
    golds, preds, truncated, invalid = [], [], 0, 0
    examples = []
    for row in rows:
        shots = rng.sample(train, k) if k else []
        prompt = build_prompt(task, row, shots)
        ids, cut = _fit(tokenizer(prompt)["input_ids"], limit)
        truncated += cut
        if mode == "loglik":
            scores = {}
            for lab, ans in task.choices.items():
                context, answer_ids = split_context(tokenizer, prompt, ans)
                scores[lab] = _loglik(model, _fit(context, limit)[0], answer_ids)
            pred, answer = max(scores, key=scores.get), None
        else:
            cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0)
            new = [int(t[0, 0]) for t in generate_ids(model, torch.tensor([ids]), cfg,
                                                      eos_token_id=tokenizer.eos_token_id)]
            answer = tokenizer.decode(new, skip_special_tokens=True).split("\n\n")[0]
            pred = task.parse_answer(answer)
        if pred is None:
            invalid += 1
            pred = -1 if task.kind == "classification" else _midscale(task)  # unparseable: counted wrong
        golds.append(task.label(row))
        preds.append(pred)
        examples.append({"prompt_tail": prompt[-160:], "answer": answer, "pred": pred, "gold": golds[-1]})
    result = {"task": task.name, "mode": mode, "num_fewshot": k, "examples": len(rows),
              "truncated_prompts": truncated, "invalid_answers": invalid, "samples": examples[:5]}
    if task.metric == "pearson":
        result["pearson"] = pearson(golds, preds)
    else:
        labels = sorted(task.choices)
        result["macro_f1"] = macro_f1(golds, preds, labels)
        result["accuracy"] = accuracy(golds, preds)
        base = majority_baseline(golds, labels)
        result["baseline_macro_f1"] = base["macro_f1"]
        result["baseline_accuracy"] = base["accuracy"]
    return result
