#!/usr/bin/env bash
# What this project checks and times on a GPU, one stage per call of at most about 8 minutes.
#
#   bash benchmarks/gpu_session.sh tests     # the compiled kernels and the model with kernels vs PyTorch
#   bash benchmarks/gpu_session.sh kernels   # benchmarks/kernels.py: each kernel vs eager, compile, Liger
#   bash benchmarks/gpu_session.sh train     # benchmarks/train_step.py: TTL-160m tokens/s and MFU, bf16
#   bash benchmarks/gpu_session.sh train-460m  # the same for TTL-460m
#   bash benchmarks/gpu_session.sh fsdp      # ttl's FSDP2 (train.fsdp, fully_shard) against DDP, 10 steps
#
# Written for the lent H100/H200 machines (see the developers' guide): their image has torch,
# triton, transformers, accelerate and pytest, and nothing can be installed there, so this uses
# the checkout through PYTHONPATH and needs nothing else. Logs and result tables go to $OUT when
# it is set (the device tool brings that folder back), else to benchmarks/results/.
# Each stage has its own time limit, below the device tool's 10 minutes a call.
set -u -o pipefail
stage=${1:?usage: bash benchmarks/gpu_session.sh tests|kernels|train|train-460m|fsdp}
out=${OUT:-benchmarks/results}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
py=${PYTHON:-python3}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$py" -c 'import torch, triton, transformers; print("torch", torch.__version__, "triton", triton.__version__,
"transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
} 2>&1 | tee "$out/gpu_env.txt"

case "$stage" in
  tests)
    timeout 480 "$py" -m pytest -q -p no:cacheprovider tests/test_kernels_cuda.py 2>&1 | tee "$out/test_kernels_cuda.txt"
    ;;
  kernels)
    timeout 480 "$py" benchmarks/kernels.py --out "$out" 2>&1 | tee "$out/kernels.log"
    ;;
  train | train-460m)
    # 20 timed steps in blocks of 5 per model and mode; eager and torch.compile (compile times apart).
    profile=ttl-160m
    [ "$stage" = train-460m ] && profile=ttl-460m
    timeout 520 "$py" benchmarks/train_step.py --gpu-only --gpu-compile --gpu-profiles "$profile" \
      --warmup 3 --steps 20 --block 5 --out "$out/train_step_gpu_$profile.md" 2>&1 | tee "$out/train_step_$profile.log"
    ;;
  fsdp)
    # ttl's own FSDP2 path (train.fsdp: fully_shard on each Block, then the model; launched like
    # DDP, not through ttl/configs/accelerate/fsdp.yaml) on a TTL-160m-shaped model, bf16, 10
    # steps on random tokens (nothing downloaded). With 2+ GPUs: ttl.train.pretrain on 2
    # processes with DDP, then with FSDP, same steps; the losses must agree to bf16 rounding and
    # the FSDP checkpoint must load into one process. With one GPU ttl does not shard (it needs
    # 2+ processes), so fully_shard runs directly on a world of one (NCCL): ttl's shard_model
    # and gather_full_state against the same model unsharded.
    tmp=$(mktemp -d)
    cat > "$tmp/fsdp_check.py" <<'PY'
import json, os, sys
from pathlib import Path

import numpy as np
import torch

from ttl.config import load_profile
from ttl.runs import RunDir
from ttl.train import pretrain

mode, root = sys.argv[1], Path(sys.argv[2])
tokens = root / "tokens"
if mode == "tokens":                        # random ids in ttl's packed format
    tokens.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    counts = {"train": 400_000, "val": 40_000}
    for split, n in counts.items():
        rng.integers(4, 32000, n, dtype=np.uint16).tofile(tokens / f"{split}.bin")
    (tokens / "meta.json").write_text(json.dumps({
        "dtype": "uint16", "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2,
        "tokens": counts, "documents": {"train": 1, "val": 1}, "val_fraction": 0.1, "seed": 0}))
    sys.exit(0)
