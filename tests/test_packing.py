import json
import os

import numpy as np
import pytest

from ttl.data.packing import TokenBlocks, open_blocks, pack_documents, read_meta


def test_every_document_ends_with_eos_and_nothing_is_lost(tmp_path, tiny_tokenizer):
    docs = ["Primeiro documento curto.", "O segundo fala de outra coisa, com números: 2024.", "Terceiro."]
    meta = pack_documents(docs, tiny_tokenizer, tmp_path, val_fraction=0.0, show_progress=False)
    stream = np.fromfile(tmp_path / "train.bin", dtype=meta["dtype"]).tolist()
    expected = []
    for d in docs:
        expected += [tiny_tokenizer.bos_token_id, *tiny_tokenizer(d, add_special_tokens=False)["input_ids"],
                     tiny_tokenizer.eos_token_id]
    assert stream == expected
    assert stream.count(tiny_tokenizer.eos_token_id) == len(docs)
    assert meta["documents"] == {"train": 3, "val": 0}


def test_blocks_overlap_by_one_so_every_token_is_a_target(tmp_path, tiny_tokenizer, sample_texts):
    meta = pack_documents(sample_texts[:30], tiny_tokenizer, tmp_path, val_fraction=0.0, show_progress=False)
    seq = 16
    blocks = open_blocks(tmp_path, "train", seq)
    stream = np.fromfile(tmp_path / "train.bin", dtype=meta["dtype"])
    targets = np.concatenate([blocks.block(i)[1:] for i in range(len(blocks))])
    # Targets are exactly the stream from its second token on, with no gap and no repeat.
    assert np.array_equal(targets, stream[1:1 + len(blocks) * seq])
    x, y = blocks.batch([0, 1])
    assert x.shape == y.shape == (2, seq)
    assert (x[:, 1:] == y[:, :-1]).all()


def test_validation_split_is_stable_and_disjoint(tmp_path, tiny_tokenizer, sample_texts):
    a = pack_documents(sample_texts[:60], tiny_tokenizer, tmp_path / "a", val_fraction=0.2, show_progress=False)
    b = pack_documents(sample_texts[:60], tiny_tokenizer, tmp_path / "b", val_fraction=0.2, show_progress=False)
    assert a["tokens"] == b["tokens"] and a["documents"]["val"] > 0
    assert a["documents"]["train"] + a["documents"]["val"] == 60


def test_batches_are_a_pure_function_of_step_and_seed(tiny_tokens):
    blocks = open_blocks(tiny_tokens, "train", 32)
    assert blocks.indices_for_step(3, 4, seed=1) == blocks.indices_for_step(3, 4, seed=1)
    assert blocks.indices_for_step(3, 4, seed=1) != blocks.indices_for_step(3, 4, seed=2)
    # One epoch visits every block exactly once.
    n = len(blocks)
    seen = sorted(i for s in range(n) for i in blocks.indices_for_step(s, 1, seed=0))
    assert seen == list(range(n))


