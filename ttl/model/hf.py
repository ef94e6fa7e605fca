"""Conversion between ``ttl.model.Llama`` and ``transformers.LlamaForCausalLM``.

The two models compute the same function; only the parameter names differ, and ours keeps
q/k/v (and gate/up) stacked in one matrix:

    ours                                   transformers
    embed.weight                           model.embed_tokens.weight
    blocks.i.attn_norm.weight              model.layers.i.input_layernorm.weight
    blocks.i.attn.qkv.weight  (rows q|k|v) model.layers.i.self_attn.{q,k,v}_proj.weight
    blocks.i.attn.o_proj.weight            model.layers.i.self_attn.o_proj.weight
    blocks.i.mlp_norm.weight               model.layers.i.post_attention_layernorm.weight
    blocks.i.mlp.gate_up.weight (gate|up)  model.layers.i.mlp.{gate,up}_proj.weight
    blocks.i.mlp.down.weight               model.layers.i.mlp.down_proj.weight
    norm.weight                            model.norm.weight
    lm_head.weight                         lm_head.weight (the embedding when tied)

Both use the same RoPE layout (rotate_half), so no permutation of q/k rows is needed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from ttl.config import ConfigError, ModelConfig
from ttl.io import atomic_dir
from ttl.model.llama import Llama

# transformers has no "triton" (ttl's own kernel): an export runs it as sdpa, the same maths.
_ATTN_TO_HF = {"sdpa": "sdpa", "eager": "eager", "flash_attn": "flash_attention_2", "triton": "sdpa"}
_ATTN_FROM_HF = {"sdpa": "sdpa", "eager": "eager", "flash_attention_2": "flash_attn"}


def config_to_hf(config: ModelConfig):
    """The ``transformers.LlamaConfig`` of a ModelConfig."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_seq_len,
        rope_parameters={"rope_type": "default", "rope_theta": float(config.rope_theta)},
        rms_norm_eps=config.rms_norm_eps,
        tie_word_embeddings=config.tie_embeddings,
        initializer_range=config.initializer_range,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        attn_implementation=_ATTN_TO_HF[config.attn_impl],
    )


def _rope_theta(hf_config) -> float:
    params = getattr(hf_config, "rope_parameters", None) or {}
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type != "default":
        raise ConfigError(f"RoPE scaling {rope_type!r} is not supported by ttl's Llama (plain RoPE only); "
                          "convert a model without rope scaling")
    theta = params.get("rope_theta", getattr(hf_config, "rope_theta", None))
    return float(theta if theta is not None else 10000.0)


def config_from_hf(hf_config, **overrides) -> ModelConfig:
    """A ModelConfig from a ``transformers.LlamaConfig``; refuses features ours does not have."""
    if getattr(hf_config, "model_type", "llama") != "llama":
        raise ConfigError(f"expected a Llama config, got model_type {hf_config.model_type!r}")
    problems = []
    if getattr(hf_config, "hidden_act", "silu") != "silu":
        problems.append(f"hidden_act={hf_config.hidden_act!r} (ours is SwiGLU with silu)")
    if getattr(hf_config, "attention_bias", False):
        problems.append("attention_bias=True (ours has no biases)")
    if getattr(hf_config, "mlp_bias", False):
        problems.append("mlp_bias=True (ours has no biases)")
    heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // heads
    if head_dim * heads != hf_config.hidden_size:
        problems.append(f"head_dim={head_dim} with {heads} heads != hidden_size={hf_config.hidden_size}")
    if problems:
        raise ConfigError("cannot convert this LlamaConfig: " + "; ".join(problems))
    eos = hf_config.eos_token_id
    values = dict(
        vocab_size=hf_config.vocab_size,
        hidden_size=hf_config.hidden_size,
        intermediate_size=hf_config.intermediate_size,
        num_layers=hf_config.num_hidden_layers,
        num_heads=heads,
        num_kv_heads=hf_config.num_key_value_heads or heads,
        max_seq_len=hf_config.max_position_embeddings,
        rope_theta=_rope_theta(hf_config),
        rms_norm_eps=hf_config.rms_norm_eps,
        tie_embeddings=bool(getattr(hf_config, "tie_word_embeddings", False)),
        initializer_range=getattr(hf_config, "initializer_range", 0.02),
        attn_impl=_ATTN_FROM_HF.get(getattr(hf_config, "_attn_implementation", None) or "sdpa", "sdpa"),
        bos_token_id=hf_config.bos_token_id,
        eos_token_id=eos[0] if isinstance(eos, (list, tuple)) else eos,
        pad_token_id=hf_config.pad_token_id,
    )
    values.update(overrides)
    return ModelConfig(**values)


