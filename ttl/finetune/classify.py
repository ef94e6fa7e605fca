"""Fine-tuning the pretrained model as a sequence classifier (Assin2, HateBR, FaQuAD-NLI).

The recipe of the TeenyTinyLlama model cards: ``AutoModelForSequenceClassification``
on the exported model, 3 epochs, batch 16, AdamW with LR 4e-5 and weight decay
0.01; Assin2 input ``<s>premise<s>hypothesis</s>``.

One thing is done differently on purpose: the original scripts picked their
best checkpoint by the *test* score, which reports an optimistic number. We
select on the validation split and touch the test split exactly once, at the
end, with the selected model.
"""

from __future__ import annotations

import copy
from collections import Counter
import math
import os
import random

import torch
from tqdm.auto import tqdm

from ..config import FinetuneConfig
from ..data.loaders import stratified_subset, warn_if_one_class
from ..eval.metrics import accuracy, macro_f1, majority_baseline
from ..export.card import classifier_card
from ..io import atomic_dir, atomic_write_json
from ..manifest import MANIFEST
from ..model.hf import pin_portable_config
from ..tasks import Task, get_task, task_names
from ..tokenizer.train import pin_tokenizer_class


def classification_task(name: str | Task) -> Task:
    """A registered classification task (its input columns, labels and label names)."""
    task = get_task(name)
    if task.kind != "classification" or not task.input_columns:
        raise ValueError(f"task {task.name!r} is not a classification task; choose one of "
                         f"{', '.join(task_names('classification'))}")
    return task


def encode_example(tokenizer, task: Task | str, row: dict, max_length: int) -> list[int]:
    """``<s>first<s>second</s>`` (or ``<s>text</s>``), truncated from the end of each part."""
    task = classification_task(task)
    parts = [tokenizer(_text(row, f, task), add_special_tokens=False)["input_ids"] for f in task.input_columns]
    budget = max_length - len(parts) - 1  # one <s> per part and the final </s>
    if budget < len(parts):
        raise ValueError(f"finetune.max_length={max_length} is too small for task {task.name}")
    while sum(map(len, parts)) > budget:  # trim the longest part first
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        parts[longest] = parts[longest][:-1]
    ids: list[int] = []
    for p in parts:
        ids += [tokenizer.bos_token_id, *p]
    return ids + [tokenizer.eos_token_id]


def _text(row: dict, column: str, task: Task) -> str:
    value = row.get(column)
    if value is None or not str(value).strip():  # the loaders drop such rows; a hand-made row may still have one
        raise ValueError(f"{task.name}: column {column!r} is empty in {row!r}; a classifier input needs text")
    return str(value)


def _batches(encoded: list[tuple[list[int], int]], batch_size: int, pad_id: int, shuffle: bool, rng: random.Random):
    order = list(range(len(encoded)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = [encoded[i] for i in order[start:start + batch_size]]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (seq, _) in enumerate(chunk):  # right padding: the classifier reads the last real token
            ids[r, :len(seq)] = torch.tensor(seq)
            mask[r, :len(seq)] = 1
        yield ids, mask, torch.tensor([lab for _, lab in chunk])


@torch.no_grad()
def predict(model, encoded, batch_size: int, pad_id: int) -> list[int]:
    model.eval()
    device = next(model.parameters()).device
    preds: list[int] = []
    for ids, mask, _ in _batches(encoded, batch_size, pad_id, False, random.Random(0)):
        preds += model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.argmax(-1).tolist()
    return preds


def _scores(gold, pred, num_labels: int) -> dict:
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, list(range(num_labels)))}


def finetune_classifier(hf_model_dir: str | os.PathLike, task: str, dataset, cfg: FinetuneConfig,
                        out_dir: str | os.PathLike | None = None, *, show_progress: bool = True,
                        manifest: dict | None = None) -> dict:
    """Fine-tune the exported model in ``hf_model_dir`` on ``task`` and return the scores.

    ``dataset`` is a DatasetDict with train / validation / test splits in the Hub columns.
    Saves the selected classifier (weights, config with label names, tokenizer, metrics.json,
    and ``manifest`` as manifest.json when given) to ``out_dir`` atomically when given.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spec = classification_task(task)
    task = spec.name
    missing = [s for s in ("train", "validation", "test") if s not in dataset]
    if missing:
        raise ValueError(f"the {task} dataset lacks split(s) {missing}; it needs train, validation and test")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(hf_model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(  # safetensors: never a pickle
        str(hf_model_dir), use_safetensors=True, num_labels=spec.num_labels, id2label=dict(enumerate(spec.label_names)),
        label2id={n: i for i, n in enumerate(spec.label_names)}, pad_token_id=tokenizer.pad_token_id)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    def encode(split: str, cap: int | None = None):
        # A seeded subset stratified by label, never the first rows: a file sorted by label
        # would otherwise train a one-class classifier.
        rows = stratified_subset(dataset[split], cap, spec, cfg.seed)
        if split == "train":
            warn_if_one_class(rows, spec, f"the {task} training set")
        return [(encode_example(tokenizer, spec, r, cfg.max_length), spec.label(r)) for r in rows]

    train, val, test = encode("train", cfg.max_train_examples), encode("validation"), encode("test")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    steps = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
    warmup = int(cfg.warmup_ratio * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    history, best, best_state = [], -1.0, None
    bar = tqdm(total=steps, desc=f"fine-tuning {task}", unit="step", disable=not show_progress)
    for epoch in range(cfg.epochs):
        model.train()
        losses = []
        for ids, mask, labels in _batches(train, cfg.batch_size, tokenizer.pad_token_id, True, rng):
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            out.loss.backward()
            optimizer.step()
            sched.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
            bar.update()
        val_scores = _scores([lab for _, lab in val], predict(model, val, cfg.batch_size, tokenizer.pad_token_id),
                             spec.num_labels)
        history.append({"epoch": epoch + 1, "train_loss": sum(losses) / len(losses),
                        **{f"val_{k}": v for k, v in val_scores.items()}})
        if val_scores["macro_f1"] > best:  # selection on VALIDATION, never on test
            best, best_state = val_scores["macro_f1"], copy.deepcopy(model.state_dict())
            best_epoch = epoch + 1
    bar.close()
    model.load_state_dict(best_state)
    gold = [lab for _, lab in test]
    test_scores = _scores(gold, predict(model, test, cfg.batch_size, tokenizer.pad_token_id), spec.num_labels)
    result = {"task": task, "best_epoch": best_epoch, "history": history,
              "test_accuracy": test_scores["accuracy"], "test_macro_f1": test_scores["macro_f1"],
              "baseline": majority_baseline(gold, list(range(spec.num_labels))), "train_examples": len(train),
              "train_label_counts": {spec.label_names[k]: v for k, v in sorted(Counter(lab for _, lab in train).items())},
              "validation_examples": len(val), "test_examples": len(test)}
    if out_dir is not None:
        with atomic_dir(out_dir) as tmp:
            model.save_pretrained(tmp)
            pin_portable_config(tmp)   # transformers 5 drops rope_theta where 4.x looks for it
            tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / "metrics.json", result)
            (tmp / "README.md").write_text(classifier_card(spec, {k: v for k, v in result.items()
                                                                 if k.startswith("test_")}), encoding="utf-8")
            pin_tokenizer_class(tmp)
            if manifest is not None:  # inside the folder before it is swapped in: both or neither
                atomic_write_json(tmp / MANIFEST, manifest)
        result["path"] = str(out_dir)
    return result
