"""The builder of the embedded sample (``tools/build_sample.py``) and what it guarantees.

The shipped files in data/ must be exactly what the builder makes from data/sources/, and
the corpus it makes must be clean: no exact or near duplicates, every document Portuguese,
instruction documents in one format. The tool is not part of the ``ttl`` package, so it is
loaded here from its path.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import py3langid
import pytest
from datasets import Dataset, DatasetDict

from helpers import load_script
from test_data import OTHER, PROSE  # the documents the loader tests use too
from ttl.data import loaders
from ttl.data.loaders import load_assin2, load_corpus

sample = load_script("tools/build_sample.py", "build_sample")


@pytest.fixture(scope="module")
def corpus() -> Dataset:
    return load_corpus()


@pytest.fixture(scope="module")
def assin2() -> DatasetDict:
    return load_assin2()


# --------------------------------------------------------------------------- what it builds

def test_assin2_is_not_solved_by_word_overlap(assin2):
    """Hypotheses of both labels share words with the premise, so overlap alone is a weak cue."""
    def overlap(row):
        p, h = set(sample.words(row["premise"])), set(sample.words(row["hypothesis"]))
        return len(p & h) / len(h)

    rows = list(assin2["train"])
    high_none = [r for r in rows if r["entailment_judgment"] == 0 and overlap(r) >= 0.8]
    low_entailed = [r for r in rows if r["entailment_judgment"] == 1 and overlap(r) < 0.8]
    assert len(high_none) >= 0.3 * len(rows) / 2
    assert len(low_entailed) >= 0.2 * len(rows) / 2



def _word_shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    """Word 5-grams, written here independently of the builder and of ttl.data.text."""
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


# --------------------------------------------------------------------------- the builder

def _copy_sources(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(loaders.data_dir() / "sources", root / "sources")
    return root


@pytest.mark.parametrize("task", sample.LABELLED)
def test_shipped_labelled_files_are_what_the_builder_makes(tmp_path, task):
    root = _copy_sources(tmp_path)
    counts = sample.build_labelled(task, root)
    for split, count in counts.items():
        built = (root / task / f"{split}.jsonl").read_text(encoding="utf-8")
        shipped = (loaders.data_dir() / task / f"{split}.jsonl").read_text(encoding="utf-8")
        assert built == shipped, f"data/{task}/{split}.jsonl differs from a rebuild; run python tools/build_sample.py"
        assert count == len(shipped.splitlines())


def test_shipped_corpus_is_what_the_builder_makes(tmp_path):
    root = _copy_sources(tmp_path)
    path, count, issues = sample.build_corpus(root)
    assert not issues
    assert path.read_text(encoding="utf-8") == (loaders.data_dir() / "corpus" / "sample.jsonl").read_text(
        encoding="utf-8"), "data/corpus/sample.jsonl is stale; run python tools/build_sample.py --only corpus"


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
