"""The training-step benchmark's own machinery (its figures are measured by running it, not here)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers import load_script, tiny_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    yield load_script("benchmarks/train_step.py", "bench_train_step")
    sys.modules.pop("bench_train_step", None)


def test_blocks_alternate_and_flip_order(bench):
    calls = []
    steps = {"ours": lambda: calls.append("o"), "hf": lambda: calls.append("h")}
    blocks, first = bench.time_blocks(steps, warmup=2, n=6, block=3, device=torch.device("cpu"))
    assert set(first) == {"ours", "hf"}
    assert calls[:4] == ["o", "o", "h", "h"]                     # warm-up: first call + one more each
    assert "".join(calls[4:]) == "ooohhh" + "hhhooo"             # two rounds, the second in reverse order
    assert [len(b) for b in blocks["ours"]] == [3, 3] and len(blocks["hf"]) == 2


def test_bench_config_runs_both_models_on_the_same_weights(bench):
    config = tiny_profile().model
    ours, hf = bench.build_pair(config, torch.device("cpu"), seed=0)
    x = torch.randint(0, config.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(ours(x).logits, hf(input_ids=x).logits, rtol=1e-5, atol=1e-5)
    r = bench.bench_config(config, 2, 16, torch.device("cpu"), warmup=1, steps=4, compile_=False, bf16=False, block=2)
    assert r["ours_tps"] > 0 and r["hf_tps"] > 0 and r["ratio"] > 0
    assert r["ratio_iqr"][0] <= r["ratio"] <= r["ratio_iqr"][1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_keep_freed_memory_stops_page_faults():
    # In a child process: the setting is process-wide and cannot be undone. The child starts
    # with glibc's initial mmap threshold (128 KiB) pinned, so that by default every 16 MiB
    # block is mapped afresh; glibc otherwise raises the threshold by itself, sometimes.
    code = textwrap.dedent(f"""
        import importlib.util, resource, sys, torch
        spec = importlib.util.spec_from_file_location("b", {str(ROOT / "benchmarks" / "train_step.py")!r})
        bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
        def faults_per_round():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(5):
                # 6 x 16 MiB alive at once, then freed: like a step's activations, more than
                # glibc's default trim threshold, so by default the heap shrinks each time
                held = [torch.ones(4 << 20) for _ in range(6)]
                del held
            return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
        faults_per_round()
        default = faults_per_round()
        ok = bench.keep_freed_memory()
        faults_per_round()
        print(default, ok, faults_per_round(), bench.keep_freed_memory())
    """)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    default, ok, kept, again = float(out[0]), out[1], float(out[2]), out[3]
    if ok != "True":
        pytest.skip("this C library has no glibc mallopt")
    assert default > 4000           # at least 16 MiB = 4,096 pages mapped afresh each time by default
    assert kept < 50 and again == "True"
