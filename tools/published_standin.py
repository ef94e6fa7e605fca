"""A stand-in for a published model, to run chapters 6-9 in the ``published`` setting offline.

The released TeenyTinyLlama cannot be downloaded here (no network in CI), so this writes the
smoke run's own export in the layout of a Hub repository, plus a ``pytorch_model.bin`` that
is a pickle creating ``PICKLE_RAN`` beside it when unpickled, and a profile that points
``published.model`` at it. ``make test-published`` then runs the chapters with that profile
and fails if the pickle was ever loaded. The model is the trained smoke model, so the
chapters' checks on what a trained model does still hold.

    python tools/published_standin.py --out .published-standin
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path

MARKER = "PICKLE_RAN"


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_standin(out: Path) -> Path:
    from ttl.config import load_profile
    from ttl.pipeline import ensure_hf_model
    from ttl.runs import RunDir

    smoke = load_profile("smoke")
    export = ensure_hf_model(smoke, RunDir.for_profile("smoke").ensure(), quiet=True)
    if out.exists():
        shutil.rmtree(out)
    model = out / "model"
    # A Hub repository has no ttl manifest; the card stays (the Hub's README.md).
    shutil.copytree(export, model, ignore=shutil.ignore_patterns("manifest.json"))
    with open(model / "pytorch_model.bin", "wb") as handle:
        pickle.dump(_RunsCodeWhenUnpickled(out / MARKER), handle)
    profile = out / "profile.yaml"
    profile.write_text(f"extends: smoke\nname: published-standin\npublished:\n  model: {model.resolve()}\n",
                       encoding="utf-8")
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".published-standin"))
    args = parser.parse_args()
    print(write_standin(args.out))


if __name__ == "__main__":
    main()
