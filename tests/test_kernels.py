"""Every Triton kernel against PyTorch, forward and backward, through Triton's CPU interpreter.

The interpreter must be switched on before any kernel is defined, hence the
first lines. Shapes are small but odd (1 row, widths that are not powers of
two, rows longer than one block) because the interpreter runs each program
instance in NumPy.

Dtypes: float32 everywhere with tight tolerances; float16 and bfloat16 with
looser ones. One interpreter limitation is worked around inside
``attention.py``: its bf16 ``tl.dot`` is wrong on the CPU, so there bf16 tiles are
widened to float32 before the dot (GPU numerics are unchanged).
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before torch/triton/ttl.kernels are imported

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ttl.kernels as K
from helpers import assert_close_scaled, load_script
from ttl.kernels import KernelUnavailableError, reference as R
from ttl.kernels.attention import flash_attention as flash_attention_blocks

ROOT = Path(__file__).resolve().parents[1]

if not K.interpreter_enabled():  # another module defined the kernels before TRITON_INTERPRET was set
    pytest.skip("the Triton kernels were imported in GPU mode before this file set TRITON_INTERPRET=1; "
                "run `TRITON_INTERPRET=1 pytest tests/test_kernels.py`", allow_module_level=True)

# (rtol, atol) per dtype; atol is scaled by the size of the expected values (see close()).
TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (2e-2, 2e-2)}


def close(actual, expected, dtype, scale=1.0):
    """assert_close in float32 with the dtype's tolerances; atol grows with max |expected|."""
    assert_close_scaled(actual, expected, *TOL[dtype], scale=scale)


