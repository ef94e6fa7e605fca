"""Evaluation: perplexity and few-shot tasks (prompts from ttl.tasks), always beside a baseline.

``ttl.eval.harness`` runs the same tasks through lm-evaluation-harness (imported on demand).
"""

from .fewshot import all_fewshot_tasks, build_prompt, eval_rows, evaluate_task, fewshot_task
from .metrics import accuracy, macro_f1, majority_baseline, pearson
from .perplexity import perplexity_from_loss, text_perplexity

__all__ = ["accuracy", "all_fewshot_tasks", "build_prompt", "eval_rows", "evaluate_task", "fewshot_task", "macro_f1",
           "majority_baseline", "pearson", "perplexity_from_loss", "text_perplexity"]
