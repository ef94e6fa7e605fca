"""ttl's curation steps run by datatrove: the same kept documents as `ttl curate`, on 2 tasks.

The reference is ttl's own pipeline (``run_curation`` with a trace) on the same file; the
adapter runs through datatrove's LocalPipelineExecutor. Dedup is split into datatrove
stages (signatures per task, one index pass, a filter per task), so these tests also show
that "keep the first copy" survives the split.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("datatrove")

from ttl.config import ConfigError  # noqa: E402
from ttl.data.crawl import make_raw_crawl  # noqa: E402
from ttl.data.curate import load_curation_config, run_curation  # noqa: E402
from ttl.data.curate.datatrove_adapter import (  # noqa: E402
    TtlReader, datatrove_stages, run_datatrove_curation, slurm_executors)
from ttl.data.loaders import load_corpus  # noqa: E402


@pytest.fixture(scope="module")
def crawl_records():
    # A labelled crawl of 300 clean documents: every defect class, duplicates after their origin.
    return make_raw_crawl(list(load_corpus(max_documents=300)), seed=0)


def write_lines(path: Path, records, extra_lines=()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + list(extra_lines)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def ttl_kept(config, source, out: Path):
    report = run_curation(config, str(source), out, trace=True, progress=False)
    return report, {(r["id"], r["text"]) for r in report.trace if r["removed_by"] is None}


def datatrove_kept(run):
    return {(d["id"], d["text"]) for d in run.documents()}


def test_two_local_tasks_keep_what_ttl_curate_keeps(tmp_path, crawl_records):
    crawl = write_lines(tmp_path / "crawl.jsonl", crawl_records)
    report, expected = ttl_kept(None, crawl, tmp_path / "ttl")
    run = run_datatrove_curation(None, crawl, tmp_path / "dt", tasks=2, workers=2)
    got = datatrove_kept(run)
    assert got == expected and len(got) > 100
    # Both halves of the file were curated: one shard per task, each with documents.
    shards = sorted(p.name for p in (tmp_path / "dt").glob("shard-*.jsonl"))
    assert shards == ["shard-00000.jsonl", "shard-00001.jsonl"]
    assert all((tmp_path / "dt" / name).stat().st_size > 0 for name in shards)
    # The report is ttl's, step by step: documents in and out, and why they left.
    ours = {s.name: s for s in run.report.steps}
    for ref in report.steps:
        st = ours[ref.name]
        assert (st.docs_in, st.docs_out, dict(st.removed)) == (ref.docs_in, ref.docs_out, dict(ref.removed)), ref.name
        assert st.docs_modified == ref.docs_modified, ref.name
    assert (run.report.docs_in, run.report.docs_out, run.report.status) == (report.docs_in, report.docs_out, "complete")
    assert json.loads((tmp_path / "dt" / "report.json").read_text())["docs_out"] == len(expected)
    # Duplicates really were removed across tasks: dedup saw the whole input.
    assert ours["exact_dedup"].removed["exact_duplicate"] > 0 and ours["near_dedup"].removed["near_duplicate"] > 0
    # The intermediate copies are gone; datatrove's logs and stats stay.
    assert sorted(p.name for p in run.work_dir.iterdir()) == ["logs"]


def test_folder_split_by_file_bad_lines_and_dedup_in_the_middle(tmp_path, crawl_records):
    # Two files (split by file between 2 tasks), a malformed line, and a config whose exact dedup
    # comes before the quality rules: two dedup barriers, three map stages.
    half = len(crawl_records) // 2
    folder = tmp_path / "crawl"
    write_lines(folder / "part-0.jsonl", crawl_records[:half], extra_lines=["{not json"])
    write_lines(folder / "part-1.jsonl", crawl_records[half:])
    cfg = load_curation_config()
    names = [s["name"] for s in cfg.steps]
    order = ["normalize", "exact_dedup", "line_filter", "language", "quality", "toxicity", "pii", "near_dedup"]
    cfg.steps = [cfg.steps[names.index(n)] for n in order]
    assert TtlReader(folder).by_file(2) and not TtlReader(folder).by_file(3)
    report, expected = ttl_kept(cfg, folder, tmp_path / "ttl")
    stages = datatrove_stages(cfg, folder, tmp_path / "o", tmp_path / "w", tasks=2)
    assert [(s.name, s.tasks) for s in stages] == [("map-0", 2), ("dedup-index-0", 1), ("map-1", 2),
                                                   ("dedup-index-1", 1), ("map-2", 2)]
    for tasks in (2, 3):  # 3 tasks over 2 files: split by document instead
        run = run_datatrove_curation(cfg, folder, tmp_path / f"dt{tasks}", tasks=tasks, workers=1)
        assert datatrove_kept(run) == expected
        assert run.report.n_input_errors == report.n_input_errors == 1


def test_max_documents_and_stop_on_bad_input(tmp_path, crawl_records):
    crawl = write_lines(tmp_path / "crawl.jsonl", crawl_records[:60], extra_lines=["[1, 2]"])
    cfg = load_curation_config(reader={"max_documents": 40})
    _, expected = ttl_kept(cfg, crawl, tmp_path / "ttl")
    run = run_datatrove_curation(cfg, crawl, tmp_path / "dt", tasks=2, workers=1)
    assert datatrove_kept(run) == expected and run.report.docs_in == 40
    stop = load_curation_config(on_error="stop")
    with pytest.raises(Exception, match="line 61"):
        run_datatrove_curation(stop, crawl, tmp_path / "dt-stop", tasks=2, workers=1)


def test_hub_input_and_unknown_executor_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="local files"):
        datatrove_stages(None, "hub:nicholasKluge/Pt-Corpus-Instruct", tmp_path / "o", tmp_path / "w")
    with pytest.raises(ConfigError, match="tasks"):
        datatrove_stages(None, load_corpus_path(), tmp_path / "o", tmp_path / "w", tasks=0)


def load_corpus_path() -> str:
    from ttl.data.loaders import sample_file

    return str(sample_file("corpus", "train"))


def test_the_same_stages_on_slurm(tmp_path):
    # Building the Slurm job arrays needs no cluster: they are submitted only by .run().
    executors = slurm_executors(None, load_corpus_path(), tmp_path / "o", tasks=8, work_dir=tmp_path / "w",
                                partition="cpu", time="01:00:00")
    assert [e.tasks for e in executors] == [8, 1, 8]
    assert all(later.depends is earlier for earlier, later in zip(executors, executors[1:]))
    assert executors[0].skip_completed  # a relaunch redoes only the tasks that did not finish
