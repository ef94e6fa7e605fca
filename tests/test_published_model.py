"""A published model (``published.model``) through the loaders an export goes through.

The CI has no network, so the released TeenyTinyLlama is stood in for by a local folder with
the layout of its Hub repository: config.json and generation_config.json of a
LlamaForCausalLM, model.safetensors, a SentencePiece ``tokenizer.model`` with its converted
``tokenizer.json``, tokenizer_config.json (LlamaTokenizer, BOS added), special_tokens_map.json,
a README, and a ``pytorch_model.bin``: here a pickle that creates a file when it is unpickled,
so any code path that loads it is caught.
"""

from __future__ import annotations

import fnmatch
import json
import pickle
import shutil
import subprocess
import sys

import pytest
import torch

from ttl.config import load_profile
from ttl.model.published import (SAFE_FILES, PublishedModelError, hub_folder_name, published_folder,
                                 published_identity)
from ttl.runs import RunDir

spm = pytest.importorskip("sentencepiece")

TEXT = "O Brasil é um país grande 👋, com 214 milhões de habitantes e muitas línguas."


class _RunsCodeWhenUnpickled:
    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _write_hub_layout(folder, marker, *, seed=0, tokenizer_json=True):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ttl.data.loaders import corpus_sample_file

    folder.mkdir(parents=True)
    texts = [json.loads(line)["text"] for line in corpus_sample_file().read_text(encoding="utf-8").splitlines()]
    # TeenyTinyLlama's tokenizer: SentencePiece BPE, byte fallback, <unk> <s> </s> <pad> = 0..3.
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts[:300]), model_prefix=str(folder / "sp"),
                                   vocab_size=800, model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=3,
                                   byte_fallback=True, split_digits=True, minloglevel=2)
    (folder / "sp.model").rename(folder / "tokenizer.model")
    (folder / "sp.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "model_max_length": 2048}), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}), encoding="utf-8")
    if tokenizer_json:   # the Hub repository holds the converted fast tokenizer too
        converted = folder.parent / f".{folder.name}-converted"
        AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(converted))
        shutil.copy(converted / "tokenizer.json", folder / "tokenizer.json")
        shutil.rmtree(converted)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=800, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                         rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2, pad_token_id=3)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    (folder / "README.md").write_text("---\nlanguage: pt\n---\n# A stand-in for TeenyTinyLlama\n", encoding="utf-8")
    _RunsCodeWhenUnpickled.marker = marker
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump(_RunsCodeWhenUnpickled(), handle)
    return folder


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    marker = root / "the pickle ran"
    folder = _write_hub_layout(root / "TeenyTinyLlama-160m", marker)
    yield folder, marker
    assert not marker.exists(), "a pytorch_model.bin pickle was loaded"


@pytest.fixture(scope="module")
def run_with(hub, tmp_path_factory):
    folder, _ = hub
    profile = load_profile("smoke", published={"model": str(folder)})
    run = RunDir(tmp_path_factory.mktemp("run")).ensure()
    return profile, run


def test_the_tokenizer_is_the_sentencepiece_model_and_the_run_adopts_it(hub, run_with):
    from transformers import AutoTokenizer

    from ttl.manifest import digest_tokenizer, read_manifest
    from ttl.pipeline import ensure_tokenizer

    folder, _ = hub
    profile, run = run_with
    tokenizer = ensure_tokenizer(profile, run, quiet=True)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    assert tokenizer(TEXT)["input_ids"] == [1, *sp.encode(TEXT)]   # BOS added, as the cards' tokenizer does
    assert tokenizer.decode(tokenizer(TEXT)["input_ids"], skip_special_tokens=True) == TEXT
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (3, 2)
    manifest = read_manifest(run.tokenizer_dir)
    assert manifest["inputs"] == {"published": published_identity(folder)}
    assert manifest["digest"] == digest_tokenizer(AutoTokenizer.from_pretrained(str(folder)))
    # A reader takes it where it is and writes nothing.
    assert ensure_tokenizer(profile, run, build=False)(TEXT)["input_ids"] == tokenizer(TEXT)["input_ids"]


