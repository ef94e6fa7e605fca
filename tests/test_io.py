"""ttl.io: a write that fails leaves the old file or folder as it was, and nothing else behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ttl.io import (atomic_dir, atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_jsonl,
                    atomic_write_text)


class Boom(RuntimeError):
    pass


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture()
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_writes_land_whole(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "olá\n")            # the folder is created
    atomic_write_json(tmp_path / "c.json", {"é": [1, 2]})
    assert atomic_write_jsonl(tmp_path / "d.jsonl", ({"n": i} for i in range(3))) == 3
    with atomic_open(tmp_path / "e.txt", "w") as handle:
        handle.write("ação")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "olá\n"
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8")) == {"é": [1, 2]}
    assert (tmp_path / "d.jsonl").read_text(encoding="utf-8") == '{"n": 0}\n{"n": 1}\n{"n": 2}\n'
    assert (tmp_path / "e.txt").read_text(encoding="utf-8") == "ação"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "c.json", "d.jsonl", "e.txt", "sub"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "train.bin"
    path.write_bytes(b"old")
    with pytest.raises(Boom):
        with atomic_open(path) as handle:
            handle.write(b"half of the new")
            raise Boom
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["train.bin"]

    def rows():
        yield {"n": 1}
        raise Boom
    with pytest.raises(Boom):
        atomic_write_jsonl(path, rows())
    assert path.read_bytes() == b"old"

    def no_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", no_disk)                      # the data is written, the flush fails
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["train.bin"]


def test_atomic_open_refuses_modes_that_are_not_a_new_file(tmp_path):
    for mode in ("a", "r+", "rb", "xb"):
        with pytest.raises(ValueError, match="mode"):
            with atomic_open(tmp_path / "x", mode):
                pass
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                       (0o002, 0o664, 0o775)])
def test_permissions_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    atomic_write_text(tmp_path / "f.txt", "x")
    with atomic_open(tmp_path / "g.bin") as handle:
        handle.write(b"x")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
    assert mode_of(tmp_path / "f.txt") == file_mode
    assert mode_of(tmp_path / "g.bin") == file_mode
    assert mode_of(tmp_path / "model") == dir_mode
    assert mode_of(tmp_path / "model" / "config.json") == file_mode


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    final = tmp_path / "tokenizer"
    final.mkdir()
    (final / "old.json").write_text("old")
    (final / "shared.json").write_text("old")
    with atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp != final
        assert (final / "old.json").exists()                       # the old folder is whole until the end
        (tmp / "shared.json").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "new.bin").write_bytes(b"new")
    assert sorted(p.relative_to(final).as_posix() for p in final.rglob("*")) == ["shared.json", "sub",
                                                                                  "sub/new.bin"]
    assert (final / "shared.json").read_text() == "new"            # no file of the old folder is left
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer"]    # no temporary or old folder either


def test_atomic_dir_that_fails_keeps_the_old_folder(tmp_path):
    final = tmp_path / "hf_model"
    final.mkdir()
    (final / "config.json").write_text("old")
    with pytest.raises(Boom):
        with atomic_dir(final) as tmp:
            (tmp / "config.json").write_text("half")
            raise Boom
    assert [p.name for p in final.iterdir()] == ["config.json"] and (final / "config.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["hf_model"]
    with pytest.raises(Boom):                                         # nothing at all before: nothing after
        with atomic_dir(tmp_path / "new") as tmp:
            raise Boom
    assert [p.name for p in tmp_path.iterdir()] == ["hf_model"]


def test_atomic_dir_puts_the_old_folder_back_when_the_swap_fails(tmp_path, monkeypatch):
    final = tmp_path / "ckpt"
    final.mkdir()
    (final / "weights").write_text("old")
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(str(src)).startswith(".ckpt.tmp-"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="Input/output"):
        with atomic_dir(final) as tmp:
            (tmp / "weights").write_text("new")
    assert (final / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_atomic_dir_keep_old(tmp_path):
    final = tmp_path / "run"
    for version in ("1", "2", "3"):
        with atomic_dir(final, keep_old=True) as tmp:
            (tmp / "v").write_text(version)
    assert (final / "v").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.old-1", "run.old-2"]
    assert [(tmp_path / f"run.old-{n}" / "v").read_text() for n in (1, 2)] == ["1", "2"]
