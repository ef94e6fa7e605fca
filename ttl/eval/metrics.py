"""Classification and regression metrics, written out so the chapter can show them.

Tested against scikit-learn and SciPy in tests/test_eval.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def accuracy(gold: Sequence, pred: Sequence) -> float:
    if len(gold) != len(pred) or not gold:
        raise ValueError("accuracy needs two non-empty sequences of the same length")
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def macro_f1(gold: Sequence, pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-class F1 over ``labels`` (default: the gold classes).

    A prediction outside ``labels`` (an answer the parser could not map) counts as
    wrong for every class, exactly like sklearn's ``f1_score(labels=..., average="macro")``.
    """
    if len(gold) != len(pred) or not gold:
        raise ValueError("macro_f1 needs two non-empty sequences of the same length")
    labels = sorted(set(gold)) if labels is None else list(labels)
    scores = []
    for c in labels:
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("pearson needs two sequences of the same length, at least 2")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return 0.0 if sx == 0 or sy == 0 else sxy / (sx * sy)


def majority_baseline(gold: Sequence, labels: Sequence | None = None) -> dict[str, float]:
    """Scores of always answering the most common gold class: the floor any model must beat.

    For a balanced binary task this macro-F1 is 1/3 (33.33), the figure that appears in
    published few-shot tables for models that always answer the same thing.
    """
    top = Counter(gold).most_common(1)[0][0]
    pred = [top] * len(gold)
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, labels)}
