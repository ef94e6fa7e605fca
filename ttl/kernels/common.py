"""What every kernel file shares: whether Triton can run here, the launch checks, block sizes.

Kept apart from ``ttl/kernels/__init__.py`` so that the kernel files import it without
importing the package's public wrappers, and so that each rule exists once.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import torch

INTERPRET_ENV = "TRITON_INTERPRET"
_KERNEL_MODULES = ("rmsnorm", "rope", "swiglu_kernel", "cross_entropy_kernel", "attention")


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
    return [sys.modules[f"ttl.kernels.{m}"] for m in _KERNEL_MODULES if f"ttl.kernels.{m}" in sys.modules]


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
    if interpreter_enabled() and "triton.language" in sys.modules and not _triton_library_interpreted():
        return False, (f"{INTERPRET_ENV}=1 was set after triton.language had been imported (transformers "
                       "imports it). Restart Python (or the notebook kernel) and set it before any import.")
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
    return importlib.import_module(f"ttl.kernels.{name}")


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
    if interpreted and not _triton_library_interpreted():
        raise KernelUnavailableError(
            f"{INTERPRET_ENV}=1 was set after triton.language had been imported (transformers imports it), so "
            "Triton's own helper functions were built for a GPU and our interpreted kernels cannot call them. "
            "Restart Python (or the notebook kernel) and set it before any import (the first line of the "
            "notebook, or in the shell).")


def _triton_library_interpreted() -> bool:
    """Whether triton.language's own ``@triton.jit`` helpers (``tl.sum`` is one) were built for the
    interpreter: Triton decides when triton.language is first imported, not when our kernels are."""
    import triton.language.standard as standard

    helper = getattr(standard, "sum", None)   # absent in another Triton: nothing to tell
    return helper is None or type(helper).__name__ != "JITFunction"


def is_interpreted(kernel) -> bool:
    """Whether a ``@triton.jit`` kernel was built for Triton's CPU interpreter."""
    return type(kernel).__name__ == "InterpretedFunction"


def block_size(n_cols: int, max_block: int) -> int:
    """Columns one program handles: the next power of two of the row, at most ``max_block``."""
    import triton

    return min(max_block, triton.next_power_of_2(n_cols))
