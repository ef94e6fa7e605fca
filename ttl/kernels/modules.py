"""The Triton kernels as modules, and ``ttl.kernels.apply(model)`` that swaps them in.

As Liger-Kernel patches a ``transformers`` model, this gives each RMSNorm, RoPE, SwiGLU MLP
and cross-entropy module of a :class:`ttl.model.Llama` a kernel ``forward`` (by changing the
module's class to a subclass that overrides one method), keeping every parameter and buffer.
The model file itself has no kernel branch; the fused lm_head + loss of training steps
(``linear_cross_entropy``) is kept as it is, so a run with kernels never builds the full
(B, T, V) logits either.
"""

from __future__ import annotations

from torch import nn

from ..model.llama import MLP, CrossEntropy, IGNORE_INDEX, RMSNorm, RotaryEmbedding


class TritonRMSNorm(RMSNorm):
    def forward(self, x):
        from . import rms_norm

        return rms_norm(x, self.weight, self.eps)


class TritonRotaryEmbedding(RotaryEmbedding):
    def rotate(self, q, k, cos, sin):
        from . import apply_rope

        return apply_rope(q, k, cos, sin)


class TritonMLP(MLP):
    def activate(self, gate, up):
        from . import swiglu

        return swiglu(gate, up)


class TritonCrossEntropy(CrossEntropy):
    def forward(self, logits2d, targets):
        from . import cross_entropy

        return cross_entropy(logits2d, targets, ignore_index=IGNORE_INDEX)


KERNEL_MODULES: dict[type, type] = {RMSNorm: TritonRMSNorm, RotaryEmbedding: TritonRotaryEmbedding,
                                    MLP: TritonMLP, CrossEntropy: TritonCrossEntropy}


def apply(model: nn.Module) -> nn.Module:
    """Swap every module of ``model`` that has a Triton kernel, in place; returns ``model``.

    Applying twice changes nothing; a module class that is not exactly one of ttl's (your own
    subclass) is left alone rather than guessed at.
    """
    for module in model.modules():
        kernel_class = KERNEL_MODULES.get(type(module))
        if kernel_class is not None:
            module.__class__ = kernel_class
    return model


def applied(model: nn.Module) -> list[str]:
    """Names of the modules that run a Triton kernel (empty for a plain model)."""
    return [name for name, module in model.named_modules() if type(module) in KERNEL_MODULES.values()]
