#!/usr/bin/env bash
# What this project checks and times on a GPU, one stage per call of at most about 8 minutes.
#
#   bash benchmarks/gpu_session.sh tests     # the compiled kernels and the model with kernels vs PyTorch
#   bash benchmarks/gpu_session.sh kernels   # benchmarks/kernels.py: each kernel vs eager, compile, Liger
#   bash benchmarks/gpu_session.sh train     # benchmarks/train_step.py: TTL-160m tokens/s and MFU, bf16
#   bash benchmarks/gpu_session.sh train-460m  # the same for TTL-460m
#
# Written for the lent H100/H200 machines (see the developers' guide): their image has torch,
# triton, transformers, accelerate and pytest, and nothing can be installed there, so this uses
# the checkout through PYTHONPATH and needs nothing else. Logs and result tables go to $OUT when
# it is set (the device tool brings that folder back), else to benchmarks/results/.
# Each stage has its own time limit, below the device tool's 10 minutes a call.
set -u -o pipefail
stage=${1:?usage: bash benchmarks/gpu_session.sh tests|kernels|train|train-460m}
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
  *)
    echo "unknown stage $stage: use tests, kernels, train or train-460m" >&2
    exit 2
    ;;
esac
