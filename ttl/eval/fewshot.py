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
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..generate import SamplingConfig, generate_ids
from .metrics import accuracy, macro_f1, majority_baseline, pearson

YES, NO = " Sim", " Não"


@dataclass(frozen=True)
class FewShotTask:
    name: str
    dataset: str                      # loader name in ttl.data.loaders
    num_fewshot: int
    render: Callable[[dict], str]     # example -> prompt ending in "Resposta:" (or similar)
    gold: Callable[[dict], object]    # example -> label
    answers: dict | None              # label -> answer text (classification); None for regression
    metric: str                       # "macro_f1" or "pearson"


def _label(row: dict, key: str) -> int:
    return int(row[key])


TASKS: dict[str, FewShotTask] = {
    "assin2_rte": FewShotTask(
        "assin2_rte", "assin2", 15,
        lambda r: (f"Premissa: {r['premise']}\nHipótese: {r['hypothesis']}\n"
                   "Pergunta: A hipótese pode ser inferida pela premissa? Sim ou Não?\nResposta:"),
        lambda r: _label(r, "entailment_judgment"), {1: YES, 0: NO}, "macro_f1"),
    "assin2_sts": FewShotTask(
        "assin2_sts", "assin2", 15,
        lambda r: (f"Frase 1: {r['premise']}\nFrase 2: {r['hypothesis']}\n"
                   "Pergunta: Quão similares são as duas frases? Dê uma pontuação entre 1,0 a 5,0.\nResposta:"),
        lambda r: float(r["relatedness_score"]), None, "pearson"),
    "hatebr": FewShotTask(
        "hatebr", "hatebr", 25,
        lambda r: f"Texto: {r['instagram_comments']}\nPergunta: O texto é ofensivo?\nResposta:",
        lambda r: int(bool(r["offensive_language"])), {1: YES, 0: NO}, "macro_f1"),
    "faquad_nli": FewShotTask(
        "faquad_nli", "faquad_nli", 15,
        lambda r: (f"Pergunta: {r['question']}\nResposta: {r['answer']}\n"
                   "A resposta dada satisfaz à pergunta? Sim ou Não?"),
        lambda r: _label(r, "label"), {1: YES, 0: NO}, "macro_f1"),
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def parse_yes_no(answer: str) -> int | None:
    """1 for an answer starting with "sim", 0 for "não"/"nao", None when neither."""
    words = re.findall(r"\w+", _fold(answer))
    if not words:
        return None
    return {"sim": 1, "nao": 0}.get(words[0])


def parse_score(answer: str) -> float | None:
    """A similarity written the Brazilian way ("3,5") or with a dot, clipped to [1, 5]."""
    m = re.search(r"\d+(?:[.,]\d+)?", answer)
    if not m:
        return None
    return min(5.0, max(1.0, float(m.group().replace(",", "."))))


def _shot_text(task: FewShotTask, row: dict) -> str:
    if task.answers is not None:
        answer = task.answers[task.gold(row)]
        if task.name == "faquad_nli":  # its prompt ends with the question itself
            return task.render(row) + "\nResposta:" + answer
        return task.render(row) + answer
    return task.render(row) + " " + f"{task.gold(row):.1f}".replace(".", ",")


def build_prompt(task: FewShotTask, row: dict, shots: list[dict]) -> str:
    query = task.render(row) + ("\nResposta:" if task.name == "faquad_nli" else "")
    return "\n\n".join([*(_shot_text(task, s) for s in shots), query])


def _fit(ids: list[int], limit: int) -> tuple[list[int], bool]:
    """Keep the end of the prompt (the query) when it does not fit the context."""
    return (ids[-limit:], True) if len(ids) > limit else (ids, False)


@torch.no_grad()
def _loglik(model, prefix: list[int], continuation: list[int]) -> float:
    device = next(model.parameters()).device
    ids = torch.tensor([prefix + continuation], device=device)
    logp = F.log_softmax(model(ids[:, :-1]).logits.float(), -1)
    targets = ids[0, len(prefix):]
    return float(logp[0, len(prefix) - 1:].gather(-1, targets[:, None]).sum())


def evaluate_task(model, tokenizer, task: FewShotTask | str, dataset, *, num_fewshot: int | None = None,
                  max_examples: int | None = None, mode: str = "generate", seed: int = 1234,
                  split: str = "test", max_new_tokens: int = 6) -> dict:
    """Score ``model`` on ``task`` with ``dataset`` (a DatasetDict with train and ``split``)."""
    task = TASKS[task] if isinstance(task, str) else task
    if mode not in ("generate", "loglik"):
        raise ValueError("mode must be 'generate' or 'loglik'")
    if mode == "loglik" and task.answers is None:
        raise ValueError(f"{task.name} is a regression task; use mode='generate'")
    k = task.num_fewshot if num_fewshot is None else num_fewshot
    rng = random.Random(seed)
    train = list(dataset["train"])
    rows = list(dataset[split])
    if max_examples:
        rows = rows[:max_examples]
    limit = model.config.max_seq_len - max_new_tokens
    golds, preds, truncated, invalid = [], [], 0, 0
    examples = []
    for row in rows:
        shots = rng.sample(train, k) if k else []
        prompt = build_prompt(task, row, shots)
        ids, cut = _fit(tokenizer(prompt)["input_ids"], limit)
        truncated += cut
        if mode == "loglik":
            scores = {lab: _loglik(model, ids, tokenizer(ans, add_special_tokens=False)["input_ids"])
                      for lab, ans in task.answers.items()}
            pred, answer = max(scores, key=scores.get), None
        else:
            cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0)
            new = [int(t[0, 0]) for t in generate_ids(model, torch.tensor([ids]), cfg,
                                                      eos_token_id=tokenizer.eos_token_id)]
            answer = tokenizer.decode(new, skip_special_tokens=True).split("\n\n")[0]
            pred = parse_yes_no(answer) if task.answers is not None else parse_score(answer)
        if pred is None:
            invalid += 1
            pred = -1 if task.answers is not None else 3.0  # unparseable: wrong class / mid-scale score
        golds.append(task.gold(row))
        preds.append(pred)
        examples.append({"prompt_tail": prompt[-160:], "answer": answer, "pred": pred, "gold": golds[-1]})
    result = {"task": task.name, "mode": mode, "num_fewshot": k, "examples": len(rows),
              "truncated_prompts": truncated, "invalid_answers": invalid, "samples": examples[:5]}
    if task.metric == "pearson":
        result["pearson"] = pearson(golds, preds)
    else:
        labels = sorted(task.answers)
        result["macro_f1"] = macro_f1(golds, preds, labels)
        result["accuracy"] = accuracy(golds, preds)
        base = majority_baseline(golds, labels)
        result["baseline_macro_f1"] = base["macro_f1"]
        result["baseline_accuracy"] = base["accuracy"]
    return result
