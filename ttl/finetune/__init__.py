"""Fine-tuning: sequence classification on any classification task of ttl.tasks."""

from .classify import classification_task, encode_example, finetune_classifier, predict

__all__ = ["classification_task", "encode_example", "finetune_classifier", "predict"]
