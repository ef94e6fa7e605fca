import math
import random

import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score

from helpers import tiny_profile
from ttl.data.loaders import load_assin2, load_hatebr
from ttl.eval import (build_prompt, evaluate_task, macro_f1, majority_baseline, pearson, perplexity_from_loss,
                      text_perplexity)
from ttl.eval.metrics import accuracy
from ttl.model import to_hf
from ttl.tasks import get_task


def test_metrics_match_sklearn_and_scipy():
    rng = random.Random(0)
    for _ in range(20):
        gold = [rng.randint(0, 1) for _ in range(30)]
        pred = [rng.choice([0, 1, -1]) for _ in range(30)]  # -1: an unparseable answer
        assert macro_f1(gold, pred, [0, 1]) == pytest.approx(f1_score(gold, pred, labels=[0, 1], average="macro"))
        assert accuracy(gold, pred) == pytest.approx(accuracy_score(gold, pred))
        x = [rng.random() for _ in range(30)]
        y = [a + rng.random() for a in x]
        assert pearson(x, y) == pytest.approx(pearsonr(x, y)[0])


def test_majority_baseline_is_one_third_on_balanced_binary():
    assert majority_baseline([0, 1] * 50, [0, 1])["macro_f1"] == pytest.approx(1 / 3)


def test_perplexity_is_e_to_the_loss_not_two():
    assert perplexity_from_loss(3.0) == pytest.approx(math.exp(3.0))
    assert perplexity_from_loss(3.0) != pytest.approx(2 ** 3.0)


def test_text_perplexity_agrees_with_transformers(tiny_model, tiny_tokenizer):
    text = "A chuva caiu sobre a cidade durante a tarde inteira."
    ours = text_perplexity(tiny_model, tiny_tokenizer, [text])
    hf = to_hf(tiny_model).eval()
    ids = torch.tensor([[tiny_tokenizer.bos_token_id, *tiny_tokenizer(text, add_special_tokens=False)["input_ids"],
                         tiny_tokenizer.eos_token_id]])
    with torch.no_grad():
        hf_loss = hf(ids, labels=ids).loss.item()  # transformers shifts the labels itself
    assert ours["loss"] == pytest.approx(hf_loss, rel=1e-5)
    assert ours["perplexity"] == pytest.approx(math.exp(hf_loss), rel=1e-5)


