"""The GGUF export without llama.cpp: the file read back with llama.cpp's own ``gguf`` reader holds
the same weights (in llama.cpp's RoPE layout), the same tokenizer (scores, types, specials) and
the model's hyper-parameters; the tokenizer check refuses what llama.cpp would read differently.
Parity with llama.cpp itself is in test_gguf_llama_cpp.py (`make test-gguf`)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

from helpers import copy_run  # noqa: E402
from ttl.export.gguf import (GGUFError, equal_scores_vocab, gguf_vocab, rope_rows_for_gguf,  # noqa: E402
                             sentencepiece_tokenize, tokenizer_problems, write_gguf)

# Texts a tokenizer gets wrong first: spaces at the edges and in runs, digits, newlines, accents
# (composed and decomposed), emoji with modifiers, other scripts, characters never seen in training.
HARD_STRINGS = [
    "a", "Olá, mundo!", " começa com espaço", "termina com espaços   ", "dois  espaços  no  meio",
    "Em 2023, 40 mil visitantes pagaram R$ 12,50.", "linha 1\nlinha 2\n\n\nfim\n", "\n\ncomeça com linhas",
    "tab\tseparado e\r\nfim de linha do Windows", "acento decomposto: a\u0303o e\u0301", "açaí, pão, maçã",
    "emoji 😀🎉 e bandeira 🇧🇷, aceno 👋🏽", "日本語, 中文, 한국어", "العربية", "Ελληνικά και русский",
    "um ▁ literal", "e-mail: fulano@exemplo.com.br; url https://exemplo.com/a?b=1",
]


def tokenizer_json(folder) -> dict:
    return json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))


def field(reader, key):
    part = reader.fields[key]
    if part.types[0] == gguf.GGUFValueType.ARRAY:
        if part.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(part.parts[i]).decode("utf-8") for i in part.data]
        return [part.parts[i].tolist()[0] for i in part.data]
    value = part.parts[part.data[0]]
    return bytes(value).decode("utf-8") if part.types[0] == gguf.GGUFValueType.STRING else value.tolist()[0]


@pytest.fixture(scope="module")
def export(small_run, tmp_path_factory):
    _, run = small_run
    out = tmp_path_factory.mktemp("gguf")
    files = {dtype: write_gguf(run.hf_model_dir, out / f"m-{dtype}.gguf", dtype=dtype) for dtype in ("f32", "f16", "q8_0")}
    return run.hf_model_dir, files


def tensors(path) -> dict[str, np.ndarray]:
    reader = gguf.GGUFReader(path)
    return {t.name: gguf.quants.dequantize(t.data, t.tensor_type).reshape([int(n) for n in reversed(t.shape)])
            for t in reader.tensors}


def test_the_metadata_is_the_models(export):
    folder, files = export
    config = json.loads((folder / "config.json").read_text())
    reader = gguf.GGUFReader(files["f16"])
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.context_length") == config["max_position_embeddings"]
    assert field(reader, "llama.embedding_length") == config["hidden_size"]
    assert field(reader, "llama.block_count") == config["num_hidden_layers"]
    assert field(reader, "llama.feed_forward_length") == config["intermediate_size"]
    assert field(reader, "llama.attention.head_count") == config["num_attention_heads"]
    assert field(reader, "llama.attention.head_count_kv") == config["num_key_value_heads"]
    assert field(reader, "llama.rope.dimension_count") == config["head_dim"]
    assert field(reader, "llama.rope.freq_base") == pytest.approx(config["rope_parameters"]["rope_theta"])
    assert field(reader, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(config["rms_norm_eps"])
    assert field(reader, "tokenizer.ggml.model") == "llama"
    assert field(reader, "tokenizer.ggml.add_bos_token") is True
    assert field(reader, "tokenizer.ggml.add_space_prefix") is True
    ids = (field(reader, "tokenizer.ggml.bos_token_id"), field(reader, "tokenizer.ggml.eos_token_id"),
           field(reader, "tokenizer.ggml.unknown_token_id"), field(reader, "tokenizer.ggml.padding_token_id"))
    assert ids == (1, 2, 0, 3)
    assert field(reader, "general.sampling.penalty_repeat") == pytest.approx(1.2)   # the card's settings


def test_the_vocabulary_travels_with_scores_and_types(export):
    from transformers import AutoTokenizer

    folder, files = export
    reader = gguf.GGUFReader(files["f16"])
    tokens, scores, types = (field(reader, f"tokenizer.ggml.{k}") for k in ("tokens", "scores", "token_type"))
    vocab = AutoTokenizer.from_pretrained(folder).get_vocab()
    assert tokens == sorted(vocab, key=vocab.get)
    assert scores == [-float(i) for i in range(len(tokens))]          # earlier merges win
    T = gguf.TokenType
    assert types[:4] == [T.UNKNOWN, T.CONTROL, T.CONTROL, T.CONTROL]
    assert set(types[4:260]) == {T.BYTE} and tokens[4 + 0x41] == "<0x41>"
    assert set(types[260:]) == {T.NORMAL}


def test_the_weights_are_the_models_in_llama_cpp_rope_layout(export):
    from safetensors.torch import load_file

    folder, files = export
    config = json.loads((folder / "config.json").read_text())
    hf = {k: v.float().numpy() for k, v in load_file(folder / "model.safetensors").items()}
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    for dtype, atol in (("f32", 0.0), ("f16", 1e-3), ("q8_0", 2e-2)):
        got = tensors(files[dtype])
        assert len(got) == 2 + (0 if config["tie_word_embeddings"] else 1) + 9 * config["num_hidden_layers"]
        np.testing.assert_allclose(got["token_embd.weight"], hf["model.embed_tokens.weight"], atol=atol, rtol=0)
        np.testing.assert_allclose(got["blk.1.ffn_down.weight"], hf["model.layers.1.mlp.down_proj.weight"],
                                   atol=atol, rtol=0)
        np.testing.assert_array_equal(got["blk.0.attn_norm.weight"], hf["model.layers.0.input_layernorm.weight"])
        q = rope_rows_for_gguf(hf["model.layers.1.self_attn.q_proj.weight"], heads)
        k = rope_rows_for_gguf(hf["model.layers.1.self_attn.k_proj.weight"], kv)
        np.testing.assert_allclose(got["blk.1.attn_q.weight"], q, atol=atol, rtol=0)
        np.testing.assert_allclose(got["blk.1.attn_k.weight"], k, atol=atol, rtol=0)
    reader = gguf.GGUFReader(files["q8_0"])
    kinds = {t.name: t.tensor_type for t in reader.tensors}
    assert kinds["blk.0.ffn_up.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert kinds["blk.0.ffn_norm.weight"] == gguf.GGMLQuantizationType.F32      # norms stay f32


def _rope_half(x, positions, theta=10000.0):
    """transformers' RoPE: dimension i turns with i + d/2."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d // 2) * 2 / d)
    angle = positions[:, None] * freqs[None]
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
    rotated = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * cos + rotated * sin