train = {"micro_batch_size": 2, "grad_accum_steps": 2, "max_steps": 10, "warmup_steps": 2,
         "log_every": 1, "eval_every": 10, "eval_batches": 2, "save_every": 10,
         "log_with": [], "precision": "bf16", "fsdp": mode == "fsdp"}
profile = load_profile("ttl-160m", train=train)
if mode in ("ddp", "fsdp"):                 # under accelerate launch, 2 processes
    pretrain(profile, RunDir(root / mode), tokens_dir=tokens, show_progress=False)
    sys.exit(0)
if mode == "compare":
    from ttl.train.checkpoint import load_checkpoint_model

    rows = {m: [json.loads(line)["loss"] for line in
                (root / m / "checkpoints" / "metrics.jsonl").read_text().splitlines()]
            for m in ("ddp", "fsdp")}
    for step, (a, b) in enumerate(zip(rows["ddp"], rows["fsdp"]), 1):
        print(f"step {step:2d}  ddp {a:.5f}  fsdp {b:.5f}  diff {abs(a - b):.1e}")
    assert len(rows["ddp"]) == len(rows["fsdp"]) == 10
    assert max(abs(a - b) for a, b in zip(rows["ddp"], rows["fsdp"])) < 2e-2
    model = load_checkpoint_model(root / "fsdp" / "checkpoints" / "step_0000010")
    print(f"fsdp checkpoint loads into one process: {model.num_parameters():,} parameters")
    sys.exit(0)
# mode "one-gpu": under torch.distributed.run with one process
import copy

import torch.distributed as dist

from ttl.model import Llama
from ttl.train.loop import gather_full_state, make_adamw, shard_model

dist.init_process_group("nccl")
device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
torch.cuda.set_device(device)
torch.manual_seed(0)
plain = Llama(profile.model).to(device)
sharded = copy.deepcopy(plain)
shard_model(sharded)
opts = [make_adamw(m.optimizer_groups(0.01), device, lr=3e-4) for m in (plain, sharded)]
x = torch.randint(0, 32000, (2, 2048), device=device)
for step in range(5):
    losses = []
    for m, opt in zip((plain, sharded), opts):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = m(x[:, :-1], x[:, 1:], return_logits=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    print(f"step {step + 1}  plain {losses[0]:.5f}  fully_shard {losses[1]:.5f}")
    assert abs(losses[0] - losses[1]) < 2e-2
full = gather_full_state(sharded, opts[1])["model_state"]
reference = {k: v.detach().cpu().float() for k, v in plain.state_dict().items()}
assert set(full) == set(reference), set(full) ^ set(reference)
diff = max((full[k].float() - reference[k]).abs().max().item() for k in reference)
print(f"largest weight difference after 5 steps: {diff:.1e}; "
      f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
assert diff < 1e-2
dist.destroy_process_group()
PY
    ngpu=$(nvidia-smi -L | wc -l)
    "$py" "$tmp/fsdp_check.py" tokens "$tmp"
    if [ "$ngpu" -ge 2 ]; then
      for mode in ddp fsdp; do
        timeout 200 "$py" -m accelerate.commands.launch --config_file ttl/configs/accelerate/ddp.yaml \
          --num_processes 2 "$tmp/fsdp_check.py" "$mode" "$tmp" 2>&1 | tee "$out/fsdp_$mode.log"
      done
      "$py" "$tmp/fsdp_check.py" compare "$tmp" 2>&1 | tee "$out/fsdp_compare.txt"
    else
      timeout 300 "$py" -m torch.distributed.run --standalone --nproc_per_node 1 \
        "$tmp/fsdp_check.py" one-gpu "$tmp" 2>&1 | tee "$out/fsdp_one_gpu.txt"
    fi
    rm -rf "$tmp"
    ;;
  *)
    echo "unknown stage $stage: use tests, kernels, train, train-460m or fsdp" >&2
    exit 2
    ;;
esac
