import json
import math

import pytest
import torch

from helpers import tiny_profile
from ttl.runs import RunDir
from ttl.train import latest_checkpoint, lr_at, pretrain
from ttl.train.checkpoint import load_trainer_state


def test_schedule_warmup_peak_and_floor():
    kw = dict(max_lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.55)          # half-way down the cosine
    assert lr_at(110, **kw) == pytest.approx(0.1)
    assert lr_at(500, **kw) == pytest.approx(0.1)
    lrs = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_schedule_matches_pytorch_cosine():
    # After warmup our cosine is torch's CosineAnnealingLR with eta_min = min_lr.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50, eta_min=0.2)
    for s in range(50):
        assert lr_at(s + 5, max_lr=2.0, warmup_steps=5, max_steps=55, min_lr_ratio=0.1) == pytest.approx(
            opt.param_groups[0]["lr"])
        opt.step()
        sched.step()


def test_loss_falls_and_metrics_are_logged(tiny_tokens, tmp_path):
    profile = tiny_profile(max_steps=30, lr=5e-3, log_every=5, eval_every=10)
    result = pretrain(profile, RunDir(tmp_path), tokens_dir=tiny_tokens, show_progress=False)
    losses = [loss for _, loss in result.losses()]
    assert losses[-1] < losses[0] - 0.5
    assert losses[0] < math.log(512) + 1.0  # starts near the uniform guess
    val = result.val_losses()
    assert val and all(math.isfinite(v) for _, v in val)
    rows = [json.loads(line) for line in (tmp_path / "checkpoints" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20, 25, 30]
    assert rows[1]["val_ppl"] == pytest.approx(math.exp(rows[1]["val_loss"]))


def test_resume_is_exact(tiny_tokens, tmp_path):
    profile = tiny_profile(max_steps=8, save_every=4, grad_accum_steps=2)
    straight = pretrain(profile, RunDir(tmp_path / "a"), tokens_dir=tiny_tokens, show_progress=False)
    run_b = RunDir(tmp_path / "b")
    stopped = pretrain(profile, run_b, tokens_dir=tiny_tokens, stop_after=4, show_progress=False)
    assert stopped.checkpoint.name == "step_0000004"
    resumed = pretrain(profile, run_b, tokens_dir=tiny_tokens, show_progress=False)
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), f"{name} differs after resuming"
    # The metrics log has no duplicated steps after the resume.
    steps = [json.loads(l)["step"] for l in (tmp_path / "b/checkpoints/metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_checkpoints_are_complete_and_pruned(tiny_tokens, tmp_path):
    profile = tiny_profile(max_steps=8, save_every=2, keep_checkpoints=2)
    pretrain(profile, RunDir(tmp_path), tokens_dir=tiny_tokens, show_progress=False)
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000006", "step_0000008"]
    assert (root / "latest").read_text() == "step_0000008"
    assert load_trainer_state(latest_checkpoint(root))["step"] == 8
    # A half-written checkpoint (a crash during saving) is never taken for the latest one.
    (root / "step_0000010.tmp").mkdir()
    (root / "latest").unlink()
    assert latest_checkpoint(root).name == "step_0000008"


def test_vocab_mismatch_is_explained(tiny_tokens, tmp_path):
    profile = tiny_profile()
    profile.model.vocab_size = 100
    with pytest.raises(ValueError, match="vocab_size"):
        pretrain(profile, RunDir(tmp_path), tokens_dir=tiny_tokens, show_progress=False)


def test_make_adamw_is_fused_on_cpu_and_matches_the_reference():
    from ttl.train import make_adamw

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(37, 5)), torch.nn.Parameter(torch.randn(5))]
    ref_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    hyper = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    opt = make_adamw(params, torch.device("cpu"), **hyper)
    ref = torch.optim.AdamW(ref_params, foreach=False, **hyper)      # the one-tensor-at-a-time loop
    assert opt.defaults["fused"] is True
    for _ in range(5):
        grads = [torch.randn_like(p) for p in params]
        for p, q, g in zip(params, ref_params, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    for p, q in zip(params, ref_params):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)


def test_peak_flops_by_gpu_name():
    from ttl.train.loop import peak_flops_by_name

    assert peak_flops_by_name("NVIDIA A100-SXM4-40GB") == 312e12
    assert peak_flops_by_name("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops_by_name("NVIDIA A10G") == 70e12          # not the A10's 125e12
    assert peak_flops_by_name("nvidia a10") == 125e12
    assert peak_flops_by_name("Tesla T4") == 65e12
    assert peak_flops_by_name("Some Other GPU") is None


def test_metrics_go_to_tensorboard_through_accelerate_and_secrets_stay_out(tiny_tokens, tmp_path, monkeypatch):
    """The run's logs and checkpoints hold the profile and the metrics, never the environment."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    secret = "hf_DoNotLeakThis0123456789"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("WANDB_API_KEY", secret)
    run = RunDir(tmp_path / "run")
    result = pretrain(tiny_profile(max_steps=6, log_every=2), run, tokens_dir=tiny_tokens, show_progress=False)
    events = list((run.root / "logs").rglob("events.out.tfevents.*"))
    assert events
    scalars = {}
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars[tag] = [e.value for e in acc.Scalars(tag)]
    assert scalars["loss"] == pytest.approx([row["loss"] for row in result.history], rel=1e-6)
    for path in run.root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_missing_tracker_is_skipped_with_a_warning(tiny_tokens, tmp_path):
    profile = tiny_profile(max_steps=2, log_every=1)
    profile.train.log_with = ["trackio_not_installed_here"]
    with pytest.warns(UserWarning, match="not installed"):
        pretrain(profile, RunDir(tmp_path), tokens_dir=tiny_tokens, show_progress=False)
    assert (tmp_path / "checkpoints" / "metrics.jsonl").is_file()