def to_hf_state_dict(model: Llama) -> dict[str, torch.Tensor]:
    """Our weights under ``LlamaForCausalLM`` names (q/k/v and gate/up split; views, no copies)."""
    c = model.config
    sd = {"model.embed_tokens.weight": model.embed.weight,
          "model.norm.weight": model.norm.weight,
          "lm_head.weight": model.lm_head.weight}
    for i, block in enumerate(model.blocks):
        p = f"model.layers.{i}."
        q, k, v = block.attn.qkv.weight.split([block.attn.q_size, block.attn.kv_size, block.attn.kv_size])
        gate, up = block.mlp.gate_up.weight.split(c.intermediate_size)
        sd.update({
            p + "input_layernorm.weight": block.attn_norm.weight,
            p + "self_attn.q_proj.weight": q,
            p + "self_attn.k_proj.weight": k,
            p + "self_attn.v_proj.weight": v,
            p + "self_attn.o_proj.weight": block.attn.o_proj.weight,
            p + "post_attention_layernorm.weight": block.mlp_norm.weight,
            p + "mlp.gate_proj.weight": gate,
            p + "mlp.up_proj.weight": up,
            p + "mlp.down_proj.weight": block.mlp.down.weight,
        })
    return {name: t.detach() for name, t in sd.items()}


def from_hf_state_dict(hf_sd: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """A ``LlamaForCausalLM`` state dict under our names (q/k/v and gate/up stacked)."""
    def get(name):
        if name in hf_sd:
            return hf_sd[name]
        if name == "lm_head.weight" and config.tie_embeddings:
            return hf_sd["model.embed_tokens.weight"]
        raise KeyError(f"weight {name!r} missing from the transformers checkpoint; is it a LlamaForCausalLM "
                       f"with {config.num_layers} layers?")

    sd = {"embed.weight": get("model.embed_tokens.weight"),
          "norm.weight": get("model.norm.weight"),
          "lm_head.weight": get("lm_head.weight")}
    for i in range(config.num_layers):
        p = f"model.layers.{i}."
        sd.update({
            f"blocks.{i}.attn_norm.weight": get(p + "input_layernorm.weight"),
            f"blocks.{i}.attn.qkv.weight": torch.cat([get(p + "self_attn.q_proj.weight"),
                                                      get(p + "self_attn.k_proj.weight"),
                                                      get(p + "self_attn.v_proj.weight")]),
            f"blocks.{i}.attn.o_proj.weight": get(p + "self_attn.o_proj.weight"),
            f"blocks.{i}.mlp_norm.weight": get(p + "post_attention_layernorm.weight"),
            f"blocks.{i}.mlp.gate_up.weight": torch.cat([get(p + "mlp.gate_proj.weight"),
                                                         get(p + "mlp.up_proj.weight")]),
            f"blocks.{i}.mlp.down.weight": get(p + "mlp.down_proj.weight"),
        })
    return sd


def _load_hf(hf_model_or_path):
    if isinstance(hf_model_or_path, (str, os.PathLike)):
        path = Path(hf_model_or_path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json); "
                                    "give the folder written by save_hf / save_pretrained")
        from transformers import AutoModelForCausalLM
        return AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)  # never a pickle
    return hf_model_or_path


