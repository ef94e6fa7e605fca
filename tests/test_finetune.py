import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from helpers import tiny_profile
from ttl.data.loaders import load_assin2, load_hatebr
from ttl.finetune import encode_example, finetune_classifier


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory, tiny_tokenizer):
    from ttl.model import Llama
    from ttl.model.hf import save_hf

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("hf") / "model"
    save_hf(Llama(tiny_profile().model), out, tokenizer=tiny_tokenizer)
    return out


def test_assin2_input_format(tiny_tokenizer):
    row = {"premise": "O gato dorme.", "hypothesis": "Um animal descansa.", "entailment_judgment": 1}
    ids = encode_example(tiny_tokenizer, "assin2", row, 64)
    bos, eos = tiny_tokenizer.bos_token_id, tiny_tokenizer.eos_token_id
    p = tiny_tokenizer("O gato dorme.", add_special_tokens=False)["input_ids"]
    h = tiny_tokenizer("Um animal descansa.", add_special_tokens=False)["input_ids"]
    assert ids == [bos, *p, bos, *h, eos]  # <s>premise<s>hypothesis</s>


def test_truncation_keeps_both_parts_and_the_final_eos(tiny_tokenizer):
    row = {"premise": "palavra " * 200, "hypothesis": "curta", "entailment_judgment": 0}
    ids = encode_example(tiny_tokenizer, "assin2", row, 32)
    assert len(ids) == 32 and ids[-1] == tiny_tokenizer.eos_token_id
    assert ids.count(tiny_tokenizer.bos_token_id) == 2


def test_finetune_selects_on_validation_and_saves_a_loadable_classifier(hf_dir, tmp_path):
    cfg = tiny_profile().finetune
    cfg.epochs = 2
    res = finetune_classifier(hf_dir, "hatebr", load_hatebr(), cfg, tmp_path / "clf", show_progress=False)
    best_val = max(h["val_macro_f1"] for h in res["history"])
    assert res["history"][res["best_epoch"] - 1]["val_macro_f1"] == best_val
    assert 0 <= res["test_macro_f1"] <= 1 and res["train_examples"] == cfg.max_train_examples
    clf = AutoModelForSequenceClassification.from_pretrained(tmp_path / "clf")
    assert clf.config.id2label == {0: "NONTOXIC", 1: "TOXIC"}
    assert AutoTokenizer.from_pretrained(tmp_path / "clf").pad_token_id == 3
    saved = json.loads((tmp_path / "clf" / "metrics.json").read_text())
    assert saved["test_accuracy"] == res["test_accuracy"]


def test_finetune_errors(hf_dir):
    cfg = tiny_profile().finetune
    with pytest.raises(ValueError, match="unknown task"):
        finetune_classifier(hf_dir, "sst2", load_assin2(), cfg)
    ds = load_assin2()
    with pytest.raises(ValueError, match="validation"):
        finetune_classifier(hf_dir, "assin2", {"train": ds["train"], "test": ds["test"]}, cfg)


def test_a_training_file_sorted_by_label_still_trains_on_both_classes(hf_dir, tmp_path):
    """max_train_examples used to take the first rows: a file listing every positive pair first
    trained a one-class classifier without a word."""
    from datasets import Dataset, DatasetDict

    ds = load_assin2()
    labels = ds["train"]["entailment_judgment"]
    train = ds["train"].select(sorted(range(len(labels)), key=lambda i: -labels[i]))  # every ENTAILED pair first
    assert set(train.select(range(40))["entailment_judgment"]) == {1}
    cfg = tiny_profile().finetune
    cfg.max_train_examples = 40
    res = finetune_classifier(hf_dir, "assin2", DatasetDict({**ds, "train": train}), cfg, show_progress=False)
    assert res["train_label_counts"] == {"UNENTAILED": 20, "ENTAILED": 20}
    one_class = Dataset.from_list([r for r in ds["train"] if r["entailment_judgment"] == 1][:40])
    with pytest.warns(UserWarning, match="single class"):
        finetune_classifier(hf_dir, "assin2", DatasetDict({**ds, "train": one_class}), cfg, show_progress=False)
