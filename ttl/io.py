"""Writing files so that a crash, a full disk or a kill never leaves a half-written artifact.

Every file ``ttl`` writes goes through here: the data is written to a temporary file in the
same folder, flushed to disk (``fsync``), then renamed over the final name. ``os.replace`` is
atomic on one filesystem, so a reader sees either the old file or the new one, never a mix.
A folder (a checkpoint, a tokenizer, a model export) is built the same way in a temporary
folder beside its final place and swapped in whole by :func:`atomic_dir`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that opens files by name (the GGUF writer);
    on success the file is fsynced and renamed over ``path``, on error removed.

        with atomic_path(out / "model.gguf") as tmp:
            writer.write_to(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; fsync it and rename it over ``path`` on success.

        with atomic_open(out / "train.bin") as handle:
            for chunk in chunks:
                handle.write(chunk)

    For files too large to hold in memory (token files). If the block raises, the temporary
    file is removed and ``path`` is untouched. ``mode`` is ``"wb"`` or ``"w"``; ``kwargs``
    go to :func:`open` (``encoding=``, ``newline=``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode must be 'w' or 'wb', got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync'd, then renamed into place."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line, atomically; returns the number of rows."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def _umask() -> int:
    """The process umask. Read from /proc where it can be: setting it to read it back, the
    only other way, leaves other threads a moment in which they create world-writable files."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _follow_umask(folder: Path) -> None:
    """Give every file and folder below ``folder`` the modes the user's umask asks for.

    Some writers (safetensors, tempfile) create files readable by their owner only (0600);
    a model folder is meant to be shared like any other file the user makes.
    """
    mask = _umask()
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            executable = os.stat(path).st_mode & 0o111
            os.chmod(path, (0o666 | executable) & ~mask)


def fsync_tree(folder: str | os.PathLike) -> None:
    """fsync every file below ``folder`` and the folders themselves."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(root))


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, keep_old: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary place and swap it in whole when the block ends cleanly.

        with atomic_dir(run / "hf_model") as tmp:
            model.save_pretrained(tmp)

    If the block raises, the temporary folder is removed and ``final`` is untouched. An
    existing ``final`` is replaced only once the new one is complete: it is renamed aside
    first, then removed (or kept as ``<name>.old-N`` with ``keep_old``), so no moment leaves
    a mix of the old and the new files.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a model folder is meant to be shared
    try:
        yield tmp
        _follow_umask(tmp)
        fsync_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    try:
        if final.exists() or final.is_symlink():
            n = 1
            while (aside := final.with_name(f"{final.name}.old-{n}")).exists():
                n += 1
            os.replace(final, aside)
            old = aside
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)  # put the old folder back rather than leave nothing
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)
    if old is not None and not keep_old:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def move_aside(path: str | os.PathLike, tag: str) -> Path:
    """Rename ``path`` to ``<name>.<tag>-N`` (the first free N) and return the new path.

    How ttl gets an artifact out of the way without losing it: nothing is ever deleted to
    make room for a new one.
    """
    path = Path(path)
    n = 1
    while (aside := path.with_name(f"{path.name}.{tag}-{n}")).exists():
        n += 1
    os.replace(path, aside)
    return aside