def test_strided_windows_give_every_token_its_context(tiny_model, tiny_tokenizer):
    """stride=1 is a full window for every token: checked against one forward pass per target
    on the last ``window`` tokens before it, with transformers' copy of the model."""
    text = "A chuva caiu sobre a cidade durante a tarde inteira, e a noite chegou fria e escura."
    seq = [tiny_tokenizer.bos_token_id, *tiny_tokenizer(text, add_special_tokens=False)["input_ids"],
           tiny_tokenizer.eos_token_id]
    window = 8
    assert len(seq) > 3 * window
    hf = to_hf(tiny_model).eval()
    nats = 0.0
    with torch.no_grad():
        for t in range(len(seq) - 1):     # predict seq[t + 1] from at most `window` tokens
            context = torch.tensor([seq[max(0, t + 1 - window):t + 1]])
            nats -= torch.log_softmax(hf(context).logits[0, -1].float(), -1)[seq[t + 1]].item()
    one = text_perplexity(tiny_model, tiny_tokenizer, [text], max_length=window, stride=1)
    assert one["tokens"] == len(seq) - 1 and one["forward_passes"] == len(seq) - 1
    assert one["loss"] == pytest.approx(nats / (len(seq) - 1), rel=1e-5)
    plain = text_perplexity(tiny_model, tiny_tokenizer, [text], max_length=window)
    assert text_perplexity(tiny_model, tiny_tokenizer, [text], max_length=window, stride=window) == plain
    half = text_perplexity(tiny_model, tiny_tokenizer, [text], max_length=window, stride=window // 2)
    assert half["tokens"] == plain["tokens"] and half["forward_passes"] > plain["forward_passes"]
    assert one["loss"] != pytest.approx(plain["loss"], rel=1e-6)   # other contexts, another figure
    with pytest.raises(ValueError, match="stride must be between 1 and the window"):
        text_perplexity(tiny_model, tiny_tokenizer, [text], max_length=window, stride=window + 1)


def test_answer_parsing():
    """Answers are matched to the task's own choices (any language), scores to its label range."""
    rte, sts = get_task("assin2_rte"), get_task("assin2_sts")
    assert rte.parse_answer(" Sim, pode.") == 1
    assert rte.parse_answer(" Não") == 0 and rte.parse_answer("nao") == 0 and rte.parse_answer("NÃO.") == 0
    assert rte.parse_answer(" talvez") is None and rte.parse_answer("") is None
    assert sts.parse_answer(" 3,5") == 3.5 and sts.parse_answer("4.25 pontos") == 4.25
    assert sts.parse_answer("9") == 5.0 and sts.parse_answer("nada") is None


def test_prompts_follow_the_harness_format():
    ds = load_assin2()
    row, shot = ds["test"][0], ds["train"][0]
    prompt = build_prompt("assin2_rte", row, [shot])
    first, query = prompt.split("\n\n")
    assert first.startswith(f"Premissa: {shot['premise']}\nHipótese: {shot['hypothesis']}\n")
    assert first.endswith("Resposta: Sim") or first.endswith("Resposta: Não")
    assert query.endswith("A hipótese pode ser inferida pela premissa? Sim ou Não?\nResposta:")


@pytest.mark.parametrize("mode", ["generate", "loglik"])
def test_evaluate_task_reports_scores_beside_baseline(tiny_model, tiny_tokenizer, mode):
    res = evaluate_task(tiny_model, tiny_tokenizer, "assin2_rte", load_assin2(), num_fewshot=1,
                        max_examples=6, mode=mode)
    assert res["examples"] == 6
    assert 0 <= res["macro_f1"] <= 1 and 0 <= res["baseline_macro_f1"] <= 1
    if mode == "loglik":
        assert res["invalid_answers"] == 0


def test_sts_is_regression(tiny_model, tiny_tokenizer):
    res = evaluate_task(tiny_model, tiny_tokenizer, "assin2_sts", load_assin2(), num_fewshot=0, max_examples=5)
    assert -1 <= res["pearson"] <= 1
    with pytest.raises(ValueError, match="regression"):
        evaluate_task(tiny_model, tiny_tokenizer, "assin2_sts", load_assin2(), mode="loglik")


def test_answers_are_tokenized_in_context_as_the_harness_does(tiny_tokenizer):
    from ttl.eval.fewshot import split_context

    prompt = "Texto: um comentário qualquer\nPergunta: O texto é ofensivo?\nResposta:"
    context, answer = split_context(tiny_tokenizer, prompt, " Sim")
    lone = tiny_tokenizer(" Sim", add_special_tokens=False)["input_ids"]
    assert context == tiny_tokenizer(prompt)["input_ids"]
    pieces = tiny_tokenizer.convert_ids_to_tokens(answer)
    assert pieces[0].startswith("\u2581") and len(lone) == len(answer) + 1           # no stray '▁' token
    assert context + answer == tiny_tokenizer(prompt + " Sim")["input_ids"]


def test_loglik_mode_returns_every_row_with_its_choices_scored_as_the_harness_cuts_them(tiny_model, tiny_tokenizer):
    """Per row: the gold label, the prediction, each choice's log-likelihood (label order) and
    the same per character; the context cut as lm-evaluation-harness cuts it (the last
    max_seq_len + 1 tokens of context + answer), scored by transformers' Llama here."""
    import random as _random

    from ttl.eval.fewshot import eval_rows, split_context

    task, dsd = get_task("hatebr"), load_hatebr()
    res = evaluate_task(tiny_model, tiny_tokenizer, task, dsd, num_fewshot=2, max_examples=6, mode="loglik")
    assert res["choices"] == [" Não", " Sim"] and len(res["predictions"]) == res["examples"] == 6
    assert res["f1_macro"] == res["macro_f1"] and res["acc"] == res["accuracy"] and 0 <= res["acc_norm"] <= 1
    assert 0 < res["truncated_prompts"] <= 6                   # 2 shots do not fit a 64-token context
    hf, size = to_hf(tiny_model).eval(), tiny_model.config.max_seq_len
    rng, train = _random.Random(1234), list(dsd["train"])
    for row, pred in zip(eval_rows(task, dsd, 6), res["predictions"], strict=True):
        prompt = build_prompt(task, row, rng.sample(train, 2))
        expected = []
        for label in (0, 1):
            context, answer = split_context(tiny_tokenizer, prompt, task.choices[label])
            ids = torch.tensor([(context + answer)[-(size + 1):]])
            with torch.no_grad():
                logp = hf(ids[:, :-1]).logits.log_softmax(-1)[0, -len(answer):]
            expected.append(float(logp.gather(-1, ids[0, -len(answer):, None]).sum()))
        assert pred["loglik"] == pytest.approx(expected, abs=1e-4)
        assert pred["loglik_norm"] == pytest.approx([ll / 4 for ll in expected], abs=1e-4)   # len(" Sim") == 4
        assert pred["gold"] == task.label(row) and pred["pred"] == (1 if expected[1] > expected[0] else 0)


def test_ties_go_to_the_first_choice_and_trailing_space_moves_to_the_answer(tiny_tokenizer):
    from ttl.eval.fewshot import _argmax, split_context

    assert _argmax([-1.0, -1.0]) == 0 and _argmax([-2.0, -1.0, -1.0]) == 1
    prompt = "Pergunta: O texto é ofensivo?\nResposta:"
    assert split_context(tiny_tokenizer, prompt + " ", "Sim") == split_context(tiny_tokenizer, prompt, " Sim")