def from_hf(hf_model, **overrides) -> Llama:
    """Our Llama with the weights of a ``LlamaForCausalLM`` (a model object or a saved folder)."""
    hf_model = _load_hf(hf_model)
    if not hasattr(hf_model, "config") or not hasattr(hf_model, "state_dict"):
        raise TypeError(f"expected a transformers LlamaForCausalLM, got {type(hf_model).__name__}")
    config = config_from_hf(hf_model.config, **overrides)
    hf_sd = hf_model.state_dict()
    ref = hf_sd["model.embed_tokens.weight"]
    with torch.device("meta"):
        model = Llama(config)
    # assign=True takes the tensors as they are (dtype included); then rebuild RoPE's tables.
    # Copies (clone), so that training our model never changes the transformers one.
    weights = {name: t.detach().clone() for name, t in from_hf_state_dict(hf_sd, config).items()}
    model.load_state_dict(weights, strict=True, assign=True)
    if config.tie_embeddings:
        model.lm_head.weight = model.embed.weight
    model.rope.to_empty(device=ref.device)
    model.rope.reset_tables()
    return model


def to_hf(model: Llama):
    """A ``transformers.LlamaForCausalLM`` holding a copy of our weights (same dtype and device)."""
    from transformers import LlamaForCausalLM

    ref = model.embed.weight
    hf_config = config_to_hf(dataclasses.replace(model.config, attn_impl=(
        "sdpa" if model.config.attn_impl == "flash_attn" and ref.device.type != "cuda" else model.config.attn_impl)))
    hf_config.dtype = ref.dtype
    hf_model = LlamaForCausalLM(hf_config).to(device=ref.device, dtype=ref.dtype)
    sd = to_hf_state_dict(model)
    if model.config.tie_embeddings:
        sd.pop("lm_head.weight")
    missing, unexpected = hf_model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and model.config.tie_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping mismatch: missing {missing}, unexpected {unexpected}")
    return hf_model.train(model.training)


def pin_portable_config(folder: str | os.PathLike) -> None:
    """Write RoPE's base in ``folder``/config.json under its transformers 4.x name as well.

    transformers 5 saves it only inside ``rope_parameters``, a key 4.x does not read: 4.x then
    builds the model with its default base (10000) and, for any other ``rope_theta``, computes
    other logits without a word of warning. 5.x reads ``rope_parameters`` and drops the
    duplicate. Call it on every folder holding a saved Llama config (the export, a classifier).
    """
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    params = config.get("rope_parameters") or {}
    if "rope_theta" in params and params.get("rope_type", "default") == "default":
        config["rope_theta"] = params["rope_theta"]
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_hf(model: Llama, out_dir: str | os.PathLike, tokenizer=None, *, card: str | None = None) -> Path:
    """Write ``model`` (and ``tokenizer``) as a Hugging Face folder that
    ``AutoModelForCausalLM.from_pretrained(out_dir)`` loads: config.json + model.safetensors.

    With a model card (README.md: ``card``, or one made from the config) and the cards'
    sampling settings in generation_config.json. Atomic: everything goes into a temporary folder next to ``out_dir``, which then replaces
    ``out_dir`` whole (:func:`ttl.io.atomic_dir`), so a crash never leaves a half-written model behind.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder; choose another output path")
    from ttl.export.card import SAMPLING_DEFAULTS, model_card
    from ttl.tokenizer.train import pin_tokenizer_class

    hf_model = to_hf(model)
    hf_model.generation_config.update(**SAMPLING_DEFAULTS)   # the model cards' sampling settings
    with atomic_dir(out_dir) as tmp:
        hf_model.save_pretrained(tmp)
        pin_portable_config(tmp)   # RoPE's base where transformers 4.x reads it
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
            pin_tokenizer_class(tmp)   # loads in transformers 4.x too, not only the class of 5.x
        (tmp / "README.md").write_text(card or model_card(model.config, parameters=model.num_parameters()),
                                       encoding="utf-8")
    return out_dir
