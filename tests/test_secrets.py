"""Tokens and keys never reach a run folder (the original scripts logged them with the run config).

A run is made the way a user makes one, through the command line, with fake credentials in the
environment (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, WANDB_API_KEY, ...), the trackers on (TensorBoard
through accelerate, CodeCarbon), and one more fake token handed to `--set` as a setting. Then
every byte of every file the run wrote (corpus, tokenizer, tokens, checkpoints, manifests,
metrics, TensorBoard event files, emissions, the lock file) is searched for each secret, in
plain text and in the encodings a writer might use (JSON escaping, UTF-16, base64).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ttl.cli import main

SECRETS = {
    "HF_TOKEN": "hf_FakeTokenForTheSecretsTest0123456789",
    "HUGGING_FACE_HUB_TOKEN": "hf_AnotherFakeHubToken9876543210abc",
    "HF_API_TOKEN": "hf_ThirdFakeToken_ApiVariant_13579",
    "WANDB_API_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f0deadbeef",
    "GITHUB_TOKEN": "ghp_FakeGithubTokenForTheTest24680ace",
    "AWS_SECRET_ACCESS_KEY": "FakeAwsSecretKey/ForTheTest+0123456789abcd",
}
SET_SECRET = "hf_TokenHandedToSetByMistake_112233445566"
MARKER_SEED = 987_650_123      # a value passed through --set that *must* be recorded (control)

PROFILE = """\
name: secrets-test
model: {vocab_size: 512, hidden_size: 64, intermediate_size: 160, num_layers: 2, num_heads: 4,
        num_kv_heads: 2, max_seq_len: 64}
tokenizer: {vocab_size: 512}
data: {max_documents: 60}
train: {seq_len: 32, micro_batch_size: 4, max_steps: 4, warmup_steps: 1, log_every: 1, eval_every: 2,
        eval_batches: 1, save_every: 2, num_threads: 1, log_with: [tensorboard],
        track_emissions: true}
"""


def encodings(secret: str) -> list[bytes]:
    """The ways a secret could be spelled inside a file."""
    raw = secret.encode()
    return [raw, json.dumps(secret).encode(), secret.encode("utf-16-le"), base64.b64encode(raw),
            base64.urlsafe_b64encode(raw)]


def files_holding(root: Path, secret: str) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if any(form in data for form in encodings(secret)):
                found.append(str(path.relative_to(root)))
    return found


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory):
    """A tiny pretraining run through `ttl pretrain`, with every fake credential set."""
    mp = pytest.MonkeyPatch()
    for name, value in SECRETS.items():
        mp.setenv(name, value)
    mp.setenv("TQDM_DISABLE", "1")
    root = tmp_path_factory.mktemp("secrets")
    profile = root / "secrets-test.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    run = root / "run"
    try:
        code = main(["pretrain", "--profile", str(profile), "--out", str(run),
                     "--set", f"train.seed={MARKER_SEED}"])
    finally:
        mp.undo()
    assert code == 0
    return run


def test_the_run_wrote_what_it_should(secret_run):
    """The trackers were on and wrote their files: the search below has something to search."""
    assert list((secret_run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    assert (secret_run / "checkpoints" / "emissions.json").is_file()
    assert (secret_run / "checkpoints" / "step_0000004" / "config.json").is_file()
    # The control: a value given through --set is recorded, so the search can find such values.
    assert files_holding(secret_run, str(MARKER_SEED)), "--set values should be in the run config"


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_environment_secret_is_in_any_file_of_the_run(secret_run, name):
    assert files_holding(secret_run, SECRETS[name]) == [], f"{name} leaked into the run folder"


def test_a_token_handed_to_set_is_refused_and_not_written(tmp_path, capsys, monkeypatch):
    """No setting can hold a credential: an unknown key stops the command before anything is
    written, and the error names the key without repeating the value."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    profile = tmp_path / "secrets-test.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    run = tmp_path / "run"
    for setting in (f"train.hub_token={SET_SECRET}", f"data.hf_token={SET_SECRET}",
                    f"wandb.api_key={SET_SECRET}"):
        assert main(["pretrain", "--profile", str(profile), "--out", str(run), "--set", setting]) == 2
        out, err = capsys.readouterr()
        assert setting.split("=")[0].split(".")[1] in err or "wandb" in err, err
        assert SET_SECRET not in out + err
    written = [p for p in run.rglob("*") if p.is_file()] if run.exists() else []
    assert not [p for p in written if SET_SECRET.encode() in p.read_bytes()]
    assert not [p for p in written if p.suffix != ".lock" and p.name != ".ttl.lock"], written
