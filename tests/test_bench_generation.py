"""The generation benchmark's own machinery (its figures are measured by running it, not here)."""

import sys

import pytest
import torch

from helpers import load_script


@pytest.fixture(scope="module")
def bench():
    yield load_script("benchmarks/generation.py", "bench_generation")
    sys.modules.pop("bench_generation", None)


def test_round_robin_rotates_the_order(bench):
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = bench.time_round_robin(fns, rounds=3, device=torch.device("cpu"))
    assert calls[:3] == ["a", "b", "c"]                       # warm-up
    assert calls[3:] == list("abc") + list("bca") + list("cab")
    assert all(len(t) == 3 for t in times.values())


def test_report_compares_the_three_decoders_on_the_same_tokens(bench, tmp_path):
    out = tmp_path / "generation.md"
    assert bench.main(["--new-tokens", "3", "--rounds", "1", "--threads", "1", "--out", str(out)]) == 0
    report = out.read_text(encoding="utf-8")
    row = [line for line in report.splitlines() if line.startswith("| 3 |")]
    assert len(row) == 1 and "| yes |" in row[0]
    assert row[0].count("x |") == 2                            # both ratios


def test_prompt_plus_new_tokens_must_fit_the_context(bench, tmp_path):
    with pytest.raises(SystemExit, match="does not fit"):
        bench.main(["--new-tokens", "100000", "--out", str(tmp_path / "x.md")])
