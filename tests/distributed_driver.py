"""Run by tests/test_distributed.py under `accelerate launch`: a tiny pretraining run that also
records, per process, which blocks it trained on (to check the processes' shares are disjoint)."""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from helpers import tiny_profile  # noqa: E402
from ttl.data import packing  # noqa: E402
from ttl.runs import RunDir  # noqa: E402
from ttl.train import pretrain  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--tokens", required=True)
parser.add_argument("--micro", type=int, required=True)
parser.add_argument("--accum", type=int, default=1)
parser.add_argument("--steps", type=int, default=6)
parser.add_argument("--stop-after", type=int, default=None)
parser.add_argument("--fsdp", type=int, default=0)
args = parser.parse_args()

rank = int(os.environ.get("RANK", "0"))
seen = Path(args.out) / f"seen-rank{rank}.jsonl"
real_batch = packing.TokenBlocks.batch


def recording_batch(self, indices):
    if self.path.name == "train.bin":  # the training batches, not the validation ones
        seen.parent.mkdir(parents=True, exist_ok=True)
        with seen.open("a") as fh:
            fh.write(json.dumps([int(i) for i in indices]) + "\n")
    return real_batch(self, indices)


packing.TokenBlocks.batch = recording_batch
profile = tiny_profile(max_steps=args.steps, micro_batch_size=args.micro, grad_accum_steps=args.accum,
                       save_every=2, log_every=1, eval_every=3, num_threads=1, fsdp=bool(args.fsdp))
pretrain(profile, RunDir(Path(args.out)), tokens_dir=args.tokens, stop_after=args.stop_after, show_progress=False)
