"""The run folder: where artifacts flow from chapter to chapter.

    runs/<profile>/
        corpus/        curated corpus (JSONL shards) and curation report
        tokenizer/     Hugging Face fast tokenizer folder
        tokens/        packed token files (train.bin, val.bin, meta.json)
        checkpoints/   training checkpoints (step_XXXXXXX/), plus metrics.jsonl
        hf_model/      Hugging Face LlamaForCausalLM export (+ tokenizer)
        classifiers/   fine-tuned classifiers, one folder per task
        reports/       evaluation results and figures

Each chapter reads what the previous one left here and builds it through
``ttl.pipeline`` when it is absent, so every notebook also runs alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUN_DIR_ENV = "TTL_RUN_DIR"
LOCK_FILE = ".ttl.lock"


class RunLockedError(RuntimeError):
    """Another process is writing into the run folder; the message names it."""


# Locks this process holds, by run folder: a command that takes the lock may call a stage that
# takes it again (the pipeline calls pretrain), which must not wait for itself.
_held: dict[Path, list] = {}


def repo_root(start: Path | None = None) -> Path | None:
    """The course checkout that contains ``start`` (a folder with pyproject.toml and ttl/), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "ttl").is_dir():
            return folder
    return None


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def for_profile(cls, profile_name: str, base: str | os.PathLike | None = None) -> "RunDir":
        """``$TTL_RUN_DIR`` if set, else ``<checkout>/runs/<profile>`` (or ``./runs/<profile>``)."""
        if base is None and os.environ.get(RUN_DIR_ENV):
            return cls(Path(os.environ[RUN_DIR_ENV]).expanduser().resolve())
        if base is None:
            top = repo_root()
            base = (top / "runs") if top else Path("runs")
        return cls((Path(base) / profile_name).resolve())

    def _sub(self, name: str) -> Path:
        return self.root / name

    @property
    def corpus_dir(self) -> Path:
        return self._sub("corpus")

    @property
    def tokenizer_dir(self) -> Path:
        return self._sub("tokenizer")

    @property
    def tokens_dir(self) -> Path:
        return self._sub("tokens")

    @property
    def checkpoints_dir(self) -> Path:
        return self._sub("checkpoints")

    @property
    def hf_model_dir(self) -> Path:
        return self._sub("hf_model")

    def gguf_dir(self, quant: str) -> Path:
        return self._sub("gguf") / quant.lower()

    @property
    def reports_dir(self) -> Path:
        return self._sub("reports")

    def classifier_dir(self, task: str) -> Path:
        return self._sub("classifiers") / task

    def ensure(self) -> "RunDir":
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @contextlib.contextmanager
    def lock(self, what: str = "ttl") -> Iterator["RunDir"]:
        """Hold the run folder for writing: a second process gets a RunLockedError naming the holder.

        The lock is an advisory ``flock`` on ``RUN/.ttl.lock``: the system releases it when the
        holder exits, even by a crash or a kill, so a stale lock never blocks a later run. The
        file records who holds it (process id, host, command) for the error message.
        """
        import fcntl

        if int(os.environ.get("RANK", "0")) > 0:
            # Under `accelerate launch` only the main process (rank 0) writes into the run
            # folder; the others read it and wait at barriers, so they take no lock.
            yield self
            return
        root = self.ensure().root.resolve()
        if root in _held:
            _held[root][1] += 1
            try:
                yield self
            finally:
                _held[root][1] -= 1
            return
        handle = open(root / LOCK_FILE, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunLockedError(f"{root} is in use by {holder}; wait for it to finish, or give another "
                                 "run folder (--out)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} ({what})\n")
        handle.flush()
        _held[root] = [handle, 1]
        try:
            yield self
        finally:
            _held[root][1] -= 1
            if _held[root][1] == 0:
                del _held[root]
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
