"""`ttl plan` against figures computed by hand, and against the published TeenyTinyLlama runs."""

import json

import pytest
import torch

from ttl.cli import main
from ttl.config import ConfigError, load_profile
from ttl.model import Llama
from ttl.plan import parse_gpus, plan


def test_the_tinyllama_shape_has_its_published_parameter_count():
    # embeddings and head 2 x 32000 x 2048, per layer q/o 2 x 2048^2, k/v 2 x 2048 x 256 (4 KV heads
    # of 64), MLP 3 x 2048 x 5632, two norms; then the final norm.
    per_layer = 2 * 2048 * 2048 + 2 * 2048 * 256 + 3 * 2048 * 5632 + 2 * 2048
    assert per_layer * 22 + 2 * 32000 * 2048 + 2048 == 1_100_048_384
    assert Llama.count_parameters(load_profile("ttl-1b").model) == 1_100_048_384


def test_plan_matches_the_hand_computation_for_ttl_160m():
    p = plan(load_profile("ttl-160m"), "1xA100", mfu=0.1, price_per_gpu_hour=2.0, pue=1.2)
    n_matmul = 162_417_408 - 32000 * 768 - (2 * 12 + 1) * 768     # the embedding lookup and norms are no matmul
    fpt = 6 * n_matmul + 12 * 12 * 768 * 2048
    tokens = 458_000 * 8192
    hours = tokens * fpt / (312e12 * 0.1) / 3600
    assert p["flops_per_token"] == fpt and p["tokens"] == tokens
    assert p["hours"] == pytest.approx(hours) and p["cost"] == pytest.approx(hours * 2.0)
    assert p["energy_kwh"] == pytest.approx(400 * hours * 1.2 / 1000)
    assert p["disk_tokens_gb"] == pytest.approx(tokens * 2 / 1e9)
    assert p["memory_per_gpu_ddp_gb"] == pytest.approx(162_417_408 * 16 / 1e9)


def test_the_published_runs_are_about_ten_percent_mfu_on_one_a100():
    """About 36 h (160m) and 280 h (460m) on one A100: the plan at 10% MFU says the same."""
    assert plan(load_profile("ttl-160m"), "1xA100", mfu=0.1)["hours"] == pytest.approx(36, rel=0.1)
    assert plan(load_profile("ttl-460m"), "1xA100", mfu=0.1)["hours"] == pytest.approx(280, rel=0.1)


def test_more_gpus_split_the_state_with_fsdp_not_with_ddp():
    one, eight = (plan(load_profile("ttl-1b"), g, mfu=0.4) for g in ("1xH100", "8xH100"))
    assert eight["memory_per_gpu_ddp_gb"] == one["memory_per_gpu_ddp_gb"]
    assert eight["memory_per_gpu_fsdp_gb"] == pytest.approx(one["memory_per_gpu_fsdp_gb"] / 8)
    assert eight["tokens"] == 8 * one["tokens"] and eight["hours"] == pytest.approx(one["hours"])


def test_plan_command_and_bad_input(capsys):
    assert main(["plan", "--profile", "ttl-460m", "--gpus", "8xH100", "--mfu", "0.4", "--price", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "time on 8xH100 at 40% MFU" in out and "memory per GPU, FSDP" in out
    assert main(["plan", "--profile", "ttl-160m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 162_417_408
    assert parse_gpus("1xA100-80GB").memory_gb == 80 and parse_gpus("H100").count == 1
    for bad in ("8xV100", "x", "0xH100"):
        with pytest.raises(ConfigError):
            parse_gpus(bad)
    assert main(["plan", "--mfu", "1.5"]) == 2
    assert "--mfu is a share" in capsys.readouterr().err


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = load_profile("smoke").model
    plain, ckpt = Llama(config), Llama(config)
    ckpt.load_state_dict(plain.state_dict())
    ckpt.activation_checkpointing = True
    x = torch.randint(0, config.vocab_size, (2, 32))
    for model in (plain, ckpt):
        model.train()
        model(x, torch.roll(x, -1, 1), return_logits=False).loss.backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=name)
