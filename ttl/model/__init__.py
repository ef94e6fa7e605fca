"""The Llama model of the course, written from scratch, and its conversion to/from transformers.

    from ttl.model import Llama
    model = Llama(load_profile().model)
    out = model(input_ids, targets)          # out.logits (B, T, V), out.loss (nats)
"""

from ttl.model.llama import (
    MLP,
    Attention,
    Block,
    KVCache,
    Llama,
    LlamaOutput,
    RMSNorm,
    RotaryEmbedding,
    apply_rope_reference,
    causal_mask,
    eager_attention,
    linear_cross_entropy,
    rotate_half,
)
from ttl.model.hf import config_from_hf, config_to_hf, from_hf, save_hf, to_hf

__all__ = [
    "Llama", "LlamaOutput", "KVCache", "RMSNorm", "RotaryEmbedding", "Attention", "MLP", "Block",
    "apply_rope_reference", "rotate_half", "causal_mask", "eager_attention", "linear_cross_entropy",
    "config_to_hf", "config_from_hf", "to_hf", "from_hf", "save_hf",
]
