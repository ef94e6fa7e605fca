"""GGUF: the exported model as one file that llama.cpp (and everything built on it) runs.

A GGUF file is a header of typed key/value metadata followed by the tensors, each with its own
storage type (f32, f16, or a block-quantized type such as q8_0). What must travel for the file
to be *the same model*:

* **the weights, in llama.cpp's layout.** transformers applies RoPE with ``rotate_half``
  (dimension ``i`` of a head turns with dimension ``i + d/2``); llama.cpp's Llama graph turns
  neighbours (``2i`` with ``2i + 1``). The rows of the query and key projections are reordered
  head by head (:func:`rope_rows_for_gguf`) so that the same pairs turn together;
* **the tokenizer, exactly.** llama.cpp reads a Llama tokenizer the SentencePiece way: a
  vocabulary, a *score* per token and a *type* per token (normal, control, byte, ...), then joins
  neighbouring pieces best score first. ttl's tokenizer lists every merge of every token at the
  token's rank (:func:`ttl.tokenizer.train.complete_merges`), so score = -id reproduces it
  (:func:`tokenizer_problems` checks that this holds before anything is written). llama.cpp's own
  converter gives every token of such a tokenizer the score -1000: all ties, so pieces are joined
  left to right and most words come out differently (chapter 11 shows it);
* **the hyper-parameters** (context, widths, heads, RMSNorm epsilon, RoPE base) and the special
  token ids, the chat template and the sampling defaults of the model card.

Written with the ``gguf`` package (llama.cpp's own reader/writer); f32, f16, bf16 and q8_0 are
written here, and the k-quants (q4_k_m, ...) come from llama.cpp's quantizer through
``llama-cpp-python`` (``pip install "ttl[gguf]"``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ttl.io import atomic_path
from ttl.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS, UNK

SPACE_MARK = "\u2581"
BYTE_TOKEN = re.compile(r"^<0x[0-9A-F]{2}>$")

# Written by ttl itself (numpy), and by llama.cpp's quantizer (needs llama-cpp-python).
OWN_TYPES = ("f32", "f16", "bf16", "q8_0")
LLAMA_CPP_TYPES = ("q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_0", "q4_k_m", "q4_k_s", "q4_0", "q3_k_m", "q2_k")
QUANT_TYPES = tuple(dict.fromkeys(OWN_TYPES + LLAMA_CPP_TYPES))


class GGUFError(ValueError):
    """The model or tokenizer cannot be written as a GGUF file that is the same model."""


# --------------------------------------------------------------------------- tokenizer

def _merge_pairs(model: dict) -> list[tuple[str, str]]:
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model.get("merges", [])]


def _fixed_tokens(tokenizer_json: dict) -> set[str]:
    """Tokens matched whole (specials, added tokens) or spelled out (bytes): never merged into."""
    vocab = tokenizer_json["model"]["vocab"]
    added = {t["content"] for t in tokenizer_json.get("added_tokens", [])}
    return added | set(SPECIAL_TOKENS) | {t for t in vocab if BYTE_TOKEN.match(t)}


def tokenizer_problems(tokenizer_json: dict) -> list[str]:
    """Why llama.cpp's SentencePiece reading (score = -id) would tokenize differently; [] if never.

    The two agree when (1) the model is BPE with byte fallback and the text is marked the
    SentencePiece way (a "▁" prepended, spaces as "▁"); (2) every pair of tokens that joins into
    a token is a merge, ranked by the id of the token it makes; (3) no token crosses a boundary
    the pre-tokenizer would have cut (a "▁" inside a token, a digit next to anything else when
    digits are split, a newline next to anything but newlines), since llama.cpp does not cut.
    """
    model = tokenizer_json.get("model", {})
    if model.get("type") != "BPE":
        return [f"the tokenizer model is {model.get('type')!r}, not BPE"]
    problems = []
    if not model.get("byte_fallback"):
        problems.append("no byte fallback: llama.cpp would spell unknown characters with bytes, "
                        "transformers with <unk>")
    normalizer = json.dumps(tokenizer_json.get("normalizer"), ensure_ascii=False)
    if f'"{SPACE_MARK}"' not in normalizer:
        problems.append("the normalizer does not mark spaces with '▁' (not a SentencePiece-style tokenizer)")
    vocab = model["vocab"]
    fixed = _fixed_tokens(tokenizer_json)
    pre = json.dumps(tokenizer_json.get("pre_tokenizer"))
    digits_split = '"Digits"' in pre
    crossing = [t for t in vocab if t not in fixed and (
        SPACE_MARK in t[1:]
        or (digits_split and len(t) > 1 and any(c.isdigit() for c in t))
        or ("\n" in t and set(t) != {"\n"}))]
    if crossing:
        problems.append(f"{len(crossing)} tokens cross a pre-tokenizer boundary (e.g. {crossing[:3]})")
    merges = _merge_pairs(model)
    ranks = [vocab.get(a + b, -1) for a, b in merges]
    if any(r < 0 for r in ranks):
        problems.append("a merge makes a token that is not in the vocabulary")
    elif any(later < earlier for earlier, later in zip(ranks, ranks[1:])):
        problems.append("the merges are not ranked by the id of the token they make")
    known = set(merges)
    missing = sum(1 for t in vocab if t not in fixed for cut in range(1, len(t))
                  if t[:cut] in vocab and t[cut:] in vocab and (t[:cut], t[cut:]) not in known)
    if missing:
        problems.append(f"{missing} pairs join into a token but are not merges (the trainer's merges only); "
                        "llama.cpp would join them: retrain the tokenizer with this ttl "
                        "(train_tokenizer completes the merges)")
    return problems


def gguf_vocab(tokenizer_json: dict) -> tuple[list[str], list[float], list[int]]:
    """Tokens in id order, their scores (-id: earlier merges win) and their llama.cpp types."""
    from gguf import TokenType

    vocab = dict(tokenizer_json["model"]["vocab"])
    for added in tokenizer_json.get("added_tokens", []):
        vocab.setdefault(added["content"], added["id"])
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        raise GGUFError("token ids are not 0..n-1 without gaps; llama.cpp needs a dense vocabulary")
    tokens = sorted(vocab, key=vocab.get)
    special = {t["content"] for t in tokenizer_json.get("added_tokens", []) if t.get("special")}
    added = {t["content"] for t in tokenizer_json.get("added_tokens", [])}
    types = []
    for token in tokens:
        if token == UNK:
            types.append(TokenType.UNKNOWN)
        elif token in special or token in (BOS, EOS, PAD):
            types.append(TokenType.CONTROL)
        elif token in added:
            types.append(TokenType.USER_DEFINED)
        elif BYTE_TOKEN.match(token):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
    return tokens, [-float(i) for i in range(len(tokens))], [int(t) for t in types]


def sentencepiece_tokenize(text: str, tokens: list[str], scores: list[float]) -> list[int]:
    """What llama.cpp does with a "llama" (SentencePiece) vocabulary, in plain Python (no bos).

    Mark spaces with "▁" (one prepended), start from single characters, and keep joining the
    neighbouring pair whose concatenation is a token with the highest score (the leftmost of
    equals); a piece left that is not a token is spelled with its UTF-8 byte tokens. Slow
    (quadratic per text) but short: it is here to be read, and to show what the scores decide.
    """
    ids = {t: i for i, t in enumerate(tokens)}
    pieces = list(SPACE_MARK + text.replace(" ", SPACE_MARK))
    while len(pieces) > 1:
        best, where = None, -1
        for i in range(len(pieces) - 1):
            joined = ids.get(pieces[i] + pieces[i + 1])
            if joined is not None and (best is None or scores[joined] > scores[best]):
                best, where = joined, i
        if best is None:
            break
        pieces[where:where + 2] = [pieces[where] + pieces[where + 1]]
    out = []
    for piece in pieces:
        if piece in ids:
            out.append(ids[piece])
        else:
            out.extend(ids[f"<0x{b:02X}>"] for b in piece.encode("utf-8"))
    return out


def equal_scores_vocab(tokenizer_json: dict) -> tuple[list[str], list[float], list[int]]:
    """The vocabulary as llama.cpp's converter writes it for a tokenizer.json-only Llama
    tokenizer: every score -1000. Only for showing the pitfall (chapter 11); never exported."""
    tokens, scores, types = gguf_vocab(tokenizer_json)
    return tokens, [-1000.0] * len(scores), types


# --------------------------------------------------------------------------- weights

def rope_rows_for_gguf(weight: np.ndarray, num_heads: int) -> np.ndarray:
    """Reorder the rows of a query/key projection from rotate_half pairs to neighbour pairs.

    Within each head of ``d`` rows, row ``i`` and row ``i + d/2`` rotate together in
    transformers; llama.cpp rotates rows ``2i`` and ``2i + 1``. So the new order of a head is
    ``0, d/2, 1, d/2 + 1, ...``.
    """
    rows, cols = weight.shape
    head_dim = rows // num_heads
    return (weight.reshape(num_heads, 2, head_dim // 2, cols)
            .swapaxes(1, 2)
            .reshape(rows, cols))


def gguf_tensors(state_dict: dict, config: dict) -> dict[str, np.ndarray]:
    """transformers' LlamaForCausalLM tensors under llama.cpp's names, in float32."""
    def get(name):
        return state_dict[name].float().numpy() if hasattr(state_dict[name], "float") else state_dict[name]

    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    out = {"token_embd.weight": get("model.embed_tokens.weight"), "output_norm.weight": get("model.norm.weight")}
    if not config.get("tie_word_embeddings") and "lm_head.weight" in state_dict:
        out["output.weight"] = get("lm_head.weight")   # absent: llama.cpp reuses token_embd
    for i in range(config["num_hidden_layers"]):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        out[gg + "attn_norm.weight"] = get(hf + "input_layernorm.weight")
        out[gg + "attn_q.weight"] = rope_rows_for_gguf(get(hf + "self_attn.q_proj.weight"), heads)
        out[gg + "attn_k.weight"] = rope_rows_for_gguf(get(hf + "self_attn.k_proj.weight"), kv_heads)
        out[gg + "attn_v.weight"] = get(hf + "self_attn.v_proj.weight")
        out[gg + "attn_output.weight"] = get(hf + "self_attn.o_proj.weight")
        out[gg + "ffn_norm.weight"] = get(hf + "post_attention_layernorm.weight")
        out[gg + "ffn_gate.weight"] = get(hf + "mlp.gate_proj.weight")
        out[gg + "ffn_up.weight"] = get(hf + "mlp.up_proj.weight")
        out[gg + "ffn_down.weight"] = get(hf + "mlp.down_proj.weight")
    return out


def _stored(name: str, array: np.ndarray, dtype: str):
    """``(data, raw_dtype)`` of one tensor in ``dtype``; norms stay f32 (as llama.cpp keeps them),
    and a matrix whose rows do not fill whole q8_0 blocks falls back to f16."""
    from gguf import GGMLQuantizationType, quants

    if array.ndim == 1 or dtype == "f32":
        return array.astype(np.float32), None
    if dtype == "f16":
        return array.astype(np.float16), None
    if dtype == "bf16":
        return quants.quantize(array.astype(np.float32), GGMLQuantizationType.BF16), GGMLQuantizationType.BF16
    block = quants.GGML_QUANT_SIZES[GGMLQuantizationType.Q8_0][0]
    if array.shape[-1] % block:
        return array.astype(np.float16), None
    return quants.quantize(array.astype(np.float32), GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0


def _file_type(dtype: str) -> int:
    from gguf import LlamaFileType

    return {"f32": LlamaFileType.ALL_F32, "f16": LlamaFileType.MOSTLY_F16,
            "bf16": LlamaFileType.MOSTLY_BF16, "q8_0": LlamaFileType.MOSTLY_Q8_0}[dtype]


# --------------------------------------------------------------------------- the file

def _read_folder(folder: Path) -> tuple[dict, dict, dict, dict, str | None]:
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "llama":
        raise GGUFError(f"{folder} holds a {config.get('model_type')!r} model; the GGUF export writes Llama "
                        "causal LMs (export a classifier's base model, not the classifier)")
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise GGUFError(f"no *.safetensors in {folder}; export the model first (`ttl export`)")
    state = {}
    for shard in shards:
        state.update(load_file(str(shard)))
    tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tok_config_path = folder / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text(encoding="utf-8")) if tok_config_path.is_file() else {}
    template = tok_config.get("chat_template")
    if template is None and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    gen_path = folder / "generation_config.json"
    generation = json.loads(gen_path.read_text(encoding="utf-8")) if gen_path.is_file() else {}
    return config, state, tokenizer_json, generation, template


def _rope_theta(config: dict) -> float:
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if params.get("rope_type", "default") != "default":
        raise GGUFError(f"RoPE scaling {params.get('rope_type')!r} is not written by this exporter")
    return float(params.get("rope_theta", config.get("rope_theta", 10000.0)))


def write_gguf(hf_folder: str | os.PathLike, out_file: str | os.PathLike, *, dtype: str = "f16",
               name: str | None = None, vocab=gguf_vocab, strict: bool = True) -> Path:
    """Write the Hugging Face Llama folder ``hf_folder`` as one GGUF file (atomically).

    ``dtype``: f32, f16, bf16 or q8_0 (norms stay f32). ``vocab``: the function that gives
    tokens, scores and types (:func:`gguf_vocab`; chapter 11 passes :func:`equal_scores_vocab`
    to show the pitfall). ``strict``: refuse a tokenizer that llama.cpp would read differently.
    """
    import gguf

    if dtype not in OWN_TYPES:
        raise GGUFError(f"ttl writes {', '.join(OWN_TYPES)} itself; for {dtype!r} use quantize_gguf "
                        "(llama.cpp's quantizer, pip install 'ttl[gguf]')")
    folder = Path(hf_folder)
    config, state, tokenizer_json, generation, template = _read_folder(folder)
    problems = tokenizer_problems(tokenizer_json)
    if problems and strict:
        raise GGUFError("llama.cpp would not tokenize like this tokenizer: " + "; ".join(problems))
    tokens, scores, types = vocab(tokenizer_json)
    if len(tokens) != config["vocab_size"]:
        raise GGUFError(f"the tokenizer has {len(tokens)} tokens, the model {config['vocab_size']} rows; "
                        "llama.cpp needs them equal")

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    writer = gguf.GGUFWriter(path=None, arch="llama")
    writer.add_name(name or folder.resolve().name)
    writer.add_file_type(_file_type(dtype))
    if dtype == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])

    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    ids = {t: i for i, t in enumerate(tokens)}
    writer.add_bos_token_id(config.get("bos_token_id", ids[BOS]))
    writer.add_eos_token_id(config.get("eos_token_id", ids[EOS]))
    writer.add_unk_token_id(ids[UNK])
    if config.get("pad_token_id") is not None:
        writer.add_pad_token_id(config["pad_token_id"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(True)
    if template:
        # transformers' {% generation %} blocks only mark the answer tokens (for training masks);
        # llama.cpp's and llama-cpp-python's Jinja do not know the tag, and the text is the same without.
        writer.add_chat_template(re.sub(r"{%-?\s*(end)?generation\s*-?%}", "", template))
    # The card's sampling defaults, as llama.cpp reads them (general.sampling.*).
    for key, add in (("temperature", writer.add_sampling_temp), ("top_k", writer.add_sampling_top_k),
                     ("top_p", writer.add_sampling_top_p), ("repetition_penalty", writer.add_sampling_penalty_repeat)):
        if generation.get(key) is not None:
            add(generation[key])

    for tensor_name, array in gguf_tensors(state, config).items():
        data, raw_dtype = _stored(tensor_name, array, dtype)
        writer.add_tensor(tensor_name, data, raw_dtype=raw_dtype)

    with atomic_path(out_file) as tmp:
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return Path(out_file)


def quantize_gguf(src: str | os.PathLike, out_file: str | os.PathLike, quant: str, *, threads: int | None = None) -> Path:
    """Quantize a GGUF file with llama.cpp's own quantizer (through ``llama-cpp-python``).

    llama.cpp decides per tensor: norms stay f32, and a matrix whose rows do not fill whole
    blocks (256 values for the k-quants) gets a fallback type, so a tiny model is only partly
    quantized. Written atomically; ``src`` is read, never changed.
    """
    quant = quant.lower()
    if quant not in LLAMA_CPP_TYPES:
        raise GGUFError(f"unknown quantization {quant!r}; choose one of {', '.join(LLAMA_CPP_TYPES)}")
    try:
        import llama_cpp
    except ImportError as exc:
        raise GGUFError(f"quantizing to {quant} needs llama.cpp's quantizer: pip install 'ttl[gguf]' "
                        "(llama-cpp-python builds from source, about 10-15 minutes on 2 cores)") from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant.upper()}")
    params.nthread = threads or os.cpu_count() or 1
    with atomic_path(out_file) as tmp:
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
        if status != 0:
            raise GGUFError(f"llama.cpp could not quantize {src} to {quant} (status {status})")
    return Path(out_file)


def export_gguf(hf_folder: str | os.PathLike, out_file: str | os.PathLike, *, quant: str = "f16",
                name: str | None = None) -> Path:
    """``hf_folder`` as a GGUF file of type ``quant``: f32/f16/bf16/q8_0 written here, the other
    types quantized by llama.cpp from an f16 file written first (and then removed)."""
    quant = quant.lower()
    if quant not in QUANT_TYPES:
        raise GGUFError(f"unknown GGUF type {quant!r}; choose one of {', '.join(QUANT_TYPES)}")
    if quant in OWN_TYPES:
        return write_gguf(hf_folder, out_file, dtype=quant, name=name)
    out = Path(out_file)
    f16 = out.with_name(f".{out.stem}.f16-source.gguf")
    try:
        write_gguf(hf_folder, f16, dtype="f16", name=name)
        return quantize_gguf(f16, out, quant)
    finally:
        if f16.exists():
            f16.unlink()
