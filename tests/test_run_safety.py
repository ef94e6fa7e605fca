"""A run folder never loses or executes anything: pickle-free checkpoints, damaged ones skipped,
--no-resume keeps the old run, one writer at a time, exports swapped in whole, one-line errors."""

import errno
import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import copy_run, listing, tiny_profile
from ttl.cli import main, os_error_message
from ttl.runs import RunDir, RunLockedError
from ttl.train import latest_checkpoint, pretrain
from ttl.train.checkpoint import CheckpointWarning, load_trainer_state


def rows(run: RunDir) -> list[dict]:
    return [json.loads(line) for line in (run.checkpoints_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture()
def trained(tiny_tokens, tmp_path):
    """A run trained 8 steps, checkpoints at 4 and 8."""
    run = RunDir(tmp_path / "run")
    pretrain(tiny_profile(max_steps=8, save_every=4, log_every=2), run, tokens_dir=tiny_tokens, show_progress=False)
    return run


def test_checkpoints_hold_no_pickle_and_load_without_torch_load(trained, monkeypatch):
    ckpt = latest_checkpoint(trained.checkpoints_dir)
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "manifest.json", "model.safetensors",
                                                      "trainer.json", "trainer.safetensors"]
    # A pickle planted in a downloaded run folder is never opened: nothing calls torch.load.
    (ckpt / "trainer.pt").write_bytes(b"cos\nsystem\n(S'echo owned'\ntR.")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load (pickle) was used"))
    state = load_trainer_state(ckpt)
    assert state["step"] == 8 and isinstance(state["optimizer"]["param_groups"][0]["betas"], tuple)
    assert torch.equal(state["rng_cpu"], state["rng_cpu"]) and state["rng_cpu"].dtype == torch.uint8


def test_a_damaged_latest_checkpoint_is_skipped_for_the_newest_intact_one(trained, tiny_tokens):
    root = trained.checkpoints_dir
    weights = root / "step_0000008" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])     # a truncated copy
    with pytest.warns(CheckpointWarning, match=r"step_0000008 \(model.safetensors does not match its sha256"):
        assert latest_checkpoint(root).name == "step_0000004"
    # Resuming goes on from step 4, and the metrics past it are kept in a copy, not lost.
    with pytest.warns(CheckpointWarning):
        result = pretrain(tiny_profile(max_steps=8, save_every=4, log_every=2), trained, tokens_dir=tiny_tokens,
                          show_progress=False)
    assert result.checkpoint.name == "step_0000008" and [r["step"] for r in rows(trained)] == [2, 4, 6, 8]
    saved = [json.loads(line)["step"] for line in (root / "metrics.jsonl.until-8").read_text().splitlines()]
    assert saved == [2, 4, 6, 8]


def test_a_missing_trainer_state_is_reported_not_silently_skipped(trained):
    (trained.checkpoints_dir / "step_0000008" / "trainer.json").unlink()
    with pytest.warns(CheckpointWarning, match="step_0000008 .missing trainer.json"):
        assert latest_checkpoint(trained.checkpoints_dir).name == "step_0000004"


def test_latest_never_points_outside_the_run_folder(trained, tmp_path):
    outside = tmp_path / "elsewhere" / "step_0000099"
    outside.mkdir(parents=True)
    for target in ("../elsewhere/step_0000099", str(outside), "step_0000004"):
        (trained.checkpoints_dir / "latest").write_text(target)
        found = latest_checkpoint(trained.checkpoints_dir)
        assert found.parent == trained.checkpoints_dir
    assert found.name == "step_0000004"   # a valid hint is followed


def test_no_resume_moves_the_old_run_aside_and_starts_clean(trained, tiny_tokens):
    """It used to delete each new checkpoint as soon as it was written (the old run had higher steps)."""
    short = tiny_profile(max_steps=4, save_every=2, log_every=2)
    result = pretrain(short, trained, tokens_dir=tiny_tokens, resume=False, show_progress=False)
    root = trained.checkpoints_dir
    assert result.checkpoint == root / "step_0000004" and result.checkpoint.is_dir()
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000002", "step_0000004"]
    assert [r["step"] for r in rows(trained)] == [2, 4]
    old = trained.root / "checkpoints.old-1"
    assert (old / "step_0000008" / "model.safetensors").is_file() and (old / "metrics.jsonl").is_file()
    assert latest_checkpoint(root).name == "step_0000004"


def test_metrics_after_a_resume_equal_the_uninterrupted_run(tiny_tokens, tmp_path):
    """save_every=3 and log_every=2: the resume falls inside a logging window, which is restored."""
    profile = tiny_profile(max_steps=8, save_every=3, log_every=2, eval_every=100)
    straight = RunDir(tmp_path / "a")
    pretrain(profile, straight, tokens_dir=tiny_tokens, show_progress=False)
    resumed = RunDir(tmp_path / "b")
    pretrain(profile, resumed, tokens_dir=tiny_tokens, stop_after=3, show_progress=False)
    pretrain(profile, resumed, tokens_dir=tiny_tokens, show_progress=False)
    a, b = rows(straight), rows(resumed)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [2, 4, 6, 8]
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-6), (x["step"], x["loss"], y["loss"])


