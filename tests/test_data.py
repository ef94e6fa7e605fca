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
import py3langid
import pytest
import yaml
from datasets import Dataset, DatasetDict, IterableDataset

from ttl.data import loaders, sample
from ttl.data.loaders import DataError, corpus_texts, load_assin2, load_corpus, load_faquad_nli, load_hatebr

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


def test_assin2_is_not_solved_by_word_overlap(labelled):
    """Hypotheses of both labels share words with the premise, so overlap alone is a weak cue."""
    def overlap(row):
        p, h = set(sample.words(row["premise"])), set(sample.words(row["hypothesis"]))
        return len(p & h) / len(h)

    rows = list(labelled["assin2"]["train"])
    high_none = [r for r in rows if r["entailment_judgment"] == 0 and overlap(r) >= 0.8]
    low_entailed = [r for r in rows if r["entailment_judgment"] == 1 and overlap(r) < 0.8]
    assert len(high_none) >= 0.3 * len(rows) / 2
    assert len(low_entailed) >= 0.2 * len(rows) / 2


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

def _word_shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    """Word 5-grams, written here independently of ttl.data.sample."""
    tokens = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    if len(tokens) <= size:
        return {tuple(tokens)}
    return {tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


def test_corpus_has_no_exact_or_near_duplicates(corpus):
    texts = [sample.strip_instruction_tags(t) for t in corpus["text"]]
    normalised = [" ".join(t.lower().split()) for t in texts]
    assert len(set(normalised)) == len(normalised), "exact duplicate documents"
    sets = [_word_shingles(t) for t in texts]
    # Exact Jaccard for every pair that shares at least one shingle (inverted index).
    index = defaultdict(list)
    for i, shingle_set in enumerate(sets):
        for shingle in shingle_set:
            index[shingle].append(i)
    shared = defaultdict(int)
    for ids in index.values():
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                shared[(ids[a], ids[b])] += 1
    worst = max((n / (len(sets[i]) + len(sets[j]) - n), i, j) for (i, j), n in shared.items()) \
        if shared else (0.0, 0, 0)
    assert worst[0] < 0.5, (f"documents {worst[1]} and {worst[2]} are near duplicates "
                            f"(Jaccard {worst[0]:.2f} over word 5-grams)")


def test_every_corpus_document_is_portuguese(corpus):
    wrong = []
    for row in corpus:
        language = py3langid.classify(sample.strip_instruction_tags(row["text"]))[0]
        if language != "pt":
            wrong.append((json.loads(row["metadata"])["id"], language))
    assert not wrong, f"documents not identified as Portuguese: {wrong[:10]}"


def test_corpus_metadata_and_instruction_format(corpus):
    ids = []
    for row in corpus:
        meta = json.loads(row["metadata"])
        assert meta["source"] == "ttl-sample" and meta["kind"] and meta["id"].startswith(meta["kind"])
        ids.append(meta["id"])
        text = row["text"]
        if meta["kind"].startswith(sample.INSTRUCTION_PREFIX):
            assert text.startswith("<instruction>") and text.count("</instruction>") == 1
            request, answer = text[len("<instruction>"):].split("</instruction>")
            assert request.strip() == request and request and answer.strip() == answer and answer
        else:
            assert "<instruction>" not in text
        assert text == text.strip() and sample.DOC_SEPARATOR not in text.split("\n")
    assert len(set(ids)) == len(ids)


def test_corpus_is_at_least_1mb():
    """The smoke profile trains a tokenizer and a tiny model on this: it needs >= 1 MB of text."""
    path = loaders.data_dir() / "corpus" / "sample.jsonl"
    size = sum(len(t.encode("utf-8")) for t in load_corpus()["text"])
    assert size >= MIN_CORPUS_BYTES, (
        f"CORPUS TOO SMALL: {path} holds {size:,} bytes of text, the target is "
        f">= {MIN_CORPUS_BYTES:,}. Add documents to data/sources/corpus/ and run "
        "`python -m ttl.data.sample --only corpus`.")


# --------------------------------------------------------------------------- the builder

def _copy_sources(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(loaders.data_dir() / "sources", root / "sources")
    return root


@pytest.mark.parametrize("task", sorted(LABELLED_LOADERS))
def test_shipped_labelled_files_are_what_the_builder_makes(tmp_path, task):
    root = _copy_sources(tmp_path)
    counts = sample.build_labelled(task, root)
    for split, count in counts.items():
        built = (root / task / f"{split}.jsonl").read_text(encoding="utf-8")
        shipped = (loaders.data_dir() / task / f"{split}.jsonl").read_text(encoding="utf-8")
        assert built == shipped, f"data/{task}/{split}.jsonl differs from a rebuild; run python -m ttl.data.sample"
        assert count == len(shipped.splitlines())


def test_shipped_corpus_is_what_the_builder_makes(tmp_path):
    root = _copy_sources(tmp_path)
    path, count, issues = sample.build_corpus(root)
    assert not issues
    assert path.read_text(encoding="utf-8") == (loaders.data_dir() / "corpus" / "sample.jsonl").read_text(
        encoding="utf-8"), "data/corpus/sample.jsonl is stale; run python -m ttl.data.sample --only corpus"


PROSE = ("O rio atravessa a cidade de norte a sul e divide os bairros antigos dos novos, "
         "que cresceram depressa nas últimas décadas.")
OTHER = ("A feira de sábado reúne agricultores da região, que vendem frutas, verduras e queijos "
         "feitos em pequenas propriedades.")
THIRD = "Na biblioteca municipal há uma sala de leitura silenciosa aberta todos os dias da semana."


def _write_sources(root: Path, files: dict[str, str]) -> None:
    folder = root / "sources" / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_builder_formats_instructions_and_metadata(tmp_path):
    root = tmp_path / "data"
    _write_sources(root, {
        "cidades.txt": f"=====\n{PROSE}\n=====\n{OTHER}\n=====\n",
        "instrucoes_x.txt": "Resuma a frase abaixo.\nEla fala da feira.\n-----\nUma feira de produtores.\n",
    })
    path, count, issues = sample.build_corpus(root)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert count == 3 and not issues
    assert [r["text"] for r in rows] == [
        PROSE, OTHER, "<instruction>Resuma a frase abaixo.\nEla fala da feira.</instruction>Uma feira de produtores."]
    assert [json.loads(r["metadata"]) for r in rows] == [
        {"source": "ttl-sample", "kind": "cidades", "id": "cidades-00001"},
        {"source": "ttl-sample", "kind": "cidades", "id": "cidades-00002"},
        {"source": "ttl-sample", "kind": "instrucoes_x", "id": "instrucoes_x-00001"}]


def test_markdown_rule_inside_a_document_is_kept(tmp_path):
    root = tmp_path / "data"
    _write_sources(root, {"instrucoes_y.txt": f"Escreva um aviso.\n-----\n{PROSE}\n\n---\n\n{OTHER}\n"})
    path, count, issues = sample.build_corpus(root)
    text = json.loads(path.read_text(encoding="utf-8"))["text"]
    assert count == 1 and not issues
    assert text == f"<instruction>Escreva um aviso.</instruction>{PROSE}\n\n---\n\n{OTHER}"


@pytest.mark.parametrize("files, expected", [
    ({"a.txt": f"{PROSE}\n=====\n\n=====\n{OTHER}"}, "a.txt, document 2 (line 3): empty document"),
    ({"a.txt": f"{PROSE}\n====\n{OTHER}"}, "a.txt, document 1 (line 1): stray separator-like line 2"),
    ({"a.txt": f"{PROSE}\n-----\n{OTHER}"}, "stray '-----' line 2 in a prose file"),
    ({"instrucoes_a.txt": f"{PROSE}\n-----\n{OTHER}\n----\n{THIRD}"}, "stray separator-like line 4 ('----')"),
    ({"instrucoes_a.txt": f"{PROSE}\n{OTHER}"}, "instrucoes_a.txt, document 1 (line 1): an instruction document "
                                                "needs exactly one '-----'"),
    ({"instrucoes_a.txt": f"{PROSE}\n-----\n"}, "the answer is empty"),
    ({"a.txt": f"{PROSE}\n=====\n{OTHER}", "b.txt": f"{THIRD}\n=====\n{PROSE.upper()}"},
     "b.txt, document 2 (line 3) is an exact duplicate of a.txt, document 1 (line 1)"),
    ({"a.txt": f"{PROSE}\n=====\n{OTHER}\n=====\n{PROSE.replace('depressa', 'muito depressa')}"},
     "a.txt, document 3 (line 5) is an near duplicate (Jaccard"),
])
def test_builder_reports_bad_sources_and_writes_nothing(tmp_path, files, expected):
    root = tmp_path / "data"
    _write_sources(root, files)
    out = root / "corpus" / "sample.jsonl"
    out.parent.mkdir(parents=True)
    out.write_text("previous corpus\n", encoding="utf-8")
    with pytest.raises(sample.CorpusSourceError) as info:
        sample.build_corpus(root)
    assert expected in str(info.value)
    assert out.read_text(encoding="utf-8") == "previous corpus\n", "a failed build touched the corpus"
    # --skip-bad leaves the offending documents out and keeps the rest.
    path, count, issues = sample.build_corpus(root, skip_bad=True)
    assert issues and expected in " ".join(issues)
    kept = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(kept) == count and all(text in (PROSE, OTHER, THIRD) for text in kept)


def test_near_duplicate_finder_agrees_with_brute_force(tmp_path):
    base = ("Os estudantes da escola estadual organizaram uma mostra de ciências com experimentos "
            "de química, física e biologia preparados ao longo do semestre letivo inteiro").split()
    docs = []
    for k in range(12):  # variants that change more and more words
        variant = list(base)
        for j in range(k):
            variant[(j * 7) % len(variant)] = f"palavra{k}{j}"
        docs.append(sample.SourceDocument("x.txt", k + 1, 1, "x", " ".join(variant)))
    found = {(i, j) for i, j, _ in sample.find_duplicates(docs)}
    sets = [sample.shingles(d.text) for d in docs]
    brute = {(i, j) for i in range(len(docs)) for j in range(i + 1, len(docs))
             if sample.jaccard(sets[i], sets[j]) >= 0.5}
    assert brute and found == brute


def test_stats_command(capsys):
    assert sample.main(["--stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["corpus"]["documents"] == len(load_corpus())
    assert 0 < stats["corpus"]["type_token_ratio"] < 1
    assert stats["assin2"]["train"]["rows"] == len(load_assin2()["train"])


# --------------------------------------------------------------------------- loaders and the network

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
    assert LABELLED_LOADERS[task](hub_name) is labelled[task]
    assert recorder.calls == [((hub_name,), {})]
    # A Hub dataset without the expected columns is stopped with their names.
    broken = DatasetDict({"train": Dataset.from_dict({"something_else": ["x"]})})
    monkeypatch.setattr(datasets, "load_dataset", _Recorder(broken))
    with pytest.raises(DataError, match="missing column") as info:
        LABELLED_LOADERS[task](hub_name)
    for column in loaders.REQUIRED_COLUMNS[task]:
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


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ('{"premise": "a", "hypothesis": "b"}\n', "missing column(s) 'entailment_judgment'"),
    ('{"premise": "a", "hypothesis": "b", "entailment_judgment": 1}\nnot json\n', "line 2: not valid JSON"),
])
def test_bad_local_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "train.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_assin2(str(path))
    assert message in str(info.value) and str(path) in str(info.value)


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
