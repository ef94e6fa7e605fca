"""Few-shot evaluation with the prompts of the Portuguese evaluation harness.

Each task turns an example into a prompt, puts ``k`` solved examples from the
training split before it (separated by blank lines), lets the model answer
greedily until a blank line, and maps the answer back to a label. Scores are
printed beside the majority-class baseline: for a small model a few-shot
macro-F1 of 33.33 on a balanced binary task means "always the same answer".

Two modes:
* ``generate`` (as the Portuguese harness): greedy generation, answer parsed from the text;
* ``loglik``: compare the log-probability of each label's answer (" Sim" vs
  " Não"); more informative for tiny models that do not yet follow the format. This is
  lm-evaluation-harness's ``multiple_choice`` scoring, reproduced to the token: the same
  prompt, the same shots, the same context/answer split, the same BOS, the same truncation
  (:mod:`ttl.eval.harness` runs the harness itself and the tests compare the two).

The shots are drawn as the harness's default sampler draws them: one ``random.Random(seed)``
for the whole task, ``k`` training rows sampled for each evaluated row in turn. Given the
same training split, the same evaluated rows in the same order and ``seed`` equal to the
harness's ``fewshot_random_seed`` (1234 for both by default), both pick the same shots.

Scores are named as the harness names them: ``f1_macro`` (the Portuguese leaderboard's
macro-F1; the harness's plain ``f1`` is binary), ``acc``, and in loglik mode ``acc_norm``
(the choice with the highest log-likelihood per character of its answer) and
``acc_mutual_info`` (the highest log-likelihood minus that of the answer with no prompt, the
model's prior for the word: log p(answer | prompt) / p(answer)). The older names ``macro_f1``
and ``accuracy`` stay, with the same values.

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

    As in the harness, white space at the end of the context moves to the start of the
    continuation. One case differs on purpose: when the context's last token merges with the
    continuation's first, the harness keeps the context's own encoding and scores the rest of
    the joint one (a sequence no tokenizer produces); here both parts come from the joint
    encoding, split where it stops agreeing with the context's. The registry's prompts end in
    ":" or "?" before " Sim"/" Não", where nothing merges (tests/test_harness.py checks that
    every scored pair splits as the harness splits it).
    """
    stripped = context.rstrip()
    context, continuation = stripped, context[len(stripped):] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    head = tokenizer(context)["input_ids"]
    if whole[:len(head)] != head:
        # The context's last token merged with the continuation's first: split where they differ.
        head = head[:next(i for i, (a, b) in enumerate(zip(whole, head)) if a != b)]
    return whole[:len(head)], whole[len(head):]


# Tokens left for a generated answer (the harness's ``max_gen_toks`` in ttl's task YAMLs).
ANSWER_TOKENS = 6


def _fit(ids: list[int], limit: int) -> tuple[list[int], bool]:
    """Keep the end of the prompt (the query) when it does not fit the context."""
    return (ids[-limit:], True) if len(ids) > limit else (ids, False)


def _fit_pair(context: list[int], answer: list[int], max_len: int) -> tuple[list[int], bool]:
    """The tokens a causal model reads to score ``answer`` after ``context``, cut as the harness
    cuts them: the last ``max_len + 1`` tokens of context + answer (the input is all of them
    but the last, so it never exceeds the model's context)."""
    if len(answer) > max_len:
        raise ValueError(f"an answer of {len(answer)} tokens does not fit a context of {max_len}")
    whole = context + answer
    return (whole[-(max_len + 1):], True) if len(whole) > max_len + 1 else (whole, False)


def _midscale(task: Task) -> float:
    low, high = task.score_range
    return (low + high) / 2


@torch.no_grad()
def _loglik(model, tokens: list[int], n_answer: int) -> float:
    """Log-probability of the last ``n_answer`` of ``tokens`` given the ones before them."""
    device = next(model.parameters()).device
    ids = torch.tensor([tokens], device=device)
    logp = F.log_softmax(model(ids[:, :-1]).logits.float(), -1)[0, -n_answer:]
    return float(logp.gather(-1, ids[0, -n_answer:, None]).sum())


@torch.no_grad()
def unconditional_logliks(model, tokenizer, answers: list[str]) -> list[float]:
    """log p(answer) with no prompt, as the harness computes it for ``acc_mutual_info``: the
    answer encoded alone after the BOS token (or, when the encoding starts with that token
    already, its first token as the context)."""
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    out = []
    for answer in answers:
        cont = tokenizer(answer, add_special_tokens=False)["input_ids"]
        context, cont = ([prefix], cont) if cont[0] != prefix else (cont[:1], cont[1:])
        out.append(_loglik(model, context + cont, len(cont)))
    return out


def eval_rows(task: Task | str, dataset, max_examples: int | None = None, seed: int = 1234,
              split: str = "test"):
    """The rows :func:`evaluate_task` scores, in the order it scores them (the shots it draws
    depend on that order): a seeded, label-stratified subset of ``split``, or all of it."""
    task = fewshot_task(task)
    # A test file sorted by label must not give one class: never a prefix.
    return stratified_subset(dataset[split], max_examples, task, seed)


