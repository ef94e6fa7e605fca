"""The embedded sample (corpus and labelled sets), its builder, and the loaders.

The sample must look exactly like the Hub datasets it stands for (columns and
dtypes in tests/fixtures/hub_features.yaml, in the Hub's own YAML format), be clean
(no duplicates, Portuguese, balanced labels, no sentence shared by two splits), be
reproducible from data/sources/, and the loaders must never touch the network.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections import defaultdict
from pathlib import Path

import datasets
import pytest
import yaml
from datasets import Dataset, DatasetDict, IterableDataset

from ttl.data import loaders
from ttl.data.loaders import DataError, corpus_texts, load_assin2, load_corpus, load_faquad_nli, load_hatebr
from ttl.tasks import get_dataset

FIXTURES = Path(__file__).parent / "fixtures"
HUB_SPECS = yaml.safe_load((FIXTURES / "hub_features.yaml").read_text(encoding="utf-8"))
LABELLED_LOADERS = {"assin2": load_assin2, "hatebr": load_hatebr, "faquad_nli": load_faquad_nli}
LABEL_COLUMN = {"assin2": "entailment_judgment", "hatebr": "offensive_language", "faquad_nli": "label"}
MIN_ROWS = {"assin2": 1000, "hatebr": 1000, "faquad_nli": 500}
MIN_CORPUS_BYTES = 1_000_000


def hub_features(task: str) -> datasets.Features:
    return datasets.Features._from_yaml_list(HUB_SPECS[task]["features"])


@pytest.fixture(scope="module")
def corpus() -> Dataset:
    return load_corpus()


@pytest.fixture(scope="module")
def labelled() -> dict[str, DatasetDict]:
    return {task: load(None) for task, load in LABELLED_LOADERS.items()}


# --------------------------------------------------------------------------- shape

def test_corpus_columns_and_dtypes_match_hub(corpus):
    assert isinstance(corpus, Dataset)
    assert corpus.features == hub_features("corpus")
    assert list(corpus.column_names) == list(hub_features("corpus"))


@pytest.mark.parametrize("task", sorted(LABELLED_LOADERS))
def test_labelled_columns_dtypes_and_splits_match_hub(labelled, task):
    dsd = labelled[task]
    assert isinstance(dsd, DatasetDict)
    assert list(dsd) == HUB_SPECS[task]["splits"]
    for split, ds in dsd.items():
        assert ds.features == hub_features(task), f"{task}/{split}"


@pytest.mark.parametrize("task", sorted(LABELLED_LOADERS))
def test_labelled_sets_are_big_enough(labelled, task):
    total = sum(len(ds) for ds in labelled[task].values())
    assert total >= MIN_ROWS[task], f"{task} has {total} rows, want >= {MIN_ROWS[task]}"
    for split, ds in labelled[task].items():
        assert len(ds) >= 50, f"{task}/{split} has only {len(ds)} rows"


@pytest.mark.parametrize("task", sorted(LABELLED_LOADERS))
def test_label_balance_per_split(labelled, task):
    for split, ds in labelled[task].items():
        labels = [int(v) for v in ds[LABEL_COLUMN[task]]]
        assert set(labels) == {0, 1}
        share = sum(labels) / len(labels)
        assert 0.45 <= share <= 0.55, f"{task}/{split}: positive share {share:.3f}"


_SPELLING = {"vc": "você", "pq": "porque", "tb": "também", "q": "que", "n": "não", "pra": "para"}


def _normalise(text: str) -> str:
    """Lower case, letters and digits only, informal spellings expanded, laughter (kkkk) dropped,
    so that two comments differing only in spelling or emoji count as the same sentence."""
    tokens = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return " ".join(_SPELLING.get(t, t) for t in tokens if not set(t) == {"k"})


def _sentences(task: str, ds: Dataset) -> set[str]:
    columns = {"assin2": ("premise", "hypothesis"), "hatebr": ("instagram_comments",),
               "faquad_nli": ("question", "answer")}[task]
    return {_normalise(text) for column in columns for text in ds[column]}


@pytest.mark.parametrize("task", sorted(LABELLED_LOADERS))
def test_no_sentence_shared_between_splits(labelled, task):
    splits = {split: _sentences(task, ds) for split, ds in labelled[task].items()}
    names = sorted(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = splits[a] & splits[b]
            assert not shared, f"{task}: {len(shared)} sentence(s) in both {a} and {b}, e.g. {sorted(shared)[:3]}"


def test_assin2_pairs_are_unique_and_scores_consistent(labelled):
    rows = [row for ds in labelled["assin2"].values() for row in ds]
    pairs = [(r["premise"], r["hypothesis"]) for r in rows]
    assert len(set(pairs)) == len(pairs), "duplicate premise/hypothesis pairs"
    assert all(p != h for p, h in pairs), "a hypothesis equal to its premise"
    ids = [r["sentence_pair_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    scores = {0: [], 1: []}
    for r in rows:
        assert 1.0 <= r["relatedness_score"] <= 5.0
        scores[r["entailment_judgment"]].append(r["relatedness_score"])
    entailed_high = sum(s >= 3.5 for s in scores[1]) / len(scores[1])
    assert entailed_high >= 0.8, f"only {entailed_high:.0%} of entailments score >= 3.5"
    assert sum(scores[1]) / len(scores[1]) > sum(scores[0]) / len(scores[0]) + 0.3
    # NONE scores are spread out (unrelated claims down to ~1, negations near 4).
    assert min(scores[0]) < 2.0 and max(scores[0]) > 4.0


def test_hatebr_levels_agree_with_binary_label(labelled):
    for split, ds in labelled["hatebr"].items():
        levels = ds["offensiveness_levels"]
        for offensive, level in zip(ds["offensive_language"], levels):
            assert offensive == (level > 0), split
        assert set(levels) == {0, 1, 2, 3}, split
        texts = [_normalise(t) for t in ds["instagram_comments"]]
        assert len(set(texts)) == len(texts), f"duplicate comments in {split}"


def test_faquad_every_question_has_an_answer_and_a_distractor(labelled):
    for split, ds in labelled["faquad_nli"].items():
        labels_per_question = defaultdict(set)
        for row in ds:
            labels_per_question[row["question"]].add(row["label"])
        assert all(labels == {0, 1} for labels in labels_per_question.values()), split


# --------------------------------------------------------------------------- corpus quality

def test_corpus_is_at_least_1mb():
    """The smoke profile trains a tokenizer and a tiny model on this: it needs >= 1 MB of text."""
    path = loaders.data_dir() / "corpus" / "sample.jsonl"
    size = sum(len(t.encode("utf-8")) for t in load_corpus()["text"])
    assert size >= MIN_CORPUS_BYTES, (
        f"CORPUS TOO SMALL: {path} holds {size:,} bytes of text, the target is "
        f">= {MIN_CORPUS_BYTES:,}. Add documents to data/sources/corpus/ and run "
        "`python tools/build_sample.py --only corpus`.")


# --------------------------------------------------------------------------- loaders and the network

PROSE = ("O rio atravessa a cidade de norte a sul e divide os bairros antigos dos novos, "
         "que cresceram depressa nas últimas décadas.")
OTHER = ("A feira de sábado reúne agricultores da região, que vendem frutas, verduras e queijos "
         "feitos em pequenas propriedades.")


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network (or datasets.load_dataset) was used")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_embedded_sample_needs_no_network(no_network):
    assert len(load_corpus()) > 0
    assert isinstance(load_corpus(streaming=True), IterableDataset)
    assert len(load_corpus(max_documents=5)) == 5
    for task, load in LABELLED_LOADERS.items():
        assert set(load()) == {"train", "validation", "test"}, task


def test_corpus_texts_yields_strings(corpus):
    texts = list(corpus_texts(corpus, max_documents=7))
    assert len(texts) == 7 and all(isinstance(t, str) and t for t in texts)
    assert texts == corpus["text"][:7]
    assert list(corpus_texts([{"text": "a"}, {"text": " "}, {"text": "b"}])) == ["a", "b"]
    with pytest.raises(DataError, match="'text'"):
        list(corpus_texts([{"body": "a"}]))


class _Recorder:
    def __init__(self, result):
        self.result, self.calls = result, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


def test_hub_corpus_is_streamed_with_the_right_arguments(monkeypatch):
    stream = Dataset.from_dict({"text": ["um", "dois", "três"], "metadata": ["{}"] * 3}).to_iterable_dataset()
    recorder = _Recorder(stream)
    monkeypatch.setattr(datasets, "load_dataset", recorder)
    ds = load_corpus("nicholasKluge/Pt-Corpus-Instruct", max_documents=2)
    assert recorder.calls == [(("nicholasKluge/Pt-Corpus-Instruct",), {"split": "train", "streaming": True})]
    assert list(corpus_texts(ds)) == ["um", "dois"]


@pytest.mark.parametrize("task, hub_name", [("assin2", "nilc-nlp/assin2"), ("hatebr", "ruanchaves/hatebr"),
                                            ("faquad_nli", "ruanchaves/faquad-nli")])
def test_hub_labelled_sets_are_loaded_and_checked(monkeypatch, labelled, task, hub_name):
    recorder = _Recorder(labelled[task])
    monkeypatch.setattr(datasets, "load_dataset", recorder)
    loaded = LABELLED_LOADERS[task](hub_name)
    assert recorder.calls == [((hub_name,), {})]
    for split in ("train", "validation", "test"):
        assert loaded[split].to_list() == labelled[task][split].to_list()
    # A Hub dataset without the expected columns is stopped with their names.
    broken = DatasetDict({"train": Dataset.from_dict({"something_else": ["x"]})})
    monkeypatch.setattr(datasets, "load_dataset", _Recorder(broken))
    with pytest.raises(DataError, match="missing column") as info:
        LABELLED_LOADERS[task](hub_name)
    for column in get_dataset(task).required:
        assert repr(column) in str(info.value)


def test_single_split_hub_dataset_gets_seeded_validation_and_test(monkeypatch):
    rows = Dataset.from_dict({"instagram_comments": [f"comentário {i}" for i in range(100)],
                              "offensive_language": [i % 2 == 0 for i in range(100)]})
    monkeypatch.setattr(datasets, "load_dataset", _Recorder(DatasetDict({"train": rows})))
    first, second = load_hatebr("ruanchaves/hatebr"), load_hatebr("ruanchaves/hatebr")
    assert list(first) == ["train", "validation", "test"]
    assert [len(first[s]) for s in first] == [70, 15, 15]
    texts = [set(first[s]["instagram_comments"]) for s in first]
    assert set.union(*texts) == set(rows["instagram_comments"]) and sum(map(len, texts)) == 100
    assert first["test"]["instagram_comments"] == second["test"]["instagram_comments"]


@pytest.mark.parametrize("error", [ConnectionError("Couldn't reach 'x' on the Hub (OfflineModeIsEnabled)"),
                                   TimeoutError("timed out")])
def test_unreachable_hub_gives_a_clear_message(monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(datasets, "load_dataset", fail)
    for call in (lambda: load_corpus("nicholasKluge/Pt-Corpus-Instruct"), lambda: load_assin2("nilc-nlp/assin2")):
        with pytest.raises(DataError, match="Could not reach the Hugging Face Hub") as info:
            call()
        assert "name=None" in str(info.value)


def test_real_offline_mode_error_becomes_our_message(monkeypatch):
    """With HF_HUB_OFFLINE the real load_dataset raises without any network access."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(DataError, match="Could not reach the Hugging Face Hub"):
        load_assin2("ttl-course/no-such-dataset-for-tests")