def _rope_neighbours(x, positions, theta=10000.0):
    """llama.cpp's RoPE for Llama: dimension 2i turns with 2i + 1, at the same frequency."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d // 2) * 2 / d)
    angle = positions[:, None] * freqs[None]
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = even * angle.cos() - odd * angle.sin()
    out[..., 1::2] = even * angle.sin() + odd * angle.cos()
    return out


def test_reordered_rows_give_the_same_attention_scores_under_llama_cpp_rope():
    torch.manual_seed(0)
    heads, head_dim, width, n = 3, 8, 16, 5
    wq, wk = torch.randn(heads * head_dim, width), torch.randn(heads * head_dim, width)
    x, pos = torch.randn(n, width), torch.arange(n, dtype=torch.float32)

    def scores(wq, wk, rope):
        q = rope((x @ wq.T).view(n, heads, head_dim).transpose(0, 1), pos)
        k = rope((x @ wk.T).view(n, heads, head_dim).transpose(0, 1), pos)
        return q @ k.transpose(-1, -2)

    theirs = scores(torch.from_numpy(rope_rows_for_gguf(wq.numpy(), heads)),
                    torch.from_numpy(rope_rows_for_gguf(wk.numpy(), heads)), _rope_neighbours)
    torch.testing.assert_close(theirs, scores(wq, wk, _rope_half), rtol=1e-4, atol=1e-4)
    # Without the reordering the same weights give other scores: the test can fail.
    assert not torch.allclose(scores(wq, wk, _rope_neighbours), scores(wq, wk, _rope_half), atol=1e-2)


def test_llama_cpp_reading_of_the_vocabulary_tokenizes_like_transformers(small_run):
    """llama.cpp's SentencePiece algorithm (in Python) with score = -id gives transformers' tokens;
    with llama.cpp's converter's all-equal scores (-1000) most texts come out differently."""
    from transformers import AutoTokenizer

    from ttl.data.loaders import load_assin2

    _, run = small_run
    tok = AutoTokenizer.from_pretrained(run.hf_model_dir)
    tj = tokenizer_json(run.hf_model_dir)
    assert tokenizer_problems(tj) == []
    tokens, scores, _ = gguf_vocab(tj)
    flat_tokens, flat_scores, _ = equal_scores_vocab(tj)
    rows = list(load_assin2()["test"])[:40]
    texts = HARD_STRINGS + [r["premise"] for r in rows] + [r["hypothesis"] for r in rows]
    differ = 0
    for text in texts:
        expected = tok(text, add_special_tokens=False)["input_ids"]
        assert sentencepiece_tokenize(text, tokens, scores) == expected, text
        differ += sentencepiece_tokenize(text, flat_tokens, flat_scores) != expected
    assert differ > len(texts) // 2


def test_a_tokenizer_with_only_the_learned_merges_is_refused(small_run, tmp_path):
    from ttl.data.loaders import corpus_texts, load_corpus
    from ttl.tokenizer import train_tokenizer

    _, run = small_run
    texts = list(corpus_texts(load_corpus(), max_documents=120))
    learned = train_tokenizer(texts, 512, show_progress=False, sentencepiece_merges=False)
    problems = tokenizer_problems(json.loads(learned.backend_tokenizer.to_str()))
    assert any("not merges" in p and "retrain" in p for p in problems)
    folder = copy_run(run, tmp_path).hf_model_dir
    learned.backend_tokenizer.save(str(folder / "tokenizer.json"))
    with pytest.raises(GGUFError, match="llama.cpp would not tokenize like this tokenizer"):
        write_gguf(folder, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists() and not list(tmp_path.glob(".x.gguf*"))


def test_wrong_inputs_get_clear_errors(small_run, tmp_path):
    from ttl.export.gguf import export_gguf

    _, run = small_run
    with pytest.raises(GGUFError, match="unknown GGUF type 'q3_z'"):
        export_gguf(run.hf_model_dir, tmp_path / "m.gguf", quant="q3_z")
    with pytest.raises(GGUFError, match="no \\*.safetensors"):
        folder = tmp_path / "empty"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
        write_gguf(folder, tmp_path / "m.gguf")
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(GGUFError, match="Llama causal LMs"):
        write_gguf(tmp_path / "clf", tmp_path / "m.gguf")


def test_ttl_export_gguf_writes_a_fresh_file_with_its_manifest(small_run, tmp_path, monkeypatch, capsys):
    from ttl.cli import main
    from ttl.manifest import read_manifest

    profile, run = small_run
    run = copy_run(run, tmp_path)
    args = ["export", "--out", str(run.root), "--format", "gguf", "--quant", "q8_0"]
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    assert main(args) == 0
    target = run.gguf_dir("q8_0") / f"ttl-{profile.name}-q8_0.gguf"
    assert target.is_file()
    manifest = read_manifest(target.parent)
    assert manifest["stage"] == "gguf" and manifest["inputs"]["hf_model"] == read_manifest(run.hf_model_dir)["digest"]
    before = target.stat().st_mtime_ns
    assert main(args) == 0 and target.stat().st_mtime_ns == before           # fresh: reused
    # A k-quant without llama.cpp's quantizer: a clear error naming the extra, nothing written.
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    assert main(args[:-1] + ["q4_k_m"]) == 2
    assert "pip install 'ttl[gguf]'" in capsys.readouterr().err
    assert not run.gguf_dir("q4_k_m").exists() or not list(run.gguf_dir("q4_k_m").glob("*.gguf"))
    assert main(["export", "--out", str(run.root), "--quant", "q8_0"]) == 2   # --quant is for gguf