def test_empty_corpus_is_a_clear_error_and_leaves_no_files(tmp_path, tiny_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        pack_documents(["", "   "], tiny_tokenizer, tmp_path, show_progress=False)
    assert not list(tmp_path.glob("*.bin*"))
    with pytest.raises(FileNotFoundError, match="ttl pretrain"):
        read_meta(tmp_path)


def test_non_text_document_is_rejected(tmp_path, tiny_tokenizer):
    with pytest.raises(TypeError, match="document 1"):
        pack_documents(["ok", 42], tiny_tokenizer, tmp_path, show_progress=False)


def test_too_short_token_file(tmp_path):
    np.arange(5, dtype=np.uint16).tofile(tmp_path / "x.bin")
    with pytest.raises(ValueError, match="fewer than one block"):
        TokenBlocks(tmp_path / "x.bin", 16)


# --- parallel packing and sharded token files ------------------------------------------------

def _stream(tokens_dir, split):
    from ttl.data.packing import read_tokens

    return np.asarray(read_tokens(tokens_dir, split)).tobytes()


def _with_blanks(texts):
    # Blank documents are skipped but still counted: the split decision hangs on the index.
    out = []
    for i, t in enumerate(texts):
        out.append(t)
        if i % 17 == 3:
            out.append("   ")
    return out


def test_parallel_packing_is_byte_identical_to_serial(tmp_path, tiny_tokenizer, sample_texts):
    texts = _with_blanks(sample_texts)
    serial = pack_documents(texts, tiny_tokenizer, tmp_path / "serial", val_fraction=0.2, show_progress=False)
    parallel = pack_documents(iter(texts), tiny_tokenizer, tmp_path / "parallel", val_fraction=0.2,
                              show_progress=False, num_proc=2, chunk_chars=3000)
    shards = parallel.pop("shards")
    assert parallel == serial  # the same tokens and documents in each split
    assert len(shards["train"]) > 4 and shards["val"]
    for split in ("train", "val"):
        one_file = (tmp_path / "serial" / f"{split}.bin").read_bytes()
        joined = b"".join((tmp_path / "parallel" / name).read_bytes() for name in shards[split])
        assert joined == one_file and _stream(tmp_path / "parallel", split) == one_file
    # Only the shards, meta.json and the manifest: no staging folder, no single file beside them.
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(
        ["manifest.json", "meta.json", shards["train"][0].split("/")[0]])
    # Packed again, the same content gets the same folder name (and the manifest the same digest).
    again = pack_documents(texts, tiny_tokenizer, tmp_path / "again", val_fraction=0.2, show_progress=False,
                           num_proc=2, chunk_chars=3000)
    assert again["shards"] == shards
    assert (json.loads((tmp_path / "again" / "manifest.json").read_text())["digest"]
            == json.loads((tmp_path / "parallel" / "manifest.json").read_text())["digest"])


def test_forked_and_spawned_workers_pack_the_same_bytes(tmp_path, tiny_tokenizer, sample_texts,
                                                        monkeypatch):
    import threading
    import ttl.data.packing as packing
    texts = _with_blanks(sample_texts)
    pack_documents(texts, tiny_tokenizer, tmp_path / "serial", val_fraction=0.2, show_progress=False)
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    for fork in (True, False):
        monkeypatch.setattr(packing, "_fork_is_safe", lambda fork=fork: fork)
        threads = threading.active_count()
        pack_documents(texts, tiny_tokenizer, tmp_path / str(fork), val_fraction=0.2,
                       show_progress=False, num_proc=2, chunk_chars=3000)
        assert threading.active_count() == threads  # no progress bar, no tqdm monitor thread
        for split in ("train", "val"):
            one_file = (tmp_path / "serial" / f"{split}.bin").read_bytes()
            assert _stream(tmp_path / str(fork), split) == one_file
    assert os.environ.get("TOKENIZERS_PARALLELISM") == before  # set only while forking


def test_sharded_reader_gives_the_blocks_of_one_file(tmp_path, tiny_tokenizer, sample_texts):
    pack_documents(sample_texts, tiny_tokenizer, tmp_path / "one", val_fraction=0.1, show_progress=False)
    pack_documents(sample_texts, tiny_tokenizer, tmp_path / "many", val_fraction=0.1, show_progress=False,
                   num_proc=2, chunk_chars=2000)
    for split, seq in (("train", 32), ("val", 7)):
        a, b = open_blocks(tmp_path / "one", split, seq), open_blocks(tmp_path / "many", split, seq)
        assert len(b.paths) > 1 and len(a) == len(b)
        for i in range(len(a)):
            assert np.array_equal(a.block(i), b.block(i))
        idx = a.indices_for_step(2, 4, seed=3)
        assert idx == b.indices_for_step(2, 4, seed=3)
        for x, y in zip(a.batch(idx), b.batch(idx)):
            assert torch_equal(x, y)


def torch_equal(x, y) -> bool:
    return bool((x == y).all()) and x.shape == y.shape


def test_blocks_across_shard_boundaries_and_empty_shards(tmp_path):
    stream = np.arange(100, dtype=np.uint16)
    cuts = [0, 5, 5, 37, 38, 100]  # shards of 5, 0, 32, 1 and 62 tokens
    paths = []
    for k, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        stream[lo:hi].tofile(tmp_path / f"s{k}.bin")
        paths.append(tmp_path / f"s{k}.bin")
    stream.tofile(tmp_path / "all.bin")
    one, many = TokenBlocks(tmp_path / "all.bin", 9), TokenBlocks(paths, 9)
    assert len(one) == len(many) == 11
    assert all(np.array_equal(one.block(i), many.block(i)) for i in range(len(one)))
    assert np.array_equal(many.tokens[3:99], stream[3:99])
    with pytest.raises(ValueError, match="no token files"):
        TokenBlocks([], 9)


def test_old_single_file_layout_stays_readable(tmp_path, tiny_tokenizer, sample_texts):
    # A folder packed before sharding existed: train.bin, val.bin and a meta.json without "shards".
    meta = pack_documents(sample_texts[:40], tiny_tokenizer, tmp_path, val_fraction=0.1, show_progress=False)
    assert "shards" not in meta and (tmp_path / "train.bin").is_file()
    blocks = open_blocks(tmp_path, "train", 16)
    assert blocks.path == tmp_path / "train.bin" and blocks.paths == [tmp_path / "train.bin"]
    assert _stream(tmp_path, "train") == (tmp_path / "train.bin").read_bytes()


def test_parallel_packing_replaces_and_is_replaced_whole(tmp_path, tiny_tokenizer, sample_texts):
    out = tmp_path / "tokens"
    pack_documents(sample_texts[:50], tiny_tokenizer, out, val_fraction=0.1, show_progress=False)
    meta = pack_documents(sample_texts, tiny_tokenizer, out, val_fraction=0.1, show_progress=False, num_proc=2,
                          chunk_chars=4000)
    # The single files of the previous packing are gone once the shards are the token files.
    assert not (out / "train.bin").exists() and not (out / "val.bin").exists()
    assert meta["tokens"]["train"] == len(open_blocks(out, "train", 1).tokens)
    pack_documents(sample_texts[:50], tiny_tokenizer, out, val_fraction=0.1, show_progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "meta.json", "train.bin", "val.bin"]


def test_parallel_packing_that_fails_leaves_nothing(tmp_path, tiny_tokenizer, sample_texts):
    with pytest.raises(TypeError, match="document 60"):
        pack_documents(sample_texts[:60] + [42], tiny_tokenizer, tmp_path, show_progress=False, num_proc=2,
                       chunk_chars=500)
    with pytest.raises(ValueError, match="empty"):
        pack_documents(["", "  "], tiny_tokenizer, tmp_path, show_progress=False, num_proc=2)
    assert list(tmp_path.iterdir()) == []


_KILLED_PACKER = """
import itertools, sys
from transformers import AutoTokenizer
from ttl.data.packing import pack_documents
texts = [line for line in open(sys.argv[2], encoding="utf-8").read().split("\\x1e") if line]
endless = (texts[i % len(texts)] for i in itertools.count())  # never ends: it is killed
pack_documents(endless, AutoTokenizer.from_pretrained(sys.argv[1]), sys.argv[3], show_progress=False,
               num_proc=2, chunk_chars=2000)
"""


def test_killed_parallel_packing_leaves_no_partial_artifact(tmp_path, tiny_tokenizer, sample_texts):
    import os
    import signal
    import subprocess
    import sys
    import time

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    (tmp_path / "texts").write_text("\x1e".join(sample_texts), encoding="utf-8")
    out = tmp_path / "tokens"
    before = pack_documents(sample_texts[:40], tiny_tokenizer, out, val_fraction=0.1, show_progress=False)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_PACKER, str(tmp_path / "tok"), str(tmp_path / "texts"),
                             str(out)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            staged = [f for d in out.glob(".staging-*") for f in d.glob("*.bin")]
            if len(staged) >= 4:  # well inside the run: shards written, more coming
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the packer ended by itself"
        assert len(staged) >= 4, "the packer never wrote a shard"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, as by the OOM killer
        proc.wait()
    # The previous token files are intact and still the ones read; nothing new is visible.
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == set(old)
    assert {name: (out / name).read_bytes() for name in old} == old
    assert read_meta(out) == before and len(open_blocks(out, "train", 16)) > 0
    # The next packing clears the dead staging folder and commits whole.
    meta = pack_documents(sample_texts, tiny_tokenizer, out, val_fraction=0.1, show_progress=False, num_proc=2,
                          chunk_chars=4000)
    assert not list(out.glob(".staging-*")) and meta["documents"]["train"] + meta["documents"]["val"] == len(
        sample_texts)