# --------------------------------------------------------------------------- local files

def test_local_folder_is_loaded_and_cast_to_hub_dtypes(no_network):
    dsd = load_assin2(str(FIXTURES / "hub_like" / "assin2"))
    assert list(dsd) == ["train", "validation", "test"]
    assert dsd["train"].features == hub_features("assin2")
    assert dsd["train"][0]["entailment_judgment"] == 1


def test_local_corpus_file_and_parquet(tmp_path, no_network):
    rows = [{"text": PROSE, "metadata": "{}"}, {"text": OTHER, "metadata": "{}"}]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    Dataset.from_list(rows).to_parquet(str(tmp_path / "c.parquet"))
    for path in (jsonl, tmp_path / "c.parquet"):
        ds = load_corpus(str(path))
        assert ds.features == hub_features("corpus") and ds["text"] == [PROSE, OTHER]
    # A folder of shards (with a report.json beside them, which is not data).
    shards = tmp_path / "shards"
    shards.mkdir()
    shutil.copy(jsonl, shards / "shard-00000.jsonl")
    shutil.copy(jsonl, shards / "shard-00001.jsonl")
    (shards / "report.json").write_text('{"kept": 4}', encoding="utf-8")
    assert load_corpus(str(shards))["text"] == [PROSE, OTHER, PROSE, OTHER]


def test_missing_local_path_and_bad_corpus_columns(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_hatebr(str(tmp_path / "nowhere"))
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"body": "texto"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="missing column\\(s\\) 'text'"):
        load_corpus(str(bad))
    with pytest.raises(DataError, match="max_documents"):
        load_corpus(max_documents=0)
    with pytest.raises(DataError, match="single split"):
        load_corpus(split="test")


def test_data_dir_override(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    (copy / "corpus").mkdir(parents=True)
    (copy / "corpus" / "sample.jsonl").write_text(
        json.dumps({"text": PROSE, "metadata": "{}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    monkeypatch.setenv(loaders.DATA_DIR_ENV, str(copy))
    assert load_corpus()["text"] == [PROSE]
    with pytest.raises(DataError, match="rebuild|Rebuild"):
        load_assin2()
    monkeypatch.setenv(loaders.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(DataError, match="TTL_DATA_DIR"):
        load_corpus()
