"""Chat tuning: the template, the masked SFT loss and the DPO loss, checked against transformers and TRL."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from helpers import load_script, tiny_profile, write_jsonl
from ttl.chat import data as chat_data
from ttl.chat.dpo import collate_pairs, dpo_batch_loss, dpo_loss, pair_example, sequence_logps
from ttl.chat.sft import IGNORE_INDEX, collate, masked_lm_loss, naive_labels, sft_example, sft_loss
from ttl.chat.template import (CHAT_TEMPLATE, ChatFormatError, add_chat_template, encode_chat,
                               instruction_to_messages, parse_reply, render)
from ttl.data.readers import DataError
from ttl.model import from_hf, to_hf
from ttl.special_tokens import EOS_ID, PAD_ID


@pytest.fixture(scope="module")
def chat_tok(tiny_tokenizer):
    return add_chat_template(copy.deepcopy(tiny_tokenizer))


@pytest.fixture(scope="module")
def sft_rows():
    return chat_data.load_chat_sft()


@pytest.fixture(scope="module")
def pref_rows():
    return chat_data.load_chat_preferences()


def chat_model(seed: int = 0):
    from ttl.model import Llama

    cfg = dataclasses.replace(tiny_profile().model, max_seq_len=512)
    torch.manual_seed(seed)
    return Llama(cfg).eval()


def perturbed(model, seed: int, scale: float = 0.05):
    """A copy of ``model`` with every weight moved a little (a policy that left its reference)."""
    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    return other


# --------------------------------------------------------------------------- the template

def test_python_renderer_equals_the_jinja_template(chat_tok, sft_rows):
    for row in sft_rows["train"][:40]:
        messages = row["messages"]
        assert render(messages) == chat_tok.apply_chat_template(messages, tokenize=False)
        prompt = messages[:-1]
        assert render(prompt, add_generation_prompt=True) == chat_tok.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True)


def test_assistant_mask_equals_transformers_generation_mask(chat_tok, sft_rows):
    for row in sft_rows["train"][:40]:
        ours = encode_chat(chat_tok, row["messages"])
        theirs = chat_tok.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                              return_assistant_tokens_mask=True)
        assert ours.input_ids == list(theirs["input_ids"])
        assert ours.assistant_mask == list(theirs["assistant_masks"])
        # each answer ends with the end-of-turn token, and it is trained on
        ends = [i for i, t in enumerate(ours.input_ids) if t == EOS_ID and ours.assistant_mask[i]]
        assert len(ends) == sum(m["role"] == "assistant" for m in row["messages"])


def test_assistant_tokens_decode_to_exactly_the_answers(chat_tok):
    messages = [{"role": "system", "content": "Seja breve."}, {"role": "user", "content": "Qual é a capital do Peru?"},
                {"role": "assistant", "content": "A capital do Peru é Lima."},
                {"role": "user", "content": "E do Chile?"}, {"role": "assistant", "content": "Santiago."}]
    enc = encode_chat(chat_tok, messages)
    answer = [t for t, m in zip(enc.input_ids, enc.assistant_mask) if m]
    assert chat_tok.decode(answer) == "A capital do Peru é Lima.</s>Santiago.</s>"


def test_generation_prompt_is_a_prefix_of_the_full_conversation(chat_tok, sft_rows):
    for row in sft_rows["test"][:20]:
        full = encode_chat(chat_tok, row["messages"]).input_ids
        prompt = encode_chat(chat_tok, row["messages"][:-1], add_generation_prompt=True).input_ids
        assert full[:len(prompt)] == prompt


def test_bad_conversations_are_refused_with_a_reason():
    with pytest.raises(ChatFormatError, match="role"):
        render([{"role": "bot", "content": "oi"}])
    with pytest.raises(ChatFormatError, match="system message may only come first"):
        render([{"role": "user", "content": "oi"}, {"role": "system", "content": "x"}])
    with pytest.raises(ChatFormatError, match="reserves"):
        render([{"role": "user", "content": "oi</s>"}])
    with pytest.raises(ChatFormatError, match="non-empty list"):
        render("oi")


def test_instruction_documents_become_a_user_and_an_assistant_turn():
    assert instruction_to_messages("<instruction>Diga oi.</instruction>Oi!") == [
        {"role": "user", "content": "Diga oi."}, {"role": "assistant", "content": "Oi!"}]
    assert instruction_to_messages("Um texto comum.") is None
    assert instruction_to_messages("<instruction>Pergunta</instruction>   ") is None


def test_parse_reply_tells_a_kept_format_from_a_broken_one():
    assert parse_reply(" A capital é Lima.</s>") == ("A capital é Lima.", True)
    assert parse_reply("Lima.\n<|user|>\nE o Chile?")[1] is False
    assert parse_reply("</s>")[1] is False


# --------------------------------------------------------------------------- data

def test_sample_sizes_splits_and_kinds(sft_rows, pref_rows):
    assert sum(len(v) for v in sft_rows.values()) >= 400
    assert sum(len(v) for v in pref_rows.values()) >= 300
    assert {r["kind"] for r in pref_rows["test"]} == {"wrong_fact", "rude", "off_topic", "too_long",
                                                       "not_portuguese"}
    assert any(sum(m["role"] == "user" for m in r["messages"]) > 1 for r in sft_rows["train"])
    assert any(r["messages"][0]["role"] == "system" for r in sft_rows["train"])
    # no first question of a test conversation is asked in training (follow-ups are generic)
    def questions(rows):
        return {r["prompt"] if "prompt" in r else next(m["content"] for m in r["messages"] if m["role"] == "user")
                for r in rows}
    assert questions(sft_rows["train"]) and not questions(sft_rows["train"]) & questions(sft_rows["test"])


def test_builder_is_deterministic_and_matches_the_shipped_files(tmp_path):
    import json

    module = load_script("tools/build_chat_sample.py", "build_chat_sample")
    built = module.build()
    shipped = chat_data.chat_sample_dir()
    for stem, rows in built.items():
        lines = (shipped / f"{stem}.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == rows, stem


def test_hub_layouts_read_from_local_files(tmp_path):
    import pandas as pd

    # UltraChat-200k: messages, split files train_sft / test_sft (parquet)
    folder = tmp_path / "ultrachat"
    folder.mkdir()
    conv = [{"role": "user", "content": "Oi?"}, {"role": "assistant", "content": "Olá!"}]
    rows = [{"prompt": "Oi?", "prompt_id": str(i), "messages": conv} for i in range(20)]
    pd.DataFrame(rows).to_parquet(folder / "train_sft-00000.parquet")
    pd.DataFrame(rows[:3]).to_parquet(folder / "test_sft-00000.parquet")
    got = chat_data.load_chat_sft(str(folder))
    assert len(got["test"]) == 3 and got["train"][0]["messages"] == conv and got["validation"]
    # ShareGPT
    share = write_jsonl(tmp_path / "share" / "train.jsonl", [
        {"conversations": [{"from": "human", "value": "Oi"}, {"from": "gpt", "value": "Olá"}]}] * 12)
    assert chat_data.load_chat_sft(share.parent)["train"][0]["messages"][1] == {"role": "assistant",
                                                                                "content": "Olá"}
    # UltraFeedback-binarized: prompt text, chosen/rejected whole conversations
    uf = write_jsonl(tmp_path / "uf" / "train_prefs.jsonl", [
        {"prompt": "Capital do Peru?", "chosen": [{"role": "user", "content": "Capital do Peru?"},
                                                  {"role": "assistant", "content": "Lima."}],
         "rejected": [{"role": "user", "content": "Capital do Peru?"}, {"role": "assistant", "content": "Quito."}],
         "score_chosen": 8.0, "score_rejected": 2.0}] * 12)
    triple = chat_data.load_chat_preferences(uf.parent)["train"][0]
    assert triple["prompt"] == [{"role": "user", "content": "Capital do Peru?"}]
    assert (triple["chosen"], triple["rejected"]) == ("Lima.", "Quito.")
    # plain text triples
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "P?", "chosen": "Sim.", "rejected": "Não."}] * 12)
    assert chat_data.load_chat_preferences(plain)["train"][0]["chosen"] == "Sim."


def test_hub_names_go_through_datasets(monkeypatch):
    import datasets

    conv = [{"role": "user", "content": "Oi?"}, {"role": "assistant", "content": "Olá!"}]
    fake = datasets.DatasetDict({"train_sft": datasets.Dataset.from_list([{"messages": conv}] * 10),
                                 "test_sft": datasets.Dataset.from_list([{"messages": conv}] * 2),
                                 "train_gen": datasets.Dataset.from_list([{"messages": conv}] * 5)})
    calls = []
    monkeypatch.setattr("ttl.data.loaders.load_from_hub", lambda name, **kw: calls.append(name) or fake)
    got = chat_data.load_chat_sft("hub:someone/ultrachat-pt")
    assert calls == ["someone/ultrachat-pt"] and len(got["test"]) == 2 and len(got["train"]) == 9


def test_bad_chat_rows_stop_with_the_file_and_row(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "user", "content": "oi"}]}])
    with pytest.raises(DataError, match=r"row 1: the conversation has no assistant message"):
        chat_data.load_chat_sft(bad)
    bad = write_jsonl(tmp_path / "bad2.jsonl", [{"prompt": "P?", "chosen": "A"}])
    with pytest.raises(DataError, match=r"missing \['rejected'\]"):
        chat_data.load_chat_preferences(bad)
    bad = write_jsonl(tmp_path / "bad3.jsonl", [{"prompt": "P?", "chosen": "A", "rejected": "A"}])
    with pytest.raises(DataError, match="same answer"):
        chat_data.load_chat_preferences(bad)


# --------------------------------------------------------------------------- SFT loss

def test_labels_cover_only_the_answers(chat_tok, sft_rows):
    row = sft_rows["train"][0]
    ex = sft_example(chat_tok, row["messages"])
    labelled = [t for t in ex["labels"] if t != IGNORE_INDEX]
    answers = "".join(m["content"] + "</s>" for m in row["messages"] if m["role"] == "assistant")
    assert chat_tok.decode(labelled) == answers
    batch = collate([ex, sft_example(chat_tok, sft_rows["train"][1]["messages"])])
    padded = batch["attention_mask"] == 0
    assert padded.any() and (batch["labels"][padded] == IGNORE_INDEX).all()
    assert (batch["input_ids"][padded] == PAD_ID).all()


def test_masked_loss_equals_trl_sft_trainer(chat_tok, sft_rows, tmp_path):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    model = chat_model()
    hf = to_hf(model)
    convs = [r["messages"] for r in sft_rows["train"][:6]]
    args = trl.SFTConfig(output_dir=str(tmp_path / "trl"), assistant_only_loss=True, report_to=[],
                         per_device_train_batch_size=len(convs), max_length=None, use_cpu=True,
                         dataset_num_proc=None, bf16=False, fp16=False)
    trainer = trl.SFTTrainer(model=hf, args=args, train_dataset=Dataset.from_list([{"messages": c} for c in convs]),
                             processing_class=chat_tok)
    their_batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(convs))])
    their_loss = trainer.compute_loss(trainer.model, dict(their_batch))
    ours = collate([sft_example(chat_tok, c) for c in convs])
    assert torch.equal(ours["input_ids"][ours["attention_mask"].bool()],
                       their_batch["input_ids"][ours["attention_mask"].bool()])
    assert torch.equal(ours["labels"], their_batch["labels"])
    our_loss = sft_loss(model, ours)
    torch.testing.assert_close(our_loss, their_loss.detach().float(), rtol=0, atol=1e-5)
    # the same through the plain formula on transformers' logits
    with torch.no_grad():
        logits = hf(input_ids=ours["input_ids"], attention_mask=ours["attention_mask"]).logits
    torch.testing.assert_close(masked_lm_loss(logits, ours["labels"]), their_loss.detach().float(),
                               rtol=0, atol=1e-5)
    # and the gradient agrees too
    our_loss.backward()
    their_loss.backward()
    ours_g = model.lm_head.weight.grad
    torch.testing.assert_close(ours_g, hf.lm_head.weight.grad, rtol=1e-4, atol=1e-6)


def test_the_original_mistake_trains_on_prompt_and_padding(chat_tok, sft_rows):
    model = chat_model()
    rows = [sft_example(chat_tok, r["messages"]) for r in sft_rows["train"][:4]]
    batch = collate(rows)
    masked = float(sft_loss(model, batch))
    naive = float(sft_loss(model, batch, naive_labels(batch)))
    assert abs(masked - naive) > 1e-3
    # More padding (a longer neighbour in the batch) leaves the masked loss unchanged and moves the
    # naive one: with labels = input_ids the objective depends on how the batch was padded.
    longer = collate(rows + [{"input_ids": rows[0]["input_ids"] * 2, "labels": [IGNORE_INDEX] * (
        2 * len(rows[0]["input_ids"]))}])
    sub = {k: v[:4] for k, v in longer.items()}
    assert sub["input_ids"].shape[1] > batch["input_ids"].shape[1]
    assert float(sft_loss(model, sub)) == pytest.approx(masked, abs=1e-5)
    assert abs(float(sft_loss(model, sub, naive_labels(sub))) - naive) > 1e-3
    # and the naive labels do put a loss on predicting the prompt and the pads
    assert (naive_labels(batch)[batch["labels"] == IGNORE_INDEX] != IGNORE_INDEX).any()


def test_naive_sft_teaches_the_model_to_write_padding(chat_tok, sft_rows, tmp_path):
    """After </s> the original objective rewards predicting <pad>: the masked one never sees it."""
    from ttl.chat.sft import SFTConfig, train_sft

    convs = sft_rows["train"][:64]
    cfg = SFTConfig(max_steps=30, batch_size=16, lr=3e-3, warmup_steps=2, save_every=30, log_every=10)
    results = {}
    for naive in (False, True):
        model = chat_model()
        train_sft(model, chat_tok, convs, cfg, tmp_path / f"n{naive}", naive=naive)
        enc = encode_chat(chat_tok, convs[0]["messages"])
        with torch.no_grad():
            logits = model(torch.tensor([enc.input_ids])).logits[0, -1]
        results[naive] = float(torch.softmax(logits, -1)[PAD_ID])
    assert results[True] > 10 * results[False]


# --------------------------------------------------------------------------- DPO loss

def test_dpo_loss_by_hand_on_numbers():
    pc, pr = torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -15.0])
    rc, rr = torch.tensor([-11.0, -19.0]), torch.tensor([-11.0, -16.0])
    loss, m = dpo_loss(pc, pr, rc, rr, beta=0.5)
    # margins: 0.5*((1) - (-1)) = 1.0 and 0.5*((-1) - (1)) = -1.0
    expected = (torch.log1p(torch.exp(torch.tensor(-1.0))) + torch.log1p(torch.exp(torch.tensor(1.0)))) / 2
    torch.testing.assert_close(loss, expected)
    assert float(m["rewards/accuracies"]) == 0.5 and float(m["rewards/margins"]) == 0.0
    # equal policy and reference: loss log 2, whatever beta
    loss, _ = dpo_loss(pc, pr, pc, pr, beta=3.0)
    torch.testing.assert_close(loss, torch.log(torch.tensor(2.0)))


def test_answer_mask_covers_only_the_final_answer(chat_tok):
    triple = {"prompt": [{"role": "user", "content": "Oi"}, {"role": "assistant", "content": "Olá"},
                         {"role": "user", "content": "Capital do Peru?"}], "chosen": "Lima.", "rejected": "Quito."}
    ex = pair_example(chat_tok, triple)
    for side, text in (("chosen", "Lima.</s>"), ("rejected", "Quito.</s>")):
        picked = [t for t, m in zip(ex[f"{side}_ids"], ex[f"{side}_mask"]) if m]
        assert chat_tok.decode(picked) == text


@pytest.mark.parametrize("beta,answers", [(0.1, "short"), (0.5, "short"), (0.1, "long")])
def test_dpo_loss_equals_trl_dpo_trainer(chat_tok, pref_rows, sample_texts, tmp_path, beta, answers):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    reference = chat_model(seed=1)
    policy = perturbed(reference, seed=2)
    triples = pref_rows["train"][:4]
    if answers == "long":
        # Sums of ~300 log-probabilities of about -6 each: float32 rounds them to ~1e-4, which beta
        # passes on to the rewards. In float64 both sides must agree to 1e-5 on everything.
        reference, policy = reference.double(), policy.double()   # 200-480 tokens a sequence, of different lengths: padding and masks matter
        prose = " ".join(sample_texts)[:2000]
        triples = [dict(t, chosen=f"{t['chosen']} {prose[:300 + 40 * i]}", rejected=f"{t['rejected']} {prose[:250]}")
                   for i, t in enumerate(triples)]
    ds = Dataset.from_list([{"prompt": t["prompt"], "chosen": [{"role": "assistant", "content": t["chosen"]}],
                             "rejected": [{"role": "assistant", "content": t["rejected"]}]} for t in triples])
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), beta=beta, report_to=[], max_length=None,
                         per_device_train_batch_size=len(triples), use_cpu=True, dataset_num_proc=None,
                         bf16=False, fp16=False)
    trainer = trl.DPOTrainer(model=to_hf(policy), ref_model=to_hf(reference), args=args, train_dataset=ds,
                             processing_class=chat_tok)
    their_batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(triples))])
    their_loss = trainer.compute_loss(trainer.model, dict(their_batch))
    ours = collate_pairs([pair_example(chat_tok, t) for t in triples])
    assert torch.equal(ours["completion_mask"], their_batch["completion_mask"])
    assert torch.equal(ours["input_ids"][ours["attention_mask"].bool()],
                       their_batch["input_ids"][ours["attention_mask"].bool()])
    # the weights TRL computed with, in our model (both ways: the conversion itself is tested elsewhere)
    our_policy, our_reference = from_hf(trainer.model), from_hf(trainer.ref_model)
    loss, metrics = dpo_batch_loss(our_policy, our_reference, ours, beta)
    torch.testing.assert_close(loss.float(), their_loss.detach().float(), rtol=0, atol=1e-5)
    mode = "train" if trainer.model.training else "eval"
    logged = {k: v[-1] for k, v in trainer._metrics[mode].items()}
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert float(metrics[key]) == pytest.approx(logged[key], abs=1e-5), key
    assert abs(float(metrics["rewards/margins"])) > 1e-4  # the policy did move: not a trivial 0 = 0


def test_sequence_logps_sums_only_answer_tokens():
    logits = torch.randn(1, 5, 7)
    ids = torch.tensor([[1, 4, 5, 6, 2]])
    mask = torch.tensor([[0, 0, 0, 1, 1]])
    logp = torch.log_softmax(logits, -1)
    expected = logp[0, 2, 6] + logp[0, 3, 2]
    torch.testing.assert_close(sequence_logps(logits, ids, mask), expected[None])


# --------------------------------------------------------------------------- training and stages

def test_sft_resume_is_exact(chat_tok, sft_rows, tmp_path):
    from ttl.chat.sft import SFTConfig, train_sft

    convs = sft_rows["train"][:48]
    cfg = SFTConfig(max_steps=8, batch_size=8, lr=3e-3, warmup_steps=2, save_every=4, log_every=2)
    straight = chat_model()
    train_sft(straight, chat_tok, convs, cfg, tmp_path / "a")
    stopped = chat_model()
    train_sft(stopped, chat_tok, convs, cfg, tmp_path / "b", stop_after=4)
    resumed = chat_model()            # a new process: fresh weights, read back from the checkpoint
    rows = train_sft(resumed, chat_tok, convs, cfg, tmp_path / "b")
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
    a = (tmp_path / "a" / "metrics.jsonl").read_text()
    assert a == (tmp_path / "b" / "metrics.jsonl").read_text() and len(rows) == 4


def test_dpo_training_raises_the_reward_margin(chat_tok, pref_rows, tmp_path):
    from ttl.chat.dpo import DPOConfig, train_dpo

    reference = chat_model(seed=3)
    policy = copy.deepcopy(reference)
    cfg = DPOConfig(max_steps=12, batch_size=8, lr=3e-3, warmup_steps=1, save_every=12, log_every=1)
    rows = train_dpo(policy, reference, chat_tok, pref_rows["train"][:64], cfg, tmp_path / "dpo")
    assert rows[0]["loss"] == pytest.approx(0.693147, abs=1e-5)   # step 1: policy == reference
    assert rows[-1]["rewards/margins"] > rows[0]["rewards/margins"]
    assert all(not p.requires_grad for p in reference.parameters())


def test_stages_write_manifests_reuse_and_set_aside(small_run, tmp_path):
    from helpers import copy_run
    from ttl.chat.stages import chat_dir, ensure_dpo, ensure_sft
    from ttl.manifest import read_manifest

    profile, run = small_run
    run = copy_run(run, tmp_path)
    profile = dataclasses.replace(profile, model=dataclasses.replace(profile.model))
    tiny = {"max_steps": 4, "batch_size": 4, "save_every": 2, "log_every": 2, "max_length": 60}
    model, tok = ensure_sft(profile, run, overrides=tiny, quiet=True)
    sft = chat_dir(run, "sft")
    manifest = read_manifest(sft)
    assert manifest["stage"] == "sft" and set(manifest["inputs"]) == {"checkpoint", "tokenizer", "data"}
    assert (sft / "tokenizer").is_dir() and tok.chat_template
    before = sft.stat().st_mtime_ns, manifest["created"]
    ensure_sft(profile, run, overrides=tiny, quiet=True)           # fresh: reused, not retrained
    assert (sft.stat().st_mtime_ns, read_manifest(sft)["created"]) == before
    ensure_sft(profile, run, overrides={**tiny, "lr": 5e-4}, quiet=True)   # other settings: stale
    assert (sft.parent / "sft.stale-1").is_dir() and read_manifest(sft)["config"]["sft"]["lr"] == 5e-4
    dpo_model, _ = ensure_dpo(profile, run, overrides={"max_steps": 2, "batch_size": 4, "save_every": 2,
                                                       "log_every": 1, "max_length": 60},
                              sft_overrides={**tiny, "lr": 5e-4}, quiet=True)
    assert read_manifest(chat_dir(run, "dpo"))["inputs"]["sft"] == read_manifest(sft)["digest"]


def test_a_chat_model_exports_with_its_template_and_chats_through_pipeline(small_run, tmp_path):
    import gguf
    from transformers import AutoTokenizer, pipeline

    from helpers import copy_run
    from ttl.chat.stages import ensure_sft
    from ttl.manifest import StaleError, read_manifest
    from ttl.pipeline import ensure_chat_export, ensure_gguf

    profile, run = small_run
    run = copy_run(run, tmp_path)
    with pytest.raises(StaleError, match="no finished SFT stage .*ttl sft"):
        ensure_chat_export(profile, run, "sft")
    ensure_sft(profile, run, overrides={"max_steps": 2, "batch_size": 4, "save_every": 2, "log_every": 1,
                                        "max_length": 60}, quiet=True)
    folder = ensure_chat_export(profile, run, "sft", quiet=True)
    assert folder == run.root / "chat" / "sft" / "hf_model"
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert "conversational" in text and '"role": "user"' in text
    tok = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "user", "content": "Qual é a capital do Peru?"}]
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == "<s><|user|>\nQual é a capital do Peru?</s>\n<|assistant|>\n"
    chat = pipeline("text-generation", model=str(folder))
    out = chat(messages, max_new_tokens=4, do_sample=False)[0]["generated_text"]
    assert out[:-1] == messages and out[-1]["role"] == "assistant"      # a list of messages in and out
    before = read_manifest(folder)["created"]
    assert ensure_chat_export(profile, run, "sft", quiet=True) == folder and read_manifest(folder)["created"] == before

    path = ensure_gguf(profile, run, "f16", model="sft", quiet=True)
    assert path.name == f"ttl-{profile.name}-sft-f16.gguf"
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    assert "<|assistant|>" in template and "{% generation" not in template   # unknown to llama.cpp's Jinja