def leaf(t, dtype):
    return t.to(dtype).detach().requires_grad_(True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- availability


def test_kernels_available_with_interpreter():
    ok, reason = K.kernels_available("cpu")
    assert ok, reason
    assert "interpreter" in reason.lower()
    assert K.interpreter_enabled()


def _fresh_cpu_python(script: str) -> dict[str, str]:
    """Run ``script`` in a fresh Python with no GPU and TRITON_INTERPRET unset; its printed
    lines keyed by their first word."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return {line.split(" ", 1)[0]: line for line in out.stdout.splitlines()}


def test_cpu_without_interpreter_or_triton_gives_clear_errors():
    """Fresh Python without TRITON_INTERPRET: calling a kernel on CPU says what to do; so does a missing Triton."""
    script = r"""
import sys, torch
import ttl.kernels as K
x, w = torch.randn(2, 4), torch.ones(4)
sys.modules["triton"] = None                      # pretend Triton is not installed
ok, reason = K.kernels_available("cpu"); print("NOTRITON", ok, reason)
try:
    K.rms_norm(x, w, 1e-6)
except K.KernelUnavailableError as e:
    print("NOTRITON-ERR", e)
del sys.modules["triton"]
ok, reason = K.kernels_available("cpu"); print("NOINTERP", ok, reason)
try:
    K.rms_norm(x, w, 1e-6)
except K.KernelUnavailableError as e:
    print("NOINTERP-ERR", e)
import os
os.environ["TRITON_INTERPRET"] = "1"              # too late: the kernel above was built for a GPU
ok, reason = K.kernels_available("cpu"); print("LATE", ok, reason)
"""
    lines = _fresh_cpu_python(script)
    assert "False" in lines["NOTRITON"] and "not installed" in lines["NOTRITON"]
    assert "not installed" in lines["NOTRITON-ERR"]
    assert "False" in lines["NOINTERP"] and "TRITON_INTERPRET=1" in lines["NOINTERP"]
    assert "TRITON_INTERPRET=1" in lines["NOINTERP-ERR"]
    assert "False" in lines["LATE"] and "Restart" in lines["LATE"]


def test_interpreter_switched_on_after_triton_language_is_a_clear_error():
    """transformers imports triton.language; setting TRITON_INTERPRET=1 after that leaves Triton's own
    helpers compiled for a GPU: ttl says so instead of Triton's 'outside of the scope of a kernel'."""
    script = r"""
import os, torch
import triton.language                           # as `import transformers` does
os.environ["TRITON_INTERPRET"] = "1"
import ttl.kernels as K
ok, reason = K.kernels_available("cpu"); print("AVAILABLE", ok, reason)
try:
    K.rms_norm(torch.randn(2, 4), torch.ones(4), 1e-6)
except K.KernelUnavailableError as e:
    print("ERR", e)
"""
    lines = _fresh_cpu_python(script)
    assert "False" in lines["AVAILABLE"] and "after triton.language" in lines["AVAILABLE"]
    assert "after triton.language" in lines["ERR"] and "before any import" in lines["ERR"]


def test_unsupported_device_is_a_clear_error():
    with pytest.raises(KernelUnavailableError, match="meta"):
        K.check_launchable(torch.empty(3, device="meta"), interpreted=True)


COMPILE_SCRIPT = r"""
import importlib, triton
from triton.backends.compiler import GPUTarget
mods = {m: importlib.import_module(f"ttl.kernels.{m}") for m in ("rmsnorm", "rope", "swiglu_kernel", "cross_entropy_kernel", "attention")}
assert not mods["rmsnorm"].INTERPRETED
def compile_for_gpu(mod, name, types, consts):
    kernel = getattr(mods[mod], name)
    sig = {a: "constexpr" if a in consts else types.get(a, "i32") for a in kernel.arg_names}
    src = triton.compiler.ASTSource(fn=kernel, signature=sig, constexprs=consts)
    triton.compile(src, target=GPUTarget("cuda", 80, 32), options={"num_warps": 4, "num_stages": 2})
    print("compiled", name)
b = "*bf16"
compile_for_gpu("rmsnorm", "_rms_norm_fwd_kernel", dict(X=b, Y=b, W=b, RSTD="*fp32", eps="fp32"), {"BLOCK": 1024})
compile_for_gpu("rmsnorm", "_rms_norm_bwd_kernel", dict(DY=b, X=b, W=b, RSTD="*fp32", DX=b, DW_PARTIAL="*fp32"), {"BLOCK": 1024})
compile_for_gpu("rope", "_rope_kernel", dict(Q=b, K=b, QO=b, KO=b, COS=b, SIN=b),
                {"BACKWARD": True, "BLOCK_HQ": 16, "BLOCK_HK": 4, "BLOCK_D": 32})
compile_for_gpu("swiglu_kernel", "_swiglu_bwd_kernel", dict(DOUT=b, G=b, U=b, DG=b, DU=b), {"BLOCK": 1024})
compile_for_gpu("cross_entropy_kernel", "_ce_fwd_kernel", dict(X=b, T="*i64", LOSS="*fp32", LSE="*fp32"), {"BLOCK": 4096})
compile_for_gpu("cross_entropy_kernel", "_ce_bwd_kernel", dict(X=b, T="*i64", LSE="*fp32", SCALE="*fp32", DX=b), {"BLOCK": 4096})
tiles = {"CAUSAL": True, "BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_D": 64, "PRECISION": "tf32", "UPCAST": False}
compile_for_gpu("attention", "_attn_fwd_kernel", dict(Q=b, K=b, V=b, O=b, LSE="*fp32", sm_scale="fp32"), dict(tiles))
compile_for_gpu("attention", "_attn_bwd_dkdv_kernel", dict(Q=b, K=b, V=b, DO=b, LSE="*fp32", DELTA="*fp32", DK=b, DV=b,
                sm_scale="fp32"), dict(tiles))
"""


@pytest.mark.slow
def test_kernels_compile_for_a_gpu_target():
    """The interpreter skips Triton's compiler, so type errors of compiled mode (e.g. a loop-carried
    value changing type) would only show on a GPU. Compile for sm_80 offline; no GPU needed."""
    import triton

    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").exists():
        pytest.skip("this Triton build has no bundled ptxas")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    out = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("compiled") == 8


# ----------------------------------------------------------------------------- RMSNorm


RMS_CASES = ([(torch.float32, s) for s in [(1, 1), (3, 7), (17, 33), (2, 3, 128), (3, 5000)]]
             + [(dt, s) for dt in (torch.bfloat16, torch.float16) for s in [(3, 7), (2, 3, 128), (3, 5000)]])


@pytest.mark.parametrize("dtype,shape", RMS_CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_rms_norm_matches_reference(dtype, shape):
    x = leaf(torch.randn(shape) * 3, dtype)
    w = leaf(1 + 0.3 * torch.randn(shape[-1]), dtype)
    x_ref, w_ref = leaf(x.detach(), torch.float32), leaf(w.detach(), torch.float32)
    y = K.rms_norm(x, w, 1e-6)
    y_ref = R.rms_norm(x_ref, w_ref, 1e-6)
    assert y.dtype == dtype and y.shape == x.shape
    close(y, y_ref, dtype)
    dy = torch.randn(shape).to(dtype)
    y.backward(dy)
    y_ref.backward(dy.float())
    close(x.grad, x_ref.grad, dtype)
    close(w.grad, w_ref.grad, dtype, scale=2 if dtype != torch.float32 else 10)  # summed over rows
    assert w.grad.dtype == dtype


def test_rms_norm_non_contiguous_input_and_reference_vs_torch():
    base = torch.randn(9, 6, requires_grad=True)
    x = base.t()  # (6, 9), not contiguous
    w = leaf(torch.rand(9) + 0.5, torch.float32)
    y = K.rms_norm(x, w, 1e-5)
    expected = F.rms_norm(x.detach(), (9,), w.detach(), eps=1e-5)  # PyTorch's own RMSNorm
    close(y, expected, torch.float32)
    close(R.rms_norm(x.detach(), w.detach(), 1e-5), expected, torch.float32)
    y.sum().backward()
    x2, w2 = leaf(x.detach(), torch.float32), leaf(w.detach(), torch.float32)
    F.rms_norm(x2, (9,), w2, eps=1e-5).sum().backward()
    close(base.grad.t(), x2.grad, torch.float32)
    close(w.grad, w2.grad, torch.float32)


def test_rms_norm_bad_input():
    with pytest.raises(ValueError, match="weight of shape"):
        K.rms_norm(torch.randn(2, 4), torch.ones(5))
    with pytest.raises(ValueError, match="floating"):
        K.rms_norm(torch.ones(2, 4, dtype=torch.long), torch.ones(4))


# ----------------------------------------------------------------------------- RoPE


def _rope_inputs(B, hq, hk, T, D, dtype, transposed):
    if transposed:  # the (B, T, H, D) -> (B, H, T, D) view an attention layer makes
        q = torch.randn(B, T, hq, D).to(dtype).transpose(1, 2).requires_grad_(True)
    else:
        q = leaf(torch.randn(B, hq, T, D), dtype)
    k = leaf(torch.randn(B, hk, T, D), dtype)
    return q, k


ROPE_CASES = [(torch.float32, (1, 1, 1, 1, 2), False), (torch.float32, (2, 4, 2, 17, 16), True),
              (torch.float32, (1, 3, 1, 5, 14), False), (torch.bfloat16, (2, 4, 2, 9, 16), True),
              (torch.float16, (1, 2, 1, 7, 12), False)]


@pytest.mark.parametrize("dtype,dims,transposed", ROPE_CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_rope_matches_reference(dtype, dims, transposed):
    B, hq, hk, T, D = dims
    q, k = _rope_inputs(B, hq, hk, T, D, dtype, transposed)
    cos, sin = R.rope_cos_sin(T, D, theta=500.0)
    q_ref, k_ref = leaf(q.detach(), torch.float32), leaf(k.detach(), torch.float32)
    qo, ko = K.apply_rope(q, k, cos.to(dtype), sin.to(dtype))
    qr, kr = R.apply_rope(q_ref, k_ref, cos.to(dtype).float(), sin.to(dtype).float())
    assert qo.shape == q.shape and ko.shape == k.shape and qo.dtype == dtype
    close(qo, qr, dtype)
    close(ko, kr, dtype)
    gq, gk = torch.randn(qo.shape).to(dtype), torch.randn(ko.shape).to(dtype)
    torch.autograd.backward([qo, ko], [gq, gk])
    torch.autograd.backward([qr, kr], [gq.float(), gk.float()])
    close(q.grad, q_ref.grad, dtype)
    close(k.grad, k_ref.grad, dtype)


def test_rope_reference_matches_transformers_and_per_batch_tables():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    B, H, T, D = 2, 3, 6, 8
    q, k = torch.randn(B, H, T, D), torch.randn(B, H, T, D)
    cos, sin = R.rope_cos_sin(16, D)
    pos = torch.tensor([[0, 1, 2, 3, 4, 5], [7, 8, 9, 10, 11, 12]])  # second sequence continues a cache
    cos_b, sin_b = cos[pos], sin[pos]  # (B, T, D)
    hf_q, hf_k = apply_rotary_pos_emb(q, k, cos_b, sin_b)  # HF unsqueezes the head dim itself
    ref_q, ref_k = R.apply_rope(q, k, cos_b[:, None], sin_b[:, None])
    close(ref_q, hf_q, torch.float32)
    close(ref_k, hf_k, torch.float32)
    ours_q, ours_k = K.apply_rope(q, k, cos_b, sin_b)
    close(ours_q, hf_q, torch.float32)
    close(ours_k, hf_k, torch.float32)


def test_rope_bad_input():
    q, k = torch.randn(1, 2, 4, 6), torch.randn(1, 2, 4, 6)
    cos, sin = R.rope_cos_sin(4, 6)
    with pytest.raises(ValueError, match="even head dim"):
        K.apply_rope(q[..., :5], k[..., :5], cos[:, :5], sin[:, :5])
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        K.apply_rope(q, k, cos[:3], sin[:3])
    with pytest.raises(ValueError, match="constant"):
        K.apply_rope(q, k, cos.requires_grad_(), sin)


# ----------------------------------------------------------------------------- SwiGLU


SWIGLU_CASES = ([(torch.float32, s) for s in [(1,), (3, 7), (17, 1000), (2, 5, 33)]]
                + [(dt, s) for dt in (torch.bfloat16, torch.float16) for s in [(3, 7), (17, 1000)]])


@pytest.mark.parametrize("dtype,shape", SWIGLU_CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_swiglu_matches_pytorch(dtype, shape):
    g, u = leaf(torch.randn(shape) * 4, dtype), leaf(torch.randn(shape), dtype)
    g_ref, u_ref = leaf(g.detach(), torch.float32), leaf(u.detach(), torch.float32)
    out = K.swiglu(g, u)
    out_ref = F.silu(g_ref) * u_ref
    assert out.dtype == dtype and out.shape == g.shape
    close(out, out_ref, dtype)
    d = torch.randn(shape).to(dtype)
    out.backward(d)
    out_ref.backward(d.float())
    close(g.grad, g_ref.grad, dtype)
    close(u.grad, u_ref.grad, dtype)


def test_swiglu_non_contiguous_and_bad_input():
    g = torch.randn(7, 5, requires_grad=True)
    u = torch.randn(7, 5, requires_grad=True)
    out = K.swiglu(g.t(), u.t())
    close(out, F.silu(g.t()) * u.t(), torch.float32)
    out.sum().backward()
    g2, u2 = leaf(g.detach(), torch.float32), leaf(u.detach(), torch.float32)
    (F.silu(g2) * u2).sum().backward()
    close(g.grad, g2.grad, torch.float32)
    close(u.grad, u2.grad, torch.float32)
    with pytest.raises(ValueError, match="same shape"):
        K.swiglu(torch.randn(3, 4), torch.randn(3, 5))


def test_swiglu_on_chunked_projection_like_the_llama_mlp():
    gate_up = leaf(torch.randn(2, 5, 2 * 37), torch.float32)  # the output of one fused gate/up Linear
    gate, up = gate_up.chunk(2, dim=-1)  # views with row stride 74, no copy
    out = K.swiglu(gate, up)
    ref_in = leaf(gate_up.detach(), torch.float32)
    g_ref, u_ref = ref_in.chunk(2, dim=-1)
    ref = F.silu(g_ref) * u_ref
    close(out, ref, torch.float32)
    d = torch.randn(ref.shape)
    out.backward(d)
    ref.backward(d)
    close(gate_up.grad, ref_in.grad, torch.float32)


# ----------------------------------------------------------------------------- cross-entropy


CE_CASES = ([(torch.float32, n, v) for n, v in [(1, 1), (3, 7), (17, 1000), (5, 5000)]]
            + [(torch.bfloat16, 4, 5000), (torch.float16, 3, 1000)])


@pytest.mark.parametrize("dtype,n,v", CE_CASES, ids=lambda v: str(v).replace("torch.", ""))
def test_cross_entropy_matches_pytorch(dtype, n, v):
    x = leaf(torch.randn(n, v) * 4, dtype)
    t = torch.randint(0, v, (n,))
    if n > 2:
        t[1] = -100  # an ignored row
    x_ref = leaf(x.detach(), torch.float32)
    loss = K.cross_entropy(x, t)
    loss_ref = F.cross_entropy(x_ref, t, ignore_index=-100)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    close(loss, loss_ref, dtype if dtype == torch.float32 else torch.float16)  # float32 math inside
    (2.5 * loss).backward()  # an upstream gradient other than 1
    (2.5 * loss_ref).backward()
    close(x.grad, x_ref.grad, dtype)
    if n > 2:
        assert torch.all(x.grad[1] == 0)


def test_cross_entropy_custom_ignore_index_and_strided_logits():
    wide = leaf(torch.randn(6, 40), torch.float32)
    strided = wide[:, :33]  # row stride 40: a view the kernel reads in place
    x = leaf(strided.detach(), torch.float32)
    t = torch.tensor([3, 5, 3, 0, 32, 3])
    loss = K.cross_entropy(strided, t, ignore_index=3)  # pad id 3, as in the TTL tokenizer
    ref = F.cross_entropy(x, t, ignore_index=3)
    close(loss, ref, torch.float32)
    loss.backward()
    ref.backward()
    close(wide.grad[:, :33], x.grad, torch.float32)
    assert torch.all(wide.grad[:, 33:] == 0)


def test_cross_entropy_all_ignored_is_zero_with_zero_grad():
    x = leaf(torch.randn(4, 10), torch.float32)
    t = torch.full((4,), -100)
    loss = K.cross_entropy(x, t)
    assert loss.item() == 0.0 and math.isnan(F.cross_entropy(x.detach(), t).item())  # PyTorch: NaN
    loss.backward()
    assert torch.count_nonzero(x.grad) == 0
    assert torch.equal(R.cross_entropy(x.detach(), t), torch.tensor(0.0))


def test_cross_entropy_bad_input():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        K.cross_entropy(torch.randn(2, 5), torch.tensor([1, 5]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        K.cross_entropy(torch.randn(2, 5), torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match="2-D logits"):
        K.cross_entropy(torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        K.cross_entropy(torch.randn(2, 5), torch.zeros(2))


# ----------------------------------------------------------------------------- flash attention


ATTN_CASES = [
    # dtype, (B, Hq, Hkv, T, D), causal, block_m, block_n, transposed q
    (torch.float32, (1, 1, 1, 1, 16), True, 16, 16, False),
    (torch.float32, (2, 4, 2, 33, 16), True, 16, 16, True),  # GQA, 3 tiles, strided q
    (torch.float32, (1, 2, 2, 17, 8), False, 16, 16, False),  # D below the 16-wide tile
    (torch.float32, (1, 2, 1, 40, 24), True, 32, 16, False),  # unequal tiles, odd D
    (torch.bfloat16, (1, 2, 1, 33, 16), True, 16, 16, False),
    (torch.float16, (1, 2, 2, 20, 16), False, 16, 16, False),
]


@pytest.mark.parametrize("dtype,dims,causal,bm,bn,transposed", ATTN_CASES,
                         ids=lambda v: str(v).replace("torch.", ""))
def test_flash_attention_matches_sdpa(dtype, dims, causal, bm, bn, transposed):
    B, hq, hk, T, D = dims
    if transposed:
        q = torch.randn(B, T, hq, D).to(dtype).transpose(1, 2).requires_grad_(True)
    else:
        q = leaf(torch.randn(B, hq, T, D), dtype)
    k, v = leaf(torch.randn(B, hk, T, D), dtype), leaf(torch.randn(B, hk, T, D), dtype)
    refs = [leaf(t.detach(), torch.float32) for t in (q, k, v)]
    o = flash_attention_blocks(q, k, v, causal=causal, block_m=bm, block_n=bn)
    o_ref = F.scaled_dot_product_attention(*refs, is_causal=causal, enable_gqa=hq != hk)
    assert o.shape == q.shape and o.dtype == dtype
    scale = 1 if dtype == torch.float32 else 1.5  # tiles of P are rounded to the input dtype
    close(o, o_ref, dtype, scale=10 * scale if dtype == torch.float32 else scale)
    do = torch.randn(o.shape).to(dtype)
    o.backward(do)
    o_ref.backward(do.float())
    for got, want in zip((q.grad, k.grad, v.grad), refs):
        close(got, want.grad, dtype, scale=10 if dtype == torch.float32 else 1.5)


def test_flash_attention_public_api_scale_and_reference():
    q, k, v = (leaf(torch.randn(1, 2, 21, 16), torch.float32) for _ in range(3))
    o = K.flash_attention(q, k, v, causal=True, sm_scale=0.3)
    expected = F.scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), is_causal=True, scale=0.3)
    close(o, expected, torch.float32, scale=10)
    close(R.attention(q.detach(), k.detach(), v.detach(), causal=True, sm_scale=0.3), expected, torch.float32, 10)
    o.sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, k, v))


def test_flash_attention_bad_input():
    q = torch.randn(1, 2, 8, 16)
    with pytest.raises(ValueError, match="share T"):
        K.flash_attention(q, torch.randn(1, 2, 9, 16), torch.randn(1, 2, 9, 16))
    with pytest.raises(ValueError, match="multiple"):
        K.flash_attention(torch.randn(1, 3, 8, 16), q, q)
    with pytest.raises(ValueError, match="power of two"):
        flash_attention_blocks(q, q, q, block_m=24)


# ----------------------------------------------------------------------------- benchmark helpers


@pytest.fixture(scope="module")
def bench():
    yield load_script("benchmarks/kernels.py", "bench_kernels")
    sys.modules.pop("bench_kernels", None)


def test_bench_bytes_and_flops(bench):
    x = torch.randn(8, 12, dtype=torch.bfloat16)
    assert bench.bytes_moved("rms_norm", {"tokens": 8, "hidden": 12}, x.element_size(), "fwd") == 2 * x.nbytes
    assert bench.bytes_moved("swiglu", {"tokens": 8, "inter": 12}, 2, "fwd") == 3 * x.nbytes
    logits = torch.randn(5, 100)
    assert bench.bytes_moved("cross_entropy", {"tokens": 5, "vocab": 100}, 4, "fwd+bwd") == 3 * logits.nbytes
    shape = {"batch": 2, "heads": 3, "seq": 64, "head_dim": 16}
    q = torch.randn(2, 3, 64, 16)
    full = bench.attention_flops(shape, causal=False, mode="fwd")
    assert full == 2 * (2 * q.numel() * 64)  # two matmuls (q k^T, p v), each 2*T*T*D per head
    assert bench.attention_flops(shape, causal=True, mode="fwd") == full / 2
    assert bench.attention_flops(shape, causal=False, mode="fwd+bwd") == full * 3.5
    with pytest.raises(ValueError, match="unknown op"):
        bench.bytes_moved("gelu", {}, 2, "fwd")
    with pytest.raises(ValueError, match="mode"):
        bench.bytes_moved("rms_norm", {"tokens": 1, "hidden": 1}, 2, "bwd")


def test_bench_table_speedups_and_files(bench, tmp_path):
    results = [bench.Result("swiglu", "s", "fwd", "eager", 2.0), bench.Result("swiglu", "s", "fwd", "ttl (triton)", 0.5),
               bench.Result("swiglu", "s", "fwd", "liger", None, note="failed: TypeError")]
    bench.add_speedups(results)
    assert results[1].speedup == pytest.approx(2.0 / 0.5) and results[2].speedup is None
    table = bench.markdown_table(results, "title")
    rows = [line for line in table.splitlines() if line.startswith("| swiglu")]
    assert len(rows) == 3 and "failed: TypeError" in rows[2]
    slug = bench.gpu_slug("NVIDIA H100 80GB HBM3")
    assert slug and set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789_") and "h100" in slug
    path = tmp_path / "sub" / f"kernels_{slug}.md"
    bench.write_atomic(path, table)
    assert path.read_text() == table and [p.name for p in path.parent.iterdir()] == [path.name]


def test_bench_measure_counts_calls(bench):
    calls = []
    ms = bench.measure_ms(lambda: calls.append(1), "cpu", warmup=2, rep=3)
    assert len(calls) == 5 and ms >= 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_bench_main_without_gpu(bench, capsys):
    assert bench.main([]) == 1
    assert "needs a CUDA GPU" in capsys.readouterr().out
    assert bench.main(["--allow-cpu"]) == 0
    assert bench.main(["--smoke", "--ops", "swiglu,cross_entropy", "--modes", "fwd+bwd"]) == 0
    assert "match their references" in capsys.readouterr().out
