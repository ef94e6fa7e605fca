"""Pretraining: the loop, the schedule, checkpoints."""

from .checkpoint import latest_checkpoint, save_checkpoint
from .loop import TrainResult, evaluate_loss, load_trained_model, make_adamw, pretrain
from .schedule import lr_at

__all__ = ["TrainResult", "evaluate_loss", "latest_checkpoint", "load_trained_model",
           "lr_at", "make_adamw", "pretrain", "save_checkpoint"]
