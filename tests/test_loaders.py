"""Any task's data from any source, read by the one reader: local files in the Hub's columns
(unsorted, sorted by label, with optional columns missing, other split names), the Hub
(mocked: nothing here reaches the network), and every kind of bad input."""

import gzip
import json
import socket
import warnings

import datasets
import pytest
from datasets import Dataset, DatasetDict

from helpers import write_jsonl
from ttl.config import ConfigError, load_profile, with_data_sources
from ttl.data.loaders import DataWarning, load_task_data, stratified_subset
from ttl.data.readers import DataError, corpus_texts, iter_input, read_table, resolve_source


@pytest.fixture()
def no_hub(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the Hub (datasets.load_dataset) or the network was used")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def pairs(n: int, label_of=lambda i: i % 2, offset: int = 0) -> list[dict]:
    return [{"premise": f"A pessoa {i + offset} lê um livro.", "hypothesis": f"Alguém {i + offset} lê.",
             "entailment_judgment": label_of(i)} for i in range(n)]


def comments(n: int, offset: int = 0) -> list[dict]:
    # The real HateBR has more columns; a local copy with only the two the course needs is enough.
    return [{"instagram_comments": f"comentário número {i + offset}", "offensive_language": i % 3 == 0}
            for i in range(n)]


# --------------------------------------------------------------------------- sources

def test_a_mistyped_relative_path_is_reported_at_once_not_tried_on_the_hub(tmp_path, monkeypatch, no_hub):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="data/assin2x does not exist"):
        load_task_data("assin2", "data/assin2x")
    for spec in ("./nada", "~/nada.jsonl", "nada.parquet", "a/b/c"):
        with pytest.raises(DataError, match="does not exist"):
            resolve_source(spec)
    assert resolve_source("nilc-nlp/assin2") == ("hub", "nilc-nlp/assin2")
    assert resolve_source("hub:data/assin2x") == ("hub", "data/assin2x")   # said explicitly
    with pytest.raises(DataError, match="write hub:data/assin2x"):           # the hint, for a Hub name
        resolve_source("data/assin2x")


def test_local_folder_with_dev_split_and_missing_optional_columns(tmp_path, no_hub):
    folder = tmp_path / "hatebr"
    write_jsonl(folder / "train.jsonl", comments(60))
    write_jsonl(folder / "dev.jsonl", comments(12, 100))
    write_jsonl(folder / "test.jsonl", comments(12, 200))
    dsd = load_task_data("hatebr", str(folder))
    assert {s: len(d) for s, d in dsd.items()} == {"train": 60, "validation": 12, "test": 12}
    assert dsd["validation"][0]["instagram_comments"] == "comentário número 100"
    assert dsd["train"].features["offensive_language"] == datasets.Value("bool")
    assert "offensiveness_levels" not in dsd["train"].column_names


@pytest.mark.parametrize("layout", ["valid.csv", "validation/part-0.parquet", "val-00000-of-00001.jsonl.gz"])
def test_other_split_names_and_formats(tmp_path, layout, no_hub):
    folder = tmp_path / "assin2"
    write_jsonl(folder / "training.jsonl", pairs(40))
    target = folder / layout
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = pairs(10, offset=50)
    if layout.endswith(".csv"):
        Dataset.from_list(rows).to_csv(str(target), index=False)
    elif layout.endswith(".parquet"):
        Dataset.from_list(rows).to_parquet(str(target))
    else:
        target.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    Dataset.from_list(pairs(10, offset=80)).to_parquet(str(folder / "test-00000-of-00001.parquet"))
    dsd = load_task_data("assin2_rte", str(folder))
    assert {s: len(d) for s, d in dsd.items()} == {"train": 40, "validation": 10, "test": 10}
    assert dsd["validation"]["premise"][0] == "A pessoa 50 lê um livro."
    assert dsd["train"].features["entailment_judgment"].names == ["NONE", "ENTAILMENT"]