def _argmax(scores: list[float]) -> int:
    """Index of the first highest score (numpy's argmax, which the harness uses: ties go to the
    first choice)."""
    return max(range(len(scores)), key=scores.__getitem__)


def evaluate_task(model, tokenizer, task: Task | str, dataset, *, num_fewshot: int | None = None,
                  max_examples: int | None = None, mode: str = "generate", seed: int = 1234,
                  split: str = "test", max_new_tokens: int = ANSWER_TOKENS) -> dict:
    """Score ``model`` on ``task`` with ``dataset`` (a DatasetDict with train and ``split``).

    The result holds the scores (``f1_macro``/``acc``, and ``acc_norm``/``acc_mutual_info`` in
    loglik mode, or ``pearson``), the one-class baseline, and ``predictions``: one entry per
    evaluated row, in order, with its gold label and prediction; in loglik mode also the
    log-likelihood of every choice (``loglik``, in the order of ``choices``, i.e. of the
    labels), the same divided by the answer's length in characters (``loglik_norm``, the
    harness's acc_norm) and minus the answer's unconditional log-likelihood
    (``loglik_mutual_info``; those are in the result as ``unconditional_loglik``).
    """
    task = fewshot_task(task)
    if mode not in ("generate", "loglik"):
        raise ValueError("mode must be 'generate' or 'loglik'")
    if mode == "loglik" and task.kind != "classification":
        raise ValueError(f"{task.name} is a regression task; use mode='generate'")
    k = task.num_fewshot if num_fewshot is None else num_fewshot
    rng = random.Random(seed)
    train = list(dataset["train"])
    rows = list(eval_rows(task, dataset, max_examples, seed, split))
    max_len = model.config.max_seq_len
    limit = max_len - max_new_tokens
    labels = sorted(task.choices) if task.kind == "classification" else []
    golds, preds, norm_preds, mi_preds, truncated, invalid = [], [], [], [], 0, 0
    examples, predictions = [], []
    if mode == "loglik":   # the same for every row: no prompt at all
        unconditional = unconditional_logliks(model, tokenizer, [task.choices[lab] for lab in labels])
    for row in rows:
        shots = rng.sample(train, k) if k else []
        prompt = build_prompt(task, row, shots)
        gold = task.label(row)
        if mode == "loglik":
            lls, cut = [], False
            for lab in labels:
                context, answer_ids = split_context(tokenizer, prompt, task.choices[lab])
                tokens, c = _fit_pair(context, answer_ids, max_len)
                cut |= c
                lls.append(_loglik(model, tokens, len(answer_ids)))
            norm = [ll / len(task.choices[lab]) for ll, lab in zip(lls, labels)]
            mutual = [ll - u for ll, u in zip(lls, unconditional)]
            pred, answer = labels[_argmax(lls)], None
            norm_preds.append(labels[_argmax(norm)])
            mi_preds.append(labels[_argmax(mutual)])
            predictions.append({"gold": gold, "pred": pred, "pred_norm": norm_preds[-1],
                                "pred_mutual_info": mi_preds[-1], "loglik": lls, "loglik_norm": norm,
                                "loglik_mutual_info": mutual})
        else:
            ids, cut = _fit(tokenizer(prompt)["input_ids"], limit)
            cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0)
            new = [int(t[0, 0]) for t in generate_ids(model, torch.tensor([ids]), cfg,
                                                      eos_token_id=tokenizer.eos_token_id)]
            answer = tokenizer.decode(new, skip_special_tokens=True).split("\n\n")[0]
            pred = task.parse_answer(answer)
            if pred is None:
                invalid += 1
                pred = -1 if task.kind == "classification" else _midscale(task)  # unparseable: counted wrong
            predictions.append({"gold": gold, "pred": pred, "answer": answer})
        truncated += cut
        golds.append(gold)
        preds.append(pred)
        examples.append({"prompt_tail": prompt[-160:], "answer": answer, "pred": pred, "gold": gold})
    result = {"task": task.name, "mode": mode, "num_fewshot": k, "examples": len(rows),
              "truncated_prompts": truncated, "invalid_answers": invalid, "samples": examples[:5]}
    if task.metric == "pearson":
        result["pearson"] = pearson(golds, preds)
    else:
        result["f1_macro"] = result["macro_f1"] = macro_f1(golds, preds, labels)
        result["acc"] = result["accuracy"] = accuracy(golds, preds)
        if mode == "loglik":
            result["acc_norm"] = accuracy(golds, norm_preds)
            result["acc_mutual_info"] = accuracy(golds, mi_preds)
            result["unconditional_loglik"] = unconditional
        base = majority_baseline(golds, labels)
        result["baseline_macro_f1"] = base["macro_f1"]
        result["baseline_accuracy"] = base["accuracy"]
        result["choices"] = [task.choices[lab] for lab in labels]
    result["predictions"] = predictions
    return result