def test_files_follow_the_umask(trained, tmp_path):
    ckpt = latest_checkpoint(trained.checkpoints_dir)
    old = os.umask(0o022)
    os.umask(old)
    expected_file = 0o666 & ~old
    assert ckpt.stat().st_mode & 0o777 == 0o777 & ~old
    for name in ("model.safetensors", "trainer.json", "manifest.json"):
        assert (ckpt / name).stat().st_mode & 0o777 == expected_file, name


def test_one_writer_at_a_time(tmp_path, capsys):
    run = RunDir(tmp_path / "run").ensure()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ttl.runs import RunDir\n"
         f"with RunDir(__import__('pathlib').Path({str(run.root)!r})).lock('a test'):\n"
         "    print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"in use by process {holder.pid} .*a test"):
            with run.lock("second"):
                pass
        assert main(["pretrain", "--out", str(run.root), "--max-steps", "2"]) == 2
        assert f"in use by process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with run.lock("after"):   # released when the holder died, without any cleanup
        with run.lock("nested, same process"):
            pass


def test_export_replaces_a_folder_whole_or_refuses(small_run, tmp_path, capsys, monkeypatch):
    profile, run = small_run
    monkeypatch.setattr("ttl.cli.load_profile", lambda *a, **k: profile)
    copy = copy_run(run, tmp_path)
    to = tmp_path / "exported"
    assert main(["export", "--out", str(copy.root), "--to", str(to)]) == 0
    # Another model's export there: refused, untouched; --overwrite replaces it whole.
    manifest = json.loads((to / "manifest.json").read_text())
    manifest["inputs"]["checkpoint"] = "0" * 64
    (to / "manifest.json").write_text(json.dumps(manifest))
    (to / "extra_from_the_other_model.bin").write_bytes(b"x")
    before = listing(to)
    assert main(["export", "--out", str(copy.root), "--to", str(to)]) == 2
    assert "export of another checkpoint" in capsys.readouterr().err and listing(to) == before
    assert main(["export", "--out", str(copy.root), "--to", str(to), "--overwrite"]) == 0
    assert not (to / "extra_from_the_other_model.bin").exists()
    assert (to / "config.json").is_file()


def test_os_errors_are_one_line_messages(tmp_path, capsys):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    assert main(["pretrain", "--out", str(a_file / "run"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plain.txt" in err and "Traceback" not in err
    full = os_error_message(OSError(errno.ENOSPC, "No space left on device", "/data/run/x"))
    assert full.startswith("No space left on device: /data/run/x. Free some space")
    assert "read-only" in os_error_message(OSError(errno.EROFS, "Read-only file system", "/ro"))


def test_curate_fails_when_no_input_line_is_readable_and_takes_hub_names(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\nnor this\n")
    assert main(["curate", "--input", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no document of" in err and "line 1: malformed JSON" in err
    import datasets

    stream = datasets.Dataset.from_list([{"text": "Um documento em português, longo o bastante para passar."}])
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: stream.to_iterable_dataset())
    assert main(["curate", "--input", "hub:someone/corpus", "--out", str(tmp_path / "h"),
                 "--config", str(tmp_path / "none.yaml")]) == 2      # the config is checked, the name accepted
    assert "none.yaml" in capsys.readouterr().err


def test_bad_steps_and_settings_are_refused_before_any_work(tmp_path, capsys):
    for argv, message in ((["pretrain", "--max-steps", "0"], "max_steps must be a positive number"),
                          (["pretrain", "--max-steps", "-3"], "max_steps must be a positive number"),
                          (["pretrain", "--set", "train.lr=abc"], "train.lr must be a number, got 'abc'"),
                          (["pretrain", "--set", "train.log_every=0"], "train.log_every must be greater than 0"),
                          (["pretrain", "--set", "lr=3"], "SECTION.KEY=VALUE"),
                          (["eval", "--tasks", "nosuch"], "unknown task 'nosuch'")):
        assert main([*argv, "--out", str(tmp_path / "run")]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_tokenizer_smaller_than_asked_says_so(tmp_path, capsys):
    from ttl.tokenizer import train_tokenizer
    from ttl.tokenizer.train import VocabularyWarning

    with pytest.warns(VocabularyWarning, match="asked for 2,000 tokens, the training text supports"):
        train_tokenizer(["uma frase curta"] * 20, 2000, show_progress=False)
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": f"frase {i} curta."}) + "\n" for i in range(30)))
    assert main(["tokenizer", "train", "--input", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "t"),
                 "--vocab-size", "2000"]) == 0
    captured = capsys.readouterr()
    assert "warning: asked for 2,000 tokens" in captured.err and "(asked for 2000)" in captured.out


def test_unusable_checkpoints_are_kept_aside_not_mixed_with_a_new_run(trained, tiny_tokens):
    """Checkpoints of an older ttl (trainer.pt) cannot be resumed: a new run starts beside them."""
    root = trained.checkpoints_dir
    for step in ("step_0000004", "step_0000008"):
        (root / step / "trainer.json").unlink()
        (root / step / "trainer.pt").write_bytes(b"old format")
    with pytest.warns(CheckpointWarning, match="no intact checkpoint"):
        result = pretrain(tiny_profile(max_steps=4, save_every=2, log_every=2), trained, tokens_dir=tiny_tokens,
                          show_progress=False)
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000002", "step_0000004"]
    assert result.checkpoint == root / "step_0000004"
    assert (trained.root / "checkpoints.old-1" / "step_0000008" / "trainer.pt").is_file()