def test_a_folder_with_only_train_is_split_like_hub_data_stratified_and_seeded(tmp_path, no_hub):
    sorted_by_label = pairs(200, label_of=lambda i: int(i >= 50))   # 50 negatives, then 150 positives
    write_jsonl(tmp_path / "only" / "train.jsonl", sorted_by_label)
    first = load_task_data("assin2", str(tmp_path / "only"))
    second = load_task_data("assin2", str(tmp_path / "only"))
    assert {s: len(d) for s, d in first.items()} == {"train": 140, "validation": 30, "test": 30}
    for split in ("validation", "test"):
        labels = first[split]["entailment_judgment"]
        assert sum(labels) / len(labels) == pytest.approx(0.75, abs=0.04)      # each class keeps its share
        assert first[split]["premise"] == second[split]["premise"]              # same seed, same split
    seen = [set(first[s]["premise"]) for s in first]
    assert sum(map(len, seen)) == 200 and len(set.union(*seen)) == 200          # nothing lost, nothing shared
    # A single file is the train split, and is cut the same way.
    single = load_task_data("assin2", str(tmp_path / "only" / "train.jsonl"))
    assert single["test"]["premise"] == first["test"]["premise"]


def test_files_a_split_cannot_be_told_for_are_named(tmp_path):
    write_jsonl(tmp_path / "d" / "train.jsonl", pairs(20))
    write_jsonl(tmp_path / "d" / "extra_rows.jsonl", pairs(5))
    with pytest.raises(DataError, match="extra_rows.jsonl"):
        load_task_data("assin2", str(tmp_path / "d"))


def test_hub_data_is_checked_and_split_names_mapped(monkeypatch):
    calls = []
    hub = DatasetDict({"train": Dataset.from_list(comments(40)), "dev": Dataset.from_list(comments(10, 50)),
                       "test": Dataset.from_list(comments(10, 90))})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or hub)
    dsd = load_task_data("hatebr", "ruanchaves/hatebr")
    assert calls == [(("ruanchaves/hatebr",), {})]
    assert [len(dsd[s]) for s in ("train", "validation", "test")] == [40, 10, 10]


# --------------------------------------------------------------------------- values

def test_labels_are_range_checked(tmp_path):
    rows = pairs(10)
    rows[6]["entailment_judgment"] = 2
    write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError, match=r"train.jsonl, row 7: entailment_judgment=2 is not a valid label"):
        load_task_data("assin2", str(tmp_path / "train.jsonl"))
    rows[6]["entailment_judgment"] = None
    write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError, match="row 7: entailment_judgment=None"):
        load_task_data("assin2", str(tmp_path / "train.jsonl"))


def test_rows_with_empty_text_are_dropped_with_a_warning_never_read_as_none(tmp_path):
    rows = comments(40)
    rows[3]["instagram_comments"] = None
    rows[5]["instagram_comments"] = "   "
    write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.warns(DataWarning, match=r"dropped 2 row\(s\) with an empty instagram_comments \(rows 4, 6\)"):
        dsd = load_task_data("hatebr", str(tmp_path / "train.jsonl"))
    texts = [t for s in dsd for t in dsd[s]["instagram_comments"]]
    assert len(texts) == 38 and "None" not in texts and all(t.strip() for t in texts)


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ('{"premise": "a", "hypothesis": "b"}\n', "missing column(s) 'entailment_judgment'"),
    ('{"premise": "a", "hypothesis": "b", "entailment_judgment": 1}\nnot json\n', "line 2: malformed JSON"),
    ('[1, 2]', "line 1: expected a JSON object"),
])
def test_bad_local_files_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "train.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_task_data("assin2", str(path))
    assert message in str(info.value) and str(path) in str(info.value)


