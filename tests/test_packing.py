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
