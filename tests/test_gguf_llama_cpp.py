"""Parity with llama.cpp itself (through llama-cpp-python): the exported GGUF file tokenizes every
sample text like transformers, continues prompts greedily with the same tokens (f16), and gives the
same logits within a stated tolerance; each quantization's agreement is measured.

`make test-gguf` installs llama-cpp-python (an sdist: 10-15 minutes to build on 2 cores) and runs
this file with TTL_REQUIRE_LLAMA_CPP=1, so that a missing llama.cpp fails instead of skipping."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

if os.environ.get("TTL_REQUIRE_LLAMA_CPP") == "1":
    import llama_cpp
else:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: `make test-gguf`")

from test_gguf import HARD_STRINGS  # noqa: E402
from ttl.export.gguf import equal_scores_vocab, export_gguf, write_gguf  # noqa: E402

PROMPTS = ["Era uma vez", "O Brasil é", "A cidade de São Paulo", "No dia seguinte,", "A receita leva"]
# llama.cpp computes in float32 with its own kernels (and an f16 KV cache by default, kept
# here as users get it): the logits of the f32 file agree to this much, relative to their spread.
F32_LOGIT_TOL = 2e-3
F16_LOGIT_TOL = 2e-2   # f16 weights round each weight to 11 significant bits


def sample_texts() -> list[str]:
    from ttl.data.loaders import corpus_texts, load_assin2, load_corpus, load_hatebr

    texts = list(corpus_texts(load_corpus()))
    for split in load_assin2().values():
        texts += [r["premise"] for r in split] + [r["hypothesis"] for r in split]
    for split in load_hatebr().values():
        texts += [r["instagram_comments"] for r in split]
    return texts


@pytest.fixture(scope="module")
def files(small_run, tmp_path_factory):
    _, run = small_run
    out = tmp_path_factory.mktemp("gguf")
    made = {q: export_gguf(run.hf_model_dir, out / f"m-{q}.gguf", quant=q) for q in ("f32", "f16", "q8_0", "q4_k_m")}
    return run.hf_model_dir, made


def load(path, **kw):
    return llama_cpp.Llama(str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=2, seed=0, **kw)


@pytest.fixture(scope="module")
def hf(files):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _ = files
    return AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()


def logits_of(llm, ids) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[:len(ids)], dtype=np.float32)


def greedy(llm, ids, n) -> list[int]:
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return out


def test_llama_cpp_tokenizes_every_sample_text_like_transformers(files, hf):
    folder, made = files
    tok, _ = hf
    llm = load(made["f16"], vocab_only=True)
    texts = sample_texts() + HARD_STRINGS
    wrong = [t for t in texts if llm.tokenize(t.encode("utf-8"), add_bos=True, special=False) != tok(t)["input_ids"]]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts tokenized differently, e.g. {wrong[:2]!r}"
    for text in HARD_STRINGS:   # decoding too: with the bos, llama.cpp drops the prefix space as transformers does
        ids = tok(text)["input_ids"]
        decoded = llm.detokenize(ids).decode("utf-8")
        assert decoded == tok.decode(ids, skip_special_tokens=True)
        assert decoded == text or "\u2581" in text     # a literal "▁" reads as a space in both


def test_special_tokens_in_text_are_parsed_like_transformers(files, hf):
    """With special=True (chat prompts), "<s>"/"</s>" in the text are the control tokens, and the
    text after one gets a fresh word start, as transformers' added-token split gives it."""
    _, made = files
    tok, _ = hf
    llm = load(made["f16"], vocab_only=True)
    for text in ["premissa<s>hipótese</s>", "Oi</s><s>tudo bem?", "a <s> b"]:
        assert llm.tokenize(text.encode(), add_bos=True, special=True) == tok(text)["input_ids"], text


def test_the_equal_scores_pitfall_is_caught(files, hf, tmp_path):
    """llama.cpp's converter writes score -1000 for every token of such a tokenizer: the file
    loads and runs, but tokenizes differently; this is the check that sees it."""
    folder, _ = files
    tok, _ = hf
    bad = write_gguf(folder, tmp_path / "flat.gguf", dtype="f16", vocab=equal_scores_vocab)
    llm = load(bad, vocab_only=True)
    texts = sample_texts()[:200]
    differ = sum(llm.tokenize(t.encode(), add_bos=True, special=False) != tok(t)["input_ids"] for t in texts)
    assert differ > len(texts) // 2


