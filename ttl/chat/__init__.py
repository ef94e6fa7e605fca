"""Chat tuning: the chat template, masked SFT, DPO, their data and their measured effect.

    from ttl.chat import CHAT_TEMPLATE, encode_chat, sft_loss, dpo_loss, ensure_sft, ensure_dpo
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CHAT_TEMPLATE": "template", "render": "template", "encode_chat": "template", "add_chat_template": "template",
    "instruction_to_messages": "template", "check_messages": "template", "ChatFormatError": "template",
    "load_chat_sft": "data", "load_chat_preferences": "data", "corpus_instructions": "data",
    "SFTConfig": "sft", "sft_example": "sft", "collate": "sft", "sft_loss": "sft", "masked_lm_loss": "sft",
    "naive_labels": "sft", "train_sft": "sft",
    "DPOConfig": "dpo", "dpo_loss": "dpo", "sequence_logps": "dpo", "pair_example": "dpo",
    "collate_pairs": "dpo", "train_dpo": "dpo",
    "format_adherence": "evaluate", "preference_accuracy": "evaluate", "chat_reply": "evaluate",
    "chat_config": "config",
    "ensure_sft": "stages", "ensure_dpo": "stages", "measure_effect": "stages", "effect_table": "stages",
    "cmd_sft": "stages", "cmd_dpo": "stages",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ttl.chat' has no attribute {name!r}")
