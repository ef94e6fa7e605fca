"""The exported folders: a model card, the cards' sampling settings, a tokenizer any transformers
loads, and a classifier that `pipeline("text-classification")` runs as ttl trained it."""

import dataclasses
import json

import pytest
import torch
import yaml


def front_matter(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1]), text


def test_the_export_has_a_card_sampling_defaults_and_a_portable_tokenizer(small_run):
    profile, run = small_run
    meta, text = front_matter(run.hf_model_dir / "README.md")
    assert meta["pipeline_tag"] == "text-generation" and meta["language"] == [profile.data.language]
    assert f"{profile.model.hidden_size} / {profile.model.num_layers}" in text and "val loss" in text
    gen = json.loads((run.hf_model_dir / "generation_config.json").read_text())
    assert (gen["temperature"], gen["top_k"], gen["top_p"], gen["repetition_penalty"]) == (0.2, 20, 0.2, 1.2)
    tok = json.loads((run.hf_model_dir / "tokenizer_config.json").read_text())
    assert tok["tokenizer_class"] == "PreTrainedTokenizerFast"   # a class transformers 4.x knows too


def test_a_classifier_card_and_pipeline_input_reproduce_ttl_encoding(small_run, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from ttl.data.loaders import load_assin2
    from ttl.finetune import encode_example, finetune_classifier

    profile, run = small_run
    cfg = dataclasses.replace(profile.finetune, epochs=1, max_train_examples=16)
    out = tmp_path / "clf"
    finetune_classifier(run.hf_model_dir, "assin2_rte", load_assin2(), cfg, out, show_progress=False)
    meta, text = front_matter(out / "README.md")
    assert meta["pipeline_tag"] == "text-classification" and "nilc-nlp/assin2" in meta["datasets"]
    assert '"{premise}<s>{hypothesis}</s>"' in text
    row = {"premise": "O gato dorme no sofá.", "hypothesis": "Um animal descansa.", "entailment_judgment": 1}
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    ours = encode_example(tokenizer, "assin2_rte", row, cfg.max_length)
    theirs = tokenizer(f"{row['premise']}<s>{row['hypothesis']}</s>")["input_ids"]
    assert theirs == ours                                   # the card's format is the training encoding
    with torch.no_grad():
        expected = model(torch.tensor([ours])).logits.softmax(-1)[0]
    scores = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)(
        f"{row['premise']}<s>{row['hypothesis']}</s>")
    scores = scores[0] if scores and isinstance(scores[0], list) else scores   # one input: one list
    by_label = {s["label"]: s["score"] for s in scores}
    assert by_label["ENTAILED"] == pytest.approx(float(expected[1]), abs=1e-5)