@pytest.mark.parametrize("quant,tol", [("f32", F32_LOGIT_TOL), ("f16", F16_LOGIT_TOL)])
def test_logits_agree_within_the_stated_tolerance(files, hf, quant, tol):
    _, made = files
    tok, model = hf
    llm = load(made[quant])
    for text in sample_texts()[:6]:
        ids = tok(text)["input_ids"][:200]
        with torch.no_grad():
            ref = model(torch.tensor([ids])).logits[0].numpy()
        got = logits_of(llm, ids)
        spread = float(ref.std())
        print(f"{quant}: max |logit difference| {np.abs(got - ref).max():.2e}, logit spread {spread:.2f}")
        assert np.abs(got - ref).max() <= tol * spread, (quant, np.abs(got - ref).max(), spread)


def test_f16_continues_every_prompt_greedily_with_the_same_tokens(files, hf):
    _, made = files
    tok, model = hf
    llm = load(made["f16"])
    for prompt in PROMPTS:
        ids = tok(prompt)["input_ids"]
        with torch.no_grad():
            ref = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, repetition_penalty=1.0,
                                 pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
        got = greedy(llm, ids, len(ref))
        assert got == ref, (prompt, tok.decode(got), tok.decode(ref))


def test_our_q8_0_is_llama_cpps_q8_0(files, tmp_path):
    """ttl writes q8_0 itself (numpy, from the gguf package): byte for byte what llama.cpp's
    quantizer makes from the f32 file."""
    import gguf

    from ttl.export.gguf import quantize_gguf

    _, made = files
    theirs = quantize_gguf(made["f32"], tmp_path / "theirs.gguf", "q8_0")
    ours = {t.name: (t.tensor_type, bytes(t.data)) for t in gguf.GGUFReader(made["q8_0"]).tensors}
    other = {t.name: (t.tensor_type, bytes(t.data)) for t in gguf.GGUFReader(theirs).tensors}
    assert ours.keys() == other.keys()
    same = [n for n in ours if ours[n] == other[n]]
    assert len(same) == len(ours), sorted(set(ours) - set(same))[:5]


def test_agreement_of_each_quantization_is_measured(files, hf):
    """Top-1 agreement with transformers on next-token predictions over sample texts: printed
    (the benchmark reports it with sizes and speed), bounded below so a broken file fails."""
    _, made = files
    tok, model = hf
    floors = {"f32": 0.99, "f16": 0.98, "q8_0": 0.95, "q4_k_m": 0.6}
    for quant, floor in floors.items():
        llm = load(made[quant])
        agree = total = 0
        for text in sample_texts()[:8]:
            ids = tok(text)["input_ids"][:200]
            with torch.no_grad():
                ref = model(torch.tensor([ids])).logits[0].argmax(-1).numpy()
            got = logits_of(llm, ids).argmax(-1)
            agree += int((got == ref).sum())
            total += len(ids)
        rate = agree / total
        print(f"{quant}: top-1 agreement {rate:.4f} over {total} positions, {made[quant].stat().st_size:,} bytes")
        assert rate >= floor, (quant, rate)


def test_the_quantization_benchmark_reports_every_type(small_run, tmp_path):
    from helpers import load_script

    _, run = small_run
    bench = load_script("benchmarks/llama_cpp_quant.py", "bench_llama_cpp_quant")
    out = tmp_path / "gguf.md"
    assert bench.main(["--run", str(run.root), "--quants", "f32,q8_0", "--texts", "2", "--new-tokens", "4",
                       "--rounds", "1", "--threads", "1", "--out", str(out)]) == 0
    rows = {line.split("|")[1].strip(): line for line in out.read_text().splitlines() if line.startswith("| f32")
            or line.startswith("| q8_0")}
    assert set(rows) == {"f32", "q8_0"}
    assert "| 8/8 |" in rows["f32"]          # float32 in llama.cpp continues every prompt as transformers