def test_only_tokenizer_model_is_enough(tmp_path):
    from ttl.pipeline import ensure_tokenizer

    folder = _write_hub_layout(tmp_path / "hub", tmp_path / "marker", tokenizer_json=False)
    assert not (folder / "tokenizer.json").exists()
    run = RunDir(tmp_path / "run").ensure()
    tokenizer = ensure_tokenizer(load_profile("smoke", published={"model": str(folder)}), run, quiet=True)
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    assert tokenizer(TEXT)["input_ids"] == [1, *sp.encode(TEXT)]
    assert (run.tokenizer_dir / "tokenizer.json").is_file()   # written once, for every later stage
    assert not (tmp_path / "marker").exists()


def test_a_tokenizer_saved_without_a_padding_token_gets_pad(hub, tmp_path):
    from ttl.model.published import load_published_tokenizer

    folder, _ = hub
    bare = tmp_path / "no-pad"
    shutil.copytree(folder, bare, ignore=shutil.ignore_patterns("tokenizer.json", "*.bin"))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        config = json.loads((bare / name).read_text(encoding="utf-8"))
        config.pop("pad_token")
        (bare / name).write_text(json.dumps(config), encoding="utf-8")
    tokenizer = load_published_tokenizer(bare)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<pad>", 3)


def test_the_model_is_the_published_weights_and_nothing_is_pretrained(hub, run_with):
    from transformers import LlamaForCausalLM

    from ttl.generate import SamplingConfig, generate_ids
    from ttl.pipeline import ensure_checkpoint, ensure_hf_model

    folder, _ = hub
    profile, run = run_with
    model = ensure_checkpoint(profile, run, quiet=True)
    reference = LlamaForCausalLM.from_pretrained(str(folder), use_safetensors=True).eval()
    ids = torch.tensor([[1, 324, 651, 341, 343, 457, 735, 706]])
    with torch.no_grad():
        ours, theirs = model(ids).logits, reference(ids).logits
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    greedy = SamplingConfig(max_new_tokens=12, temperature=0.0)
    with torch.no_grad():
        hf = reference.generate(ids, max_new_tokens=12, min_new_tokens=12, do_sample=False)
    assert [int(t) for t in generate_ids(model, ids, greedy)] == hf[0, ids.shape[1]:].tolist()
    assert ensure_hf_model(profile, run, quiet=True) == folder
    assert not run.checkpoints_dir.exists() or not any(run.checkpoints_dir.iterdir())
    assert not run.hf_model_dir.exists()


def test_tokens_fewshot_and_a_classifier_on_the_published_model(hub, run_with):
    from ttl.data.packing import read_meta
    from ttl.eval import evaluate_task
    from ttl.manifest import read_manifest
    from ttl.pipeline import (checkpoint_digest, ensure_checkpoint, ensure_classifier, ensure_tokenizer,
                              ensure_tokens, load_task_dataset, model_digest, run_status)

    folder, _ = hub
    profile, run = run_with
    meta = read_meta(ensure_tokens(profile, run, quiet=True))   # the run's corpus, the published tokenizer
    assert meta["vocab_size"] <= 800
    model, tokenizer = ensure_checkpoint(profile, run, quiet=True), ensure_tokenizer(profile, run, quiet=True)
    data = load_task_dataset(profile, "assin2_rte")
    res = evaluate_task(model, tokenizer, "assin2_rte", data, num_fewshot=1, max_examples=6, mode="loglik")
    assert res["examples"] == 6 and 0.0 <= res["acc"] <= 1.0
    profile_ft = load_profile("smoke", published={"model": str(folder)},
                              finetune={"epochs": 1, "max_train_examples": 24, "batch_size": 8})
    result = ensure_classifier(profile_ft, run, "hatebr", quiet=True)
    assert result["train_examples"] == 24 and 0.0 <= result["test_accuracy"] <= 1.0
    assert read_manifest(run.classifier_dir("hatebr"))["inputs"]["model"] == published_identity(folder)
    # chat tuning records the published weights as its starting point too
    assert checkpoint_digest(profile, run) == model_digest(profile, run) == published_identity(folder)
    rows = {r["stage"]: r for r in run_status(profile_ft, run)}
    assert rows["published model"]["state"] == "fresh"
    assert {rows[s]["state"] for s in ("tokenizer", "tokens", "classifier hatebr")} == {"fresh"}
    assert "checkpoint" not in rows and "hf_model" not in rows


