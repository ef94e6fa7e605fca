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


def test_the_card_gains_co2_and_few_shot_results_without_making_the_export_stale(small_run, tmp_path):
    from helpers import copy_run
    from ttl.io import atomic_write_json
    from ttl.manifest import read_manifest
    from ttl.pipeline import ensure_hf_model
    from ttl.train.loop import _add_emissions

    profile, run = small_run
    run = copy_run(run, tmp_path)
    meta, _ = front_matter(run.hf_model_dir / "README.md")
    assert meta["widget"][0]["text"] == "Era uma vez" and "model-index" not in meta
    digest = read_manifest(run.hf_model_dir)["digest"]
    for co2 in (0.002, 0.001):     # two training sessions (a resumed run) add up
        total = _add_emissions(run.checkpoints_dir, {"co2_kg": co2, "energy_kwh": 0.01}, country="BRA", steps=(0, 4))
    assert total["co2_kg"] == pytest.approx(0.003) and len(total["sessions"]) == 2
    atomic_write_json(run.reports_dir / "fewshot.json",
                      [{"task": "assin2_rte", "num_fewshot": 3, "macro_f1": 0.4321, "accuracy": 0.5},
                       {"task": "assin2_sts", "num_fewshot": 5, "pearson": 0.123}])
    ensure_hf_model(profile, run, build=False)
    meta, text = front_matter(run.hf_model_dir / "README.md")
    assert meta["co2_eq_emissions"] == {"emissions": 3.0, "source": "CodeCarbon", "training_type": "pre-training",
                                        "geographical_location": "BRA"}
    results = meta["model-index"][0]["results"]
    assert [r["dataset"]["type"] for r in results] == ["nilc-nlp/assin2", "nilc-nlp/assin2"]
    assert results[0]["metrics"][0] == {"type": "macro_f1", "name": "F1-macro (3-shot)", "value": 43.21}
    assert results[1]["metrics"][0]["type"] == "pearson" and "3 g CO2eq" in text
    assert read_manifest(run.hf_model_dir)["digest"] == digest       # the model did not change
