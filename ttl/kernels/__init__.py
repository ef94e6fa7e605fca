"""Triton kernels for the Llama blocks, each behind a ``torch.autograd.Function``.

One file per op, each with a forward and a backward Triton kernel, and a plain
PyTorch version of every op in :mod:`ttl.kernels.reference` that the tests use
as the ground truth:

* ``rms_norm(x, weight, eps)`` in ``rmsnorm.py`` (reference: ``reference.rms_norm``)
* ``apply_rope(q, k, cos, sin)`` in ``rope.py`` (``reference.apply_rope``)
* ``swiglu(gate, up)`` in ``swiglu.py`` (``reference.swiglu``)
* ``cross_entropy(logits, targets, ignore_index)`` in ``cross_entropy.py`` (``reference.cross_entropy``)
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

import importlib
import importlib.util
import os
import sys
import types

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
]

INTERPRET_ENV = "TRITON_INTERPRET"
_KERNEL_MODULES = ("rmsnorm", "rope", "swiglu", "cross_entropy", "attention")


class KernelUnavailableError(RuntimeError):
    """The Triton kernels cannot run here; the message says why and what to do."""


def _env_interpret() -> bool:
    return os.environ.get(INTERPRET_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _triton_missing_reason() -> str | None:
    if importlib.util.find_spec("triton") is None:
        return ("Triton is not installed. Install it with `pip install triton` (Linux; on a GPU "
                "machine it usually comes with PyTorch), or leave model.use_kernels off to use "
                "the plain PyTorch path.")
    return None


def _loaded_kernel_modules() -> list:
    return [sys.modules[f"{__name__}.{m}"] for m in _KERNEL_MODULES if f"{__name__}.{m}" in sys.modules]


def interpreter_enabled() -> bool:
    """Whether our kernels run (or will run) through Triton's CPU interpreter.

    Triton decides this when a kernel is *defined* (``@triton.jit`` reads
    ``TRITON_INTERPRET``), so once a kernel module is imported its kernels keep
    the mode they were built in; before that, the environment variable decides.
    """
    loaded = _loaded_kernel_modules()
    if loaded:
        return any(getattr(m, "INTERPRETED", False) for m in loaded)
    return _env_interpret()


def kernels_available(device: str | torch.device | None = None) -> tuple[bool, str]:
    """Can the Triton kernels run on ``device`` (default: CUDA if present, else CPU)?

    Returns ``(ok, reason)``; ``reason`` is a sentence a person can act on.
    """
    missing = _triton_missing_reason()
    if missing:
        return False, missing
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if interpreter_enabled():
        return True, (f"Triton interpreter ({INTERPRET_ENV}=1): kernels run on the CPU with NumPy, "
                      "correct but slow; use it to test, not to train")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False, "no CUDA device is visible to PyTorch; run on a GPU machine or set TRITON_INTERPRET=1"
        return True, f"Triton compiles the kernels for {torch.cuda.get_device_name(device)}"
    if _env_interpret():  # set, but only after the kernels were defined in GPU mode
        return False, (f"{INTERPRET_ENV}=1 was set after the kernels were imported, and Triton reads it when a "
                       "kernel is defined. Restart Python (or the notebook kernel) and set it first.")
    return False, (f"tensors on {device.type!r} need a GPU for Triton. To run the kernels on the CPU, "
                   f"set the environment variable {INTERPRET_ENV}=1 before importing triton/ttl.kernels "
                   "(e.g. os.environ['TRITON_INTERPRET'] = '1' in the first cell), or move tensors to a GPU.")


def _import_kernel_module(name: str):
    """Import one kernel file, turning a missing Triton into a clear error."""
    missing = _triton_missing_reason()
    if missing:
        raise KernelUnavailableError(missing)
    return importlib.import_module(f"{__name__}.{name}")


def check_launchable(*tensors: torch.Tensor, interpreted: bool) -> None:
    """Raise a clear error unless a kernel built in this mode can run on these tensors.

    ``interpreted`` is how the calling module's kernels were built. Called by every
    wrapper before launching, so a CPU tensor never reaches a compiled GPU kernel
    (which would fail with an obscure driver error).
    """
    devices = {t.device for t in tensors if t is not None}
    if len(devices) > 1:
        raise ValueError(f"all inputs must be on the same device, got {sorted(map(str, devices))}; "
                         "move them with .to(device) first")
    (device,) = devices
    if device.type == "cpu" and not interpreted:
        raise KernelUnavailableError(
            f"the Triton kernels got CPU tensors but were built for a GPU: set {INTERPRET_ENV}=1 in the "
            "environment before importing triton/ttl.kernels to run them through Triton's CPU interpreter "
            "(restart Python first if they are already imported), or move the tensors to a GPU.")
    if device.type not in ("cpu", "cuda"):
        raise KernelUnavailableError(f"Triton kernels need CUDA (or CPU through the interpreter), got {device.type!r} "
                                     "tensors; use the plain PyTorch path (model.use_kernels: false) there.")


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
    return _import_kernel_module("swiglu").swiglu(gate, up)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy in nats over rows whose target is not ``ignore_index``.

    logits (N, V), targets (N,). A batch where every target is ignored gives a loss
    of 0 and a zero gradient (PyTorch gives NaN there); see ``cross_entropy.py``.
    """
    return _import_kernel_module("cross_entropy").cross_entropy(logits, targets, ignore_index)


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                    sm_scale: float | None = None) -> torch.Tensor:
    """Tiled attention with an online softmax, forward and backward (q, k, v: (B, H, T, D)).

    k and v may have fewer heads than q (grouped-query attention) as long as they divide it.
    """
    return _import_kernel_module("attention").flash_attention(q, k, v, causal=causal, sm_scale=sm_scale)


class _KernelsPackage(types.ModuleType):
    """Keeps ``ttl.kernels.swiglu`` / ``.cross_entropy`` the *functions*.

    Two kernel files share their op's name (``swiglu.py``, ``cross_entropy.py``).
    Python's import system sets a package attribute for every submodule it loads,
    which would replace the public function ``ttl.kernels.swiglu`` by the module the
    first time the kernel file is imported. This guard ignores exactly that
    assignment; the modules stay reachable as ``sys.modules["ttl.kernels.swiglu"]``
    and through ``from ttl.kernels.swiglu import SwiGLUFunction``.
    """

    def __setattr__(self, name, value):
        if (name in __all__ and isinstance(value, types.ModuleType)
                and callable(self.__dict__.get(name))):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _KernelsPackage