def test_a_hub_name_downloads_safe_files_only(hub, tmp_path, monkeypatch):
    import huggingface_hub

    folder, _ = hub
    snapshot = tmp_path / "models--nicholasKluge--TeenyTinyLlama-160m" / "snapshots" / ("ab12" * 10)
    shutil.copytree(folder, snapshot, ignore=shutil.ignore_patterns("*.bin"))
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    got = published_folder("nicholasKluge/TeenyTinyLlama-160m", "step100000")
    assert got == snapshot
    repo_id, kwargs = calls[0]
    assert repo_id == "nicholasKluge/TeenyTinyLlama-160m" and kwargs["revision"] == "step100000"
    allowed = kwargs["allow_patterns"]
    listed = {p.name for p in folder.iterdir()}
    kept = {name for name in listed if any(fnmatch.fnmatch(name, pat) for pat in allowed)}
    assert kept == listed - {"pytorch_model.bin"}
    assert not any(fnmatch.fnmatch(name, pat) for pat in SAFE_FILES
                   for name in ("pytorch_model.bin", "training_args.bin", "optimizer.pt", "model.ckpt"))
    assert hub_folder_name(got) == "nicholasKluge/TeenyTinyLlama-160m@" + "ab12" * 3
    published_folder("nicholasKluge/TeenyTinyLlama-160m", download=False)
    assert calls[-1][1]["local_files_only"] is True   # ttl status never downloads


def test_offline_hub_error_names_the_way_out(monkeypatch):
    import huggingface_hub

    def offline(repo_id, **kwargs):
        raise OSError("we have no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(PublishedModelError, match="no network.*snapshot_download.*published.model"):
        published_folder("nicholasKluge/TeenyTinyLlama-160m")


def test_folders_that_cannot_serve_are_refused_with_the_fix(hub, tmp_path):
    folder, marker = hub
    only_pickle = tmp_path / "only-pickle"
    shutil.copytree(folder, only_pickle, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(PublishedModelError, match="no .safetensors.*pytorch_model.bin.*run code.*safe_serialization"):
        published_folder(str(only_pickle))
    assert not marker.exists()
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(folder, no_tokenizer, ignore=shutil.ignore_patterns("tokenizer.*"))
    with pytest.raises(PublishedModelError, match="no tokenizer"):
        published_folder(str(no_tokenizer))
    other = tmp_path / "gpt2"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}), encoding="utf-8")
    with pytest.raises(PublishedModelError, match="'gpt2' model.*Llama"):
        published_folder(str(other))
    with pytest.raises(PublishedModelError, match="revision.*local folder"):
        published_folder(str(folder), "step100000")
    with pytest.raises(PublishedModelError, match="neither a folder.*owner/name"):
        published_folder(str(tmp_path / "missing" / "deeper" / "x"))


def test_identity_follows_the_weights(hub, tmp_path):
    folder, _ = hub
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    before = published_identity(copy)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("1e-06", "1e-05"))
    assert published_identity(copy) != before
    before = published_identity(copy)
    (copy / "pytorch_model.bin").write_bytes(b"other pickle")   # never loaded: not part of it
    assert published_identity(copy) == before


def _ttl(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ttl.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_generates_from_the_folder_and_refuses_to_pretrain(hub, tmp_path):
    folder, marker = hub
    out = _ttl("generate", "--model", str(folder), "--prompt", "O Brasil", "--max-new-tokens", "5",
               "--temperature", "0", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("O Brasil")
    profile = tmp_path / "published.yaml"
    profile.write_text(f"extends: smoke\npublished:\n  model: {folder}\n", encoding="utf-8")
    out = _ttl("pretrain", "--profile", str(profile), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode != 0 and "nothing to pretrain" in out.stderr
    assert not (tmp_path / "run").exists()
    assert not marker.exists()
