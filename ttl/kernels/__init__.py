"""Triton kernels for the Llama blocks, each behind a ``torch.autograd.Function``.

One file per op, each with a forward and a backward Triton kernel, and a plain
PyTorch version of every op in :mod:`ttl.kernels.reference` that the tests use
as the ground truth:

* ``rms_norm(x, weight, eps)`` in ``rmsnorm.py`` (reference: ``reference.rms_norm``)
* ``apply_rope(q, k, cos, sin)`` in ``rope.py`` (``reference.apply_rope``)
* ``swiglu(gate, up)`` in ``swiglu_kernel.py`` (``reference.swiglu``)
* ``cross_entropy(logits, targets, ignore_index)`` in ``cross_entropy_kernel.py`` (``reference.cross_entropy``)
* ``flash_attention(q, k, v, causal, sm_scale)`` in ``attention.py`` (``reference.attention``)

Where the kernels run
---------------------
* On an NVIDIA GPU, Triton compiles them to GPU code (AMD ROCm is untested).
* On the CPU they run only through Triton's *interpreter*, which executes each
  program instance with NumPy. It is slow but exact enough to test every kernel
  on a laptop. Set ``TRITON_INTERPRET=1`` in the environment **before** the
  kernels are first used (safest: before anything imports ``triton``)::

      import os
      os.environ["TRITON_INTERPRET"] = "1"   # first line of the script / notebook

This module imports ``triton`` lazily: ``import ttl.kernels`` (and ``from
ttl.kernels import rms_norm``) always works, and calling a kernel without
Triton, or on CPU tensors without the interpreter, raises
:class:`KernelUnavailableError` with a message that says what to do.
:func:`kernels_available` answers the same question without raising.
"""

from __future__ import annotations

import torch

__all__ = [
    "KernelUnavailableError",
    "kernels_available",
    "interpreter_enabled",
    "rms_norm",
    "apply_rope",
    "swiglu",
    "cross_entropy",
    "flash_attention",
    "apply",
    "check_launchable",
]


def apply(model):
    """Swap the model's RMSNorm, RoPE, SwiGLU and cross-entropy for the Triton kernels, in place
    (parameters and buffers are kept), as Liger-Kernel patches a model; returns the model."""
    from .modules import apply as _apply

    return _apply(model)

from .common import (INTERPRET_ENV, KernelUnavailableError, _import_kernel_module, check_launchable,
                     interpreter_enabled, kernels_available)

# ---------------------------------------------------------------------------------
# Public API: thin functions that import the kernel file on first call.
# ---------------------------------------------------------------------------------

def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim: ``x / sqrt(mean(x**2) + eps) * weight`` (x: (..., H), weight: (H,))."""
    return _import_kernel_module("rmsnorm").rms_norm(x, weight, eps)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotary embedding of q (B, Hq, T, D) and k (B, Hkv, T, D) with cos/sin (T, D) in HF's layout.

    Returns ``(q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin)``.
    """
    return _import_kernel_module("rope").apply_rope(q, k, cos, sin)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """The SwiGLU product ``silu(gate) * up`` (same shapes)."""
    return _import_kernel_module("swiglu_kernel").swiglu(gate, up)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy in nats over rows whose target is not ``ignore_index``.

    logits (N, V), targets (N,). A batch where every target is ignored gives a loss
    of 0 and a zero gradient (PyTorch gives NaN there); see ``cross_entropy_kernel.py``.
    """
    return _import_kernel_module("cross_entropy_kernel").cross_entropy(logits, targets, ignore_index)


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                    sm_scale: float | None = None) -> torch.Tensor:
    """Tiled attention with an online softmax, forward and backward (q, k, v: (B, H, T, D)).

    k and v may have fewer heads than q (grouped-query attention) as long as they divide it.
    """
    return _import_kernel_module("attention").flash_attention(q, k, v, causal=causal, sm_scale=sm_scale)
