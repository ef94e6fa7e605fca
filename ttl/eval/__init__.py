"""Evaluation: perplexity and few-shot Portuguese tasks, always beside a baseline."""

from .fewshot import TASKS, build_prompt, evaluate_task, parse_score, parse_yes_no
from .metrics import accuracy, macro_f1, majority_baseline, pearson
from .perplexity import perplexity_from_loss, text_perplexity

__all__ = ["TASKS", "accuracy", "build_prompt", "evaluate_task", "macro_f1", "majority_baseline",
           "parse_score", "parse_yes_no", "pearson", "perplexity_from_loss", "text_perplexity"]
