import pytest
import torch

from ttl.generate import SamplingConfig, generate, generate_ids, process_logits
from ttl.model import to_hf


def test_cached_decoding_equals_uncached(tiny_model):
    ids = torch.randint(4, 500, (2, 7), generator=torch.Generator().manual_seed(0))
    cfg = SamplingConfig(max_new_tokens=12, temperature=0.0, stop_at_eos=False)
    a = torch.cat(list(generate_ids(tiny_model, ids, cfg, use_cache=True)), 1)
    b = torch.cat(list(generate_ids(tiny_model, ids, cfg, use_cache=False)), 1)
    assert torch.equal(a, b)


def test_greedy_matches_transformers_generate(tiny_model):
    ids = torch.randint(4, 500, (1, 5), generator=torch.Generator().manual_seed(1))
    cfg = SamplingConfig(max_new_tokens=10, temperature=0.0, stop_at_eos=False)
    ours = torch.cat(list(generate_ids(tiny_model, ids, cfg)), 1)
    hf = to_hf(tiny_model).eval()
    theirs = hf.generate(ids, max_new_tokens=10, do_sample=False, eos_token_id=None, pad_token_id=3)
    assert torch.equal(ours[0], theirs[0, 5:])


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    empty = torch.empty(1, 0, dtype=torch.long)
    k2 = process_logits(logits, empty, SamplingConfig(top_k=2))
    assert torch.isfinite(k2).tolist() == [[True, True, False, False, False]]
    p = process_logits(logits, empty, SamplingConfig(top_p=0.8))
    # 0.5 + 0.2 < 0.8, so the third token is needed too; the fourth is not.
    assert torch.isfinite(p).tolist() == [[True, True, True, False, False]]
    probs = p.softmax(-1)
    assert probs[0, :3].sum() == pytest.approx(1.0)
    tiny_p = process_logits(logits, empty, SamplingConfig(top_p=0.01))
    assert torch.isfinite(tiny_p).sum() == 1  # the best token always survives


def test_temperature_and_repetition_penalty():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert torch.allclose(process_logits(logits, torch.empty(1, 0, dtype=torch.long), SamplingConfig(temperature=2.0)),
                          logits / 2)
    pen = process_logits(logits, torch.tensor([[0, 1]]), SamplingConfig(repetition_penalty=2.0))
    assert pen.tolist() == [[1.0, -2.0, 0.5]]


def test_sampling_is_reproducible_with_a_seed(tiny_model, tiny_tokenizer):
    cfg = SamplingConfig(max_new_tokens=15, temperature=1.0, top_k=50, seed=7)
    assert generate(tiny_model, tiny_tokenizer, "A casa", cfg) == generate(tiny_model, tiny_tokenizer, "A casa", cfg)


def test_bad_settings_and_long_prompts_are_explained(tiny_model):
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)
    with pytest.raises(ValueError, match="context"):
        list(generate_ids(tiny_model, torch.ones(1, 64, dtype=torch.long)))


def test_the_continuation_keeps_the_space_after_the_prompt(tiny_model, tiny_tokenizer):
    """Decoded alone, a continuation whose first token starts a word lost its space
    ("Era uma vez" + "de" instead of " de"); the prompt and its continuation read as one text."""
    vocab = tiny_tokenizer.get_vocab()
    word = next(t for t in ("\u2581de", "\u2581a", "\u2581o") if t in vocab)
    # A model that always says the same word: its lm_head output is pushed towards that token.
    hook = tiny_model.lm_head.register_forward_hook(
        lambda module, inputs, out: out.index_fill(-1, torch.tensor([vocab[word]]), 1e4))
    try:
        cfg = SamplingConfig(max_new_tokens=3, temperature=0.0, stop_at_eos=False)
        for prompt in ("Era uma vez", "O Brasil é"):
            text = generate(tiny_model, tiny_tokenizer, prompt, cfg)
            assert text == " " + " ".join([word[1:]] * 3), text
            ids = tiny_tokenizer(prompt)["input_ids"] + [vocab[word]] * 3
            assert prompt + text == tiny_tokenizer.decode(ids, skip_special_tokens=True)
    finally:
        hook.remove()
