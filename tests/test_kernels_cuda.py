"""The Triton kernels compiled for a real GPU, forward and backward, at the sizes of the TTL models.

``tests/test_kernels.py`` proves the kernels' logic through Triton's CPU interpreter on small,
odd shapes. What only a GPU shows is here: block sizes that do not fit the chip (shared memory,
registers), ``num_warps`` choices, tensor-core precision in ``tl.dot``, and the real model
sizes (hidden 768/1024, vocabulary 32,000, context 2,048, head_dim 64). Skipped without CUDA.

On a GPU, run this file on its own: ``test_kernels.py`` switches the interpreter on for the
whole process when it is imported first, and this file then skips itself.

    pytest -q tests/test_kernels_cuda.py
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU (tests/test_kernels.py covers the kernels on the CPU)", allow_module_level=True)
if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("TRITON_INTERPRET=1 is set in this process (tests/test_kernels.py sets it); "
                "run `pytest tests/test_kernels_cuda.py` on its own", allow_module_level=True)

import dataclasses  # noqa: E402

import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

import ttl.kernels as K  # noqa: E402
from helpers import assert_close_scaled  # noqa: E402
from ttl.config import load_profile  # noqa: E402
from ttl.kernels import reference as R  # noqa: E402
from ttl.model import Llama  # noqa: E402

if K.interpreter_enabled():
    pytest.skip("the kernels were defined for the interpreter in this process", allow_module_level=True)

DEV = "cuda"
# (rtol, atol) per dtype, atol scaled by max |expected| as in test_kernels.py. float32 is looser
# than on the CPU: tl.dot and PyTorch's matmuls may use TF32 tensor cores.
TOL = {torch.float32: (2e-3, 2e-3), torch.float16: (4e-3, 4e-3), torch.bfloat16: (3e-2, 3e-2)}
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
IDS = lambda v: str(v).replace("torch.", "")  # noqa: E731


def close(actual, expected, dtype, scale=1.0):
    assert_close_scaled(actual, expected, *TOL[dtype], scale=scale)


def leaf(t, dtype):
    return t.to(DEV, dtype).detach().requires_grad_(True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_kernels_run_compiled_not_interpreted():
    ok, reason = K.kernels_available("cuda")
    assert ok, reason
    assert not K.interpreter_enabled()


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("shape", [(1, 768), (4096, 768), (2, 2048, 1024), (7, 5000), (3, 33)], ids=str)
def test_rms_norm(dtype, shape):
    x, w = leaf(torch.randn(shape) * 3, dtype), leaf(1 + 0.3 * torch.randn(shape[-1]), dtype)
    x_ref, w_ref = leaf(x.detach(), torch.float32), leaf(w.detach(), torch.float32)
    y, y_ref = K.rms_norm(x, w, 1e-6), R.rms_norm(x_ref, w_ref, 1e-6)
    close(y, y_ref, dtype)
    dy = torch.randn(shape, device=DEV).to(dtype)
    y.backward(dy)
    y_ref.backward(dy.float())
    close(x.grad, x_ref.grad, dtype)
    close(w.grad, w_ref.grad, dtype, scale=4)        # summed over up to 4,096 rows


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("dims", [(2, 12, 12, 2048, 64), (1, 16, 4, 2048, 64), (3, 4, 2, 37, 32)], ids=str)
def test_rope(dtype, dims):
    B, hq, hk, T, D = dims
    # the layout a Llama layer produces: (B, T, H, D) viewed as (B, H, T, D)
    q = torch.randn(B, T, hq, D, device=DEV).to(dtype).transpose(1, 2).requires_grad_(True)
    k = torch.randn(B, T, hk, D, device=DEV).to(dtype).transpose(1, 2).requires_grad_(True)
    cos, sin = R.rope_cos_sin(T, D, device=DEV, dtype=dtype)
    q_ref, k_ref = leaf(q.detach(), torch.float32), leaf(k.detach(), torch.float32)
    qo, ko = K.apply_rope(q, k, cos, sin)
    qr, kr = R.apply_rope(q_ref, k_ref, cos.float(), sin.float())
    close(qo, qr, dtype)
    close(ko, kr, dtype)
    torch.autograd.backward([qo, ko], [torch.ones_like(qo), torch.ones_like(ko)])
    torch.autograd.backward([qr, kr], [torch.ones_like(qr), torch.ones_like(kr)])
    close(q.grad, q_ref.grad, dtype)
    close(k.grad, k_ref.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("shape", [(4096, 3072), (2, 2048, 2816), (5, 1000)], ids=str)
def test_swiglu(dtype, shape):
    g, u = leaf(torch.randn(shape), dtype), leaf(torch.randn(shape), dtype)
    g_ref, u_ref = leaf(g.detach(), torch.float32), leaf(u.detach(), torch.float32)
    y, y_ref = K.swiglu(g, u), F.silu(g_ref) * u_ref
    close(y, y_ref, dtype)
    dy = torch.randn(shape, device=DEV).to(dtype)
    y.backward(dy)
    y_ref.backward(dy.float())
    close(g.grad, g_ref.grad, dtype)
    close(u.grad, u_ref.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("n,v", [(4096, 32000), (8, 32000), (1, 50257), (33, 4096)], ids=str)
def test_cross_entropy(dtype, n, v):
    x = leaf(torch.randn(n, v) * 2, dtype)
    t = torch.randint(0, v, (n,), device=DEV)
    t[::7] = -100
    x_ref = leaf(x.detach(), torch.float32)
    loss, loss_ref = K.cross_entropy(x, t), F.cross_entropy(x_ref, t, ignore_index=-100)
    close(loss, loss_ref, dtype)
    loss.backward()
    loss_ref.backward()
    close(x.grad, x_ref.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("dims,causal", [((2, 12, 12, 2048, 64), True), ((1, 16, 4, 2048, 64), True),
                                         ((2, 4, 2, 333, 64), True), ((1, 4, 4, 256, 128), False)], ids=str)
def test_flash_attention(dtype, dims, causal):
    B, hq, hk, T, D = dims
    q = leaf(torch.randn(B, hq, T, D), dtype)
    k, v = leaf(torch.randn(B, hk, T, D), dtype), leaf(torch.randn(B, hk, T, D), dtype)
    refs = [leaf(t.detach(), torch.float32) for t in (q, k, v)]
    o = K.flash_attention(q, k, v, causal=causal)
    with sdpa_kernel(SDPBackend.MATH):                  # the float32 reference, not another fused kernel
        o_ref = F.scaled_dot_product_attention(*refs, is_causal=causal, enable_gqa=hq != hk)
    close(o, o_ref, dtype, scale=2)
    do = torch.randn(o.shape, device=DEV).to(dtype)
    o.backward(do)
    o_ref.backward(do.float())
    for got, want in zip((q.grad, k.grad, v.grad), refs):
        close(got, want.grad, dtype, scale=4)        # dK, dV sum over every query of the head group


@pytest.mark.parametrize("profile_name", ["smoke", "ttl-160m"])
def test_model_with_kernels_matches_plain_model_in_bf16(profile_name):
    """One bf16 training step of the model with and without kernels: same loss, same gradients."""
    config = load_profile(profile_name).model
    plain = Llama(config).to(DEV)
    fast = K.apply(Llama(config)).to(DEV)
    fast.load_state_dict(plain.state_dict())
    x = torch.randint(0, config.vocab_size, (2, min(512, config.max_seq_len)), device=DEV)
    y = torch.roll(x, -1, dims=1)
    losses = []
    for model in (plain, fast):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x, y, return_logits=False).loss
        loss.backward()
        losses.append(loss.float())
    torch.testing.assert_close(losses[1], losses[0], rtol=2e-2, atol=2e-2)
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        scale = p.grad.abs().max().item() + 1e-12
        err = (q.grad - p.grad).abs().max().item() / scale
        assert err < 0.1, f"{name}: gradient differs by {err:.3f} of its largest entry"
