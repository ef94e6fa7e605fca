"""Fine-tuning: sequence classification on Assin2, HateBR and FaQuAD-NLI."""

from .classify import TASKS, encode_example, finetune_classifier, predict

__all__ = ["TASKS", "encode_example", "finetune_classifier", "predict"]
