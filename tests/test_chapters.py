"""The form every chapter keeps: objectives and times near the top, self-checks, exercises with
solutions, a summary, short code lines, and no stored outputs.

These read the notebooks as JSON only; running them is nbval's job (``make test``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Every chapter of the book, in the order of _toc.yml (issue 12 brought chapters 0-9 to this
# form; 10-12 have it too, each write-it-yourself exercise checked by a test: chapter 10 the DPO
# loss, 11 the RoPE row reordering of the GGUF export, 12 fertility).
NOTEBOOKS = [ROOT / f"{entry['file']}.ipynb"
             for part in yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))["parts"]
             for entry in part["chapters"] if entry["file"].startswith("notebooks/")]
MAX_CODE_LINE = 88


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(cells: list[dict], kind: str) -> str:
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == kind)


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def chapter(request) -> tuple[Path, list[dict]]:
    return request.param, _cells(request.param)


def test_every_chapter_of_the_book_exists():
    assert len(NOTEBOOKS) >= 10
    assert all(path.is_file() for path in NOTEBOOKS)


def test_objectives_and_times_come_first(chapter):
    _, cells = chapter
    markdown = _text(cells, "markdown")
    top = markdown[:4000]
    assert "In this chapter you will" in top
    assert re.search(r"\*\*Time\.\*\*", top), "a **Time.** paragraph near the top"
    assert re.search(r"\b(seconds?|minutes?|hours?)\b", top)


def test_depth_and_self_checks(chapter):
    _, cells = chapter
    assert len(_text(cells, "markdown").split()) >= 1200
    asserts = re.findall(r"^\s*assert\b", _text(cells, "code"), re.M)
    assert len(asserts) >= 8


def test_exercises_have_solutions_and_one_is_checked_by_a_test(chapter):
    _, cells = chapter
    markdown = _text(cells, "markdown")
    exercises = set(re.findall(r"\*\*Exercise (\d+)", markdown))
    assert 3 <= len(exercises) <= 6, sorted(exercises)
    dropdowns = markdown.count(":class: dropdown")
    solution_cells = [c for c in cells if c["cell_type"] == "code"
                      and "".join(c["source"]).startswith("# Solution to exercise")]
    # every exercise has its solution: a dropdown in the text or a solution cell
    assert dropdowns + len(solution_cells) >= len(exercises)
    assert solution_cells, "at least one write-it-yourself exercise with a solution cell"
    for cell in solution_cells:
        source = "".join(cell["source"])
        assert "hide-input" in cell["metadata"].get("tags", []), "solutions are hidden in the book"
        assert re.search(r"^check_\w+\(", source, re.M), "the solution is run against the test"


def test_a_summary_closes_the_chapter(chapter):
    _, cells = chapter
    assert "## Summary" in _text(cells, "markdown")


def test_code_lines_fit_the_column(chapter):
    _, cells = chapter
    long = [line for line in _text(cells, "code").splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, long[:3]


def test_notebooks_are_stored_without_outputs(chapter):
    _, cells = chapter
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("execution_count") is None and not cell.get("outputs")


def _cell_defining(cells: list[dict], name: str) -> str:
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return next(s for s in sources if re.search(rf"^def {name}\(", s, re.M))


def test_the_rope_exercise_of_chapter_11_passes_the_solution_and_fails_the_mistakes():
    """nbval runs the solution against check_rope_rows; this shows the check can fail: the rows
    left in place, or interleaved over the whole matrix instead of head by head, are refused."""
    import numpy as np

    cells = _cells(ROOT / "notebooks/11_export.ipynb")
    namespace = {"np": np}
    for name in ("rope_half", "check_rope_rows", "rope_rows_solution"):
        exec(_cell_defining(cells, name), namespace)  # noqa: S102 - the chapter's own cells
    check = namespace["check_rope_rows"]
    check(namespace["rope_rows_solution"])
    for wrong in (lambda w, heads: w, lambda w, heads: namespace["rope_rows_for_gguf"](w, 1)):
        with pytest.raises(AssertionError):
            check(wrong)


def test_the_block_start_exercise_of_chapter_5_passes_the_solution_and_fails_the_mistakes():
    """nbval runs the solution against check_block_start; this shows the check can fail: the
    start computed without the rank (every process on the same blocks, the bug issue 18 fixed)
    or with micro-batches and ranks that share positions (overlapping shares) is refused."""
    from ttl.train.loop import global_block_start

    cells = _cells(ROOT / "notebooks/05_pretraining.ipynb")
    namespace = {"global_block_start": global_block_start}
    for name in ("check_block_start", "block_start_solution"):
        exec(_cell_defining(cells, name), namespace)  # noqa: S102 - the chapter's own cells
    check = namespace["check_block_start"]
    check(namespace["block_start_solution"])
    check(global_block_start)
    no_rank = lambda step, micro, rank, b, accum, world: (step * accum + micro) * b  # noqa: E731
    overlapping = lambda step, micro, rank, b, accum, world: (step * accum * world + micro + rank) * b  # noqa: E731
    for wrong in (no_rank, overlapping):
        with pytest.raises(AssertionError):
            check(wrong)