def test_non_utf8_and_ragged_csv_are_named(tmp_path):
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes('{"text": "ação"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="latin.jsonl, line 1: not valid UTF-8"):
        list(corpus_texts(bad))
    ragged = tmp_path / "train.csv"
    ragged.write_text("premise,hypothesis,entailment_judgment\na,b,1\nc,d,0,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match="train.csv, line 3: 4 fields where the header names 3"):
        read_table(ragged)


# --------------------------------------------------------------------------- subsets

def test_subsets_are_stratified_and_seeded_never_a_prefix():
    ds = Dataset.from_list(pairs(100, label_of=lambda i: int(i >= 50)))    # sorted by label
    sub = stratified_subset(ds, 20, "assin2", seed=1)
    assert sorted(sub["entailment_judgment"]) == [0] * 10 + [1] * 10
    assert sub["premise"] != ds["premise"][:20]
    assert stratified_subset(ds, 20, "assin2", seed=1)["premise"] == sub["premise"]
    assert stratified_subset(ds, 20, "assin2", seed=2)["premise"] != sub["premise"]
    assert stratified_subset(ds, None, "assin2", seed=1) is ds


def test_a_one_class_training_set_warns(tiny_tokenizer, tmp_path):
    from ttl.data.loaders import warn_if_one_class

    ds = Dataset.from_list(pairs(30, label_of=lambda i: 1))
    with pytest.warns(DataWarning, match="single class"):
        warn_if_one_class(ds, "assin2", "the assin2 training set")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_one_class(Dataset.from_list(pairs(30)), "assin2", "balanced")


# --------------------------------------------------------------------------- the one reader

def test_one_reader_for_every_format(tmp_path, no_hub):
    texts = ["Primeiro documento.", "Segundo documento.", "Terceiro documento."]
    rows = [{"text": t, "metadata": {"n": i}} for i, t in enumerate(texts)]
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "b.json").write_text(json.dumps(rows), encoding="utf-8")
    Dataset.from_list([{"text": t} for t in texts]).to_parquet(str(tmp_path / "c.parquet"))
    Dataset.from_list([{"text": t} for t in texts]).to_csv(str(tmp_path / "d.csv"), index=False)
    (tmp_path / "txt").mkdir()
    for i, t in enumerate(texts):
        (tmp_path / "txt" / f"{i}.txt").write_text(t, encoding="utf-8")
    for source in ("a.jsonl", "b.json", "c.parquet", "d.csv", "txt"):
        assert list(corpus_texts(tmp_path / source)) == texts, source
    docs = list(iter_input(str(tmp_path / "a.jsonl")))
    assert docs[1]["metadata"] == '{"n": 1}' and docs[1]["id"].endswith("a.jsonl:2")
    assert list(corpus_texts([{"text": "x"}, {"text": " "}, {"text": "y"}])) == ["x", "y"]
    assert list(corpus_texts(tmp_path / "a.jsonl", max_documents=2)) == texts[:2]


def test_a_curated_folder_reads_its_shards_once_and_not_its_reports(tmp_path):
    write_jsonl(tmp_path / "shard-00000.jsonl", [{"text": "um"}, {"text": "dois"}])
    Dataset.from_list([{"text": "um"}, {"text": "dois"}]).to_parquet(str(tmp_path / "shard-00000.parquet"))
    write_jsonl(tmp_path / "shard-00001.jsonl", [{"text": "três"}])
    (tmp_path / "report.json").write_text('{"status": "complete"}', encoding="utf-8")
    (tmp_path / "manifest.json").write_text('{"digest": "x"}', encoding="utf-8")
    (tmp_path / ".shard-00002.jsonl.tmp").write_text('{"text": "parcial"}\n', encoding="utf-8")
    assert list(corpus_texts(tmp_path)) == ["um", "dois", "três"]


def test_corpus_texts_of_a_profile(tmp_path):
    """The sample by default; a configured local corpus, cut at max_documents, otherwise."""
    from ttl.data.loaders import load_corpus

    assert list(corpus_texts()) == [t for t in load_corpus()["text"] if t.strip()]
    write_jsonl(tmp_path / "corpus.jsonl", [{"text": f"texto {i}", "metadata": "{}"} for i in range(5)])
    profile = load_profile("smoke", data={"corpus": str(tmp_path / "corpus.jsonl"), "max_documents": 3})
    data = profile.data
    assert list(corpus_texts(data.corpus, max_documents=data.max_documents)) == ["texto 0", "texto 1", "texto 2"]


# --------------------------------------------------------------------------- --data

def test_data_assignments_go_to_the_profile():
    profile = with_data_sources(load_profile("smoke"), ["assin2_rte=my/assin2", "hatebr=./hb", "corpus=c.jsonl"])
    assert profile.data.tasks == {"assin2": "my/assin2", "hatebr": "./hb"}
    assert profile.data.corpus == "c.jsonl"
    assert load_profile("smoke").data.tasks == {}                       # the shipped profile is untouched
    from ttl.pipeline import task_source

    assert task_source(profile, "assin2_sts") == "my/assin2"            # one dataset, two tasks
    assert task_source(profile, "faquad_nli") is None                   # the sample
    with pytest.raises(ConfigError, match="NAME=SOURCE"):
        with_data_sources(profile, ["hatebr"])
    with pytest.raises(ConfigError, match="unknown task 'sst2'"):
        with_data_sources(profile, ["sst2=x"])
    with pytest.raises(ConfigError, match="data.tasks"):
        load_profile("smoke", data={"tasks": ["hatebr"]})
