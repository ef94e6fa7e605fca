import math

import pytest
import torch

from helpers import tiny_profile
from ttl.runs import RunDir
from ttl.train import pretrain
from ttl.train.continual import DecoupledAdamW, MixedBlocks, continue_pretraining
from ttl.train.schedule import stage_lr


def test_decoupled_decay_does_not_follow_the_learning_rate():
    lr, wd = 1e-3, 0.1
    p = torch.nn.Parameter(torch.ones(1))
    q = torch.nn.Parameter(torch.ones(1))
    ours = DecoupledAdamW([p], lr=lr, weight_decay=wd, fused=True)
    torchs = torch.optim.AdamW([q], lr=lr, weight_decay=wd)
    p.grad, q.grad = torch.zeros(1), torch.zeros(1)     # no gradient: only the decay moves them
    ours.step()
    torchs.step()
    assert float(p.detach()) == pytest.approx(1 - wd)             # p - wd * p
    assert float(q.detach()) == pytest.approx(1 - lr * wd)        # p - lr * wd * p
    # A loaded state (a resume; accelerate's prepare loads one too) keeps the decay a number:
    # torch's Adam sets its own boolean `decoupled_weight_decay` then, and 1 - True is 0.
    ours.load_state_dict(ours.state_dict())
    ours.step()
    assert float(p.detach()) == pytest.approx((1 - wd) ** 2)


def test_stage_schedules_by_hand():
    const = dict(schedule="constant", max_lr=1e-5, warmup_steps=10, max_steps=100)
    assert stage_lr(0, **const) == pytest.approx(1e-6)
    assert all(stage_lr(s, **const) == pytest.approx(1e-5) for s in range(9, 100))
    cos = dict(schedule="cosine", max_lr=1.0, warmup_steps=0, max_steps=40, min_lr_ratio=0.1)
    for s in (0, 10, 20, 39):
        assert stage_lr(s, **cos) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * s / 40)))
    with pytest.raises(ValueError, match="schedule"):
        stage_lr(0, schedule="linear", max_lr=1.0, warmup_steps=0, max_steps=1)


def test_mix_shares_are_realised(tiny_tokens):
    from ttl.data.packing import open_blocks

    blocks = open_blocks(tiny_tokens, "train", 32)
    mix = MixedBlocks({"new": blocks, "replay": blocks}, {"new": 0.85, "replay": 0.15}, seed=3)
    shares = mix.realised(2000)
    assert shares["new"] == pytest.approx(0.85, abs=0.01)
    assert shares["replay"] == pytest.approx(0.15, abs=0.01)
    x1, _ = mix.batch(40, 8)
    x2, _ = mix.batch(40, 8)
    assert torch.equal(x1, x2)                           # a pure function of the positions


def _profile():
    p = tiny_profile(max_steps=4, save_every=4)
    p.continual.sources = {"new": "unused", "replay": "run"}
    p.continual.stage_1 = type(p.continual.stage_1)(steps=6, lr=1e-3, warmup_steps=2, schedule="constant")
    p.continual.stage_2 = type(p.continual.stage_1)(steps=4, lr=1e-3, warmup_steps=0, schedule="cosine",
                                                    mix={"new": 0.7, "replay": 0.3})
    p.train.save_every = 3
    return p


def test_continual_resume_is_exact_and_starts_from_the_checkpoint(tiny_tokens, tmp_path):
    profile = _profile()
    base = RunDir(tmp_path / "base")
    result = pretrain(profile, base, tokens_dir=tiny_tokens, show_progress=False)
    src = {"new": tiny_tokens, "replay": tiny_tokens}
    straight = continue_pretraining(profile, RunDir(tmp_path / "a"), from_checkpoint=result.checkpoint,
                                    stages=("stage_1",), source_dirs=src, show_progress=False)["stage_1"]
    run_b = RunDir(tmp_path / "b")
    stopped = continue_pretraining(profile, run_b, from_checkpoint=result.checkpoint, stages=("stage_1",),
                                   source_dirs=src, stop_after=3, show_progress=False)["stage_1"]
    assert stopped.checkpoint.name == "step_0000003"
    resumed = continue_pretraining(profile, run_b, from_checkpoint=result.checkpoint, stages=("stage_1",),
                                   source_dirs=src, show_progress=False)["stage_1"]
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), f"{name} differs after resuming"
    from ttl.manifest import read_manifest
    assert read_manifest(resumed.checkpoint)["from_checkpoint"] == str(result.checkpoint)
    assert "share_new" in resumed.history[-1]


def test_stage_one_starts_from_the_checkpoint_weights(tiny_tokens, tmp_path, monkeypatch):
    import ttl.train.continual as continual

    profile = _profile()
    result = pretrain(profile, RunDir(tmp_path / "base"), tokens_dir=tiny_tokens, show_progress=False)
    seen = {}

    def spy(*args, model, **kw):
        seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}
        raise RuntimeError("stop")

    monkeypatch.setattr(continual, "_pretrain", spy)
    with pytest.raises(RuntimeError, match="stop"):
        continue_pretraining(profile, RunDir(tmp_path / "c"), from_checkpoint=result.checkpoint,
                             source_dirs={"new": tiny_tokens, "replay": tiny_tokens}, show_progress=False)
    for k, v in result.model.state_dict().items():
        assert torch.equal(seen["state"][k], v), k


def test_a_stage_given_in_part_keeps_its_own_defaults():
    from ttl.config import load_profile

    p = load_profile("smoke", continual={"stage_2": {"steps": 5}, "stage_1": {"lr": 1e-5}})
    assert p.continual.stage_2.steps == 5 and p.continual.stage_2.schedule == "cosine"
    assert p.continual.stage_2.mix == {"new": 0.7, "replay": 0.3} and p.continual.stage_2.warmup_steps == 0
    assert p.continual.stage_1.lr == 1e-5 and p.continual.stage_1.schedule == "constant"
    p = load_profile("smoke", continual={"stage_1": {"mix": {"new": 1.0}}})
    assert p.continual.stage_1.mix == {"new": 1.0}
