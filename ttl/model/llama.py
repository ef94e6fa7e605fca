"""A Llama-2-style decoder, the whole model in one readable file.

This is the architecture of TeenyTinyLlama (and of Llama 2): token embeddings,
``num_layers`` pre-norm blocks, a final RMSNorm and a linear head over the vocabulary.

    x = embed(input_ids)                               (B, T, C)
    for each block:
        x = x + attention(rms_norm(x))                 grouped-query, causal, RoPE on q and k
        x = x + mlp(rms_norm(x))                       SwiGLU: down(silu(gate(x)) * up(x))
    logits = lm_head(rms_norm(x))                      (B, T, V)

Shapes in the comments use B = batch, T = sequence length, C = hidden_size,
H = num_heads, K = num_kv_heads, D = head_dim = C / H, I = intermediate_size, V = vocab_size.

Two details differ from the textbook picture but not from the maths:

* the q, k and v projections are stored as ONE matrix ``qkv`` (rows: H*D of q, then
  K*D of k, then K*D of v), and gate/up as ONE matrix ``gate_up``: one big matmul is
  faster than three small ones, and ``ttl.model.hf`` splits them again when converting
  to and from ``transformers.LlamaForCausalLM`` (whose logits ours match to 1e-5);
* RoPE's cos/sin tables are computed once for ``max_seq_len`` positions and sliced;
* a training call ``model(ids, targets, return_logits=False)`` computes the lm_head and the
  loss chunk by chunk (``linear_cross_entropy``), never holding the full (B, T, V) logits.

This file knows nothing of Triton or of ``transformers``. The Triton kernels are applied by
swapping modules (``ttl.kernels.apply(model)``: RMSNorm, RoPE, SwiGLU and the cross-entropy get
a kernel ``forward``, the weights stay), and conversion to and from ``transformers`` lives in
``ttl.model.hf``, which imports this file and never the other way round.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from ttl.config import ConfigError, ModelConfig

IGNORE_INDEX = -100


# --------------------------------------------------------------------------- outputs and cache

@dataclass
class LlamaOutput:
    """What ``Llama.forward`` returns.

    ``logits``: (B, T, V), or None when called with ``return_logits=False``.
    ``loss``: mean next-token cross-entropy in nats over targets != -100, or None without targets.
    """

    logits: torch.Tensor | None
    loss: torch.Tensor | None = None


class KVCache:
    """Keys and values of every layer for incremental decoding.

    ``k`` and ``v`` have shape (num_layers, B, K, max_len, D); ``pos`` is how many
    positions are filled. The model writes new keys/values at ``pos`` and advances it
    after a forward pass, so RoPE positions continue where the cache stops.
    """

    def __init__(self, num_layers: int, batch_size: int, num_kv_heads: int, max_len: int,
                 head_dim: int, device=None, dtype=None) -> None:
        shape = (num_layers, batch_size, num_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0

    @property
    def batch_size(self) -> int:
        return self.k.shape[1]

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def reset(self) -> None:
        """Forget everything (the memory is reused)."""
        self.pos = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, K, T, D) at positions pos..pos+T-1; return all keys/values so far."""
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos:end] = k
        self.v[layer, :, :, self.pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


# --------------------------------------------------------------------------- building blocks

class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight, over the last dimension (no mean subtraction, no bias).

    The statistics are computed in float32 even for bf16 inputs, as in Llama and in
    ``transformers`` (the order of operations below is theirs, so float32 results agree bit for bit).
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope_reference(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate q (B, H, T, D) and k (B, K, T, D) by the angles in cos/sin (T, D).

    Llama-2 / ``transformers`` layout ("rotate_half"): dimension i is paired with
    dimension i + D/2, and the pair (a, b) turns by angle t * theta^(-2i/D).
    """
    q_out = q * cos + rotate_half(q) * sin
    k_out = k * cos + rotate_half(k) * sin
    return q_out, k_out


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE) with precomputed cos/sin tables of shape (max_seq_len, D)."""

    def __init__(self, head_dim: int, max_seq_len: int, theta: float = 10000.0) -> None:
        super().__init__()
        self.head_dim, self.max_seq_len, self.theta = head_dim, max_seq_len, theta
        cos, sin = self._tables()
        # Not saved in checkpoints: they are a function of the config.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def inv_freq(self) -> torch.Tensor:
        """Rotation speed of each dimension pair, theta^(-2i/D) for i = 0..D/2-1 (radians per position)."""
        return 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float) / self.head_dim))

    def _tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(self.max_seq_len, dtype=torch.float)
        angles = positions[:, None] * self.inv_freq()          # (T, D/2), computed in float32
        angles = torch.cat((angles, angles), dim=-1)            # (T, D): the rotate_half layout
        return angles.cos(), angles.sin()

    def reset_tables(self) -> None:
        """Recompute cos/sin in place (after ``to_empty()`` from the meta device)."""
        cos, sin = self._tables()
        self.cos = cos.to(self.cos.device, self.cos.dtype)
        self.sin = sin.to(self.sin.device, self.sin.dtype)

    def forward(self, q: torch.Tensor, k: torch.Tensor, start: int = 0):
        """Rotate q, k whose positions are start, start+1, ..., start+T-1."""
        end = start + q.shape[2]
        cos = self.cos[start:end].to(q.dtype)
        sin = self.sin[start:end].to(q.dtype)
        return self.rotate(q, k, cos, sin)

    def rotate(self, q, k, cos, sin):
        """The rotation itself (the Triton kernel replaces this method)."""
        return apply_rope_reference(q, k, cos, sin)


def causal_mask(q_len: int, k_len: int, device=None) -> torch.Tensor:
    """Boolean (q_len, k_len) mask, True where attention is allowed.

    The queries are the LAST q_len of k_len positions (the others sit in a KV cache), so
    query i (absolute position k_len - q_len + i) sees keys 0..k_len - q_len + i.
    """
    offset = k_len - q_len
    rows = torch.arange(q_len, device=device)[:, None] + offset
    cols = torch.arange(k_len, device=device)[None, :]
    return cols <= rows


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, K, T, D) -> (B, K*n_rep, T, D): each kv head serves n_rep query heads (GQA)."""
    if n_rep == 1:
        return x
    b, k, t, d = x.shape
    return x[:, :, None].expand(b, k, n_rep, t, d).reshape(b, k * n_rep, t, d)


def eager_attention(q, k, v, mask: torch.Tensor | None):
    """softmax(q k^T / sqrt(D) + mask) v with plain matmuls; returns (output, weights).

    q (B, H, T, D); k, v (B, K, S, D); mask (T, S) boolean or None. The softmax runs in float32.
    """
    n_rep = q.shape[1] // k.shape[1]
    k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)        # (B, H, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return weights @ v, weights


def _flash_attn_func():
    try:
        from flash_attn import flash_attn_func
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "model.attn_impl='flash_attn' needs the flash-attn package (CUDA GPU only): "
            "pip install flash-attn --no-build-isolation, or set model.attn_impl to 'sdpa' "
            "(or 'triton' for ttl's own kernel)") from exc
    return flash_attn_func


class Attention(nn.Module):
    """Causal grouped-query self-attention with RoPE.

    H query heads share K key/value heads (H % K == 0); K == H is ordinary multi-head attention.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = config.num_heads, config.num_kv_heads, config.head_dim
        self.attn_impl = config.attn_impl
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        # One matrix for q, k and v (rows in that order), one for the output.
        self.qkv = nn.Linear(config.hidden_size, self.q_size + 2 * self.kv_size, bias=False)
        self.o_proj = nn.Linear(self.q_size, config.hidden_size, bias=False)
        if self.attn_impl == "flash_attn":
            _flash_attn_func()  # fail now, with the fix in the message, rather than mid-training

    def forward(self, x: torch.Tensor, rope: RotaryEmbedding, kv_cache: KVCache | None = None,
                layer: int = 0, need_weights: bool = False):
        """x (B, T, C) -> (output (B, T, C), attention weights (B, H, T, S) or None)."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)       # (B, H, T, D)
        k = k.view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)    # (B, K, T, D)
        v = v.view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)    # (B, K, T, D)
        start = kv_cache.pos if kv_cache is not None else 0
        q, k = rope(q, k, start)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)                               # (B, K, S, D), S = start + T
            if k.dtype != q.dtype:      # e.g. a float32 cache under bf16 autocast
                k, v = k.to(q.dtype), v.to(q.dtype)
        y, weights = self._attend(q, k, v, need_weights)
        y = y.transpose(1, 2).reshape(B, T, self.q_size)
        return self.o_proj(y), weights

    def _attend(self, q, k, v, need_weights: bool):
        T, S = q.shape[2], k.shape[2]
        if need_weights or self.attn_impl == "eager":
            return eager_attention(q, k, v, causal_mask(T, S, q.device))
        if self.attn_impl == "triton" and T == S:
            # ttl's own tiled attention (ttl.kernels.attention); a decode step after a filled
            # KV cache (T != S) goes through sdpa below.
            from ttl.kernels import flash_attention

            return flash_attention(q, k, v, causal=True), None
        if self.attn_impl == "flash_attn":
            if q.device.type != "cuda" or q.dtype not in (torch.float16, torch.bfloat16):
                raise RuntimeError("attn_impl='flash_attn' runs on a CUDA GPU in float16/bfloat16 only; "
                                   "use attn_impl='sdpa' on the CPU or in float32")
            # flash-attn wants (B, T, H, D), handles GQA itself, and aligns its causal mask to
            # the bottom right, which is what a query block at the end of a KV cache needs.
            y = _flash_attn_func()(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=True)
            return y.transpose(1, 2), None
        # sdpa: is_causal when queries and keys are the same positions (training, prefill);
        # a single new token sees every key (no mask); a block after a filled cache needs the offset mask.
        mask, is_causal = None, False
        if T == S:
            is_causal = T > 1
        elif T > 1:
            mask = causal_mask(T, S, q.device)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                           enable_gqa=self.num_kv_heads != self.num_heads)
        return y, None


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x)), with gate and up stored as one matrix."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gate_up = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)  # rows: gate, up
        self.down = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)                           # (B, T, I) each
        return self.down(self.activate(gate, up))

    def activate(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """silu(gate) * up (the Triton kernel replaces this method)."""
        return F.silu(gate) * up


class Block(nn.Module):
    """One pre-norm transformer layer: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, rope, kv_cache=None, layer: int = 0, need_weights: bool = False):
        h, weights = self.attn(self.attn_norm(x), rope, kv_cache, layer, need_weights)
        x = x + h
        x = x + self.mlp(self.mlp_norm(x))
        return x, weights


# --------------------------------------------------------------------------- loss without logits

class _LinearCrossEntropy(torch.autograd.Function):
    """mean cross-entropy of (h @ weight.T) against targets, chunk by chunk over the rows.

    The (N, V) logits are the largest tensors of a small model's training step: autograd keeps
    the logits and their log-softmax for the backward pass (2 GB in float32 for 8,192 tokens
    and a 32,000 vocabulary). Here each chunk of rows is turned into logits, loss and the
    gradient of the loss w.r.t. the logits (softmax - one_hot) at once, and that gradient goes
    straight into grad_h and grad_weight, so only one chunk of logits exists at a time. The
    matmuls are the same three as usual, so the speed is about the same; the memory is not.
    The gradients are computed in the forward pass and only scaled in the backward pass.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunk_rows: int):
        n_valid = (targets != IGNORE_INDEX).sum()
        grad_h = torch.empty_like(h)
        grad_w = None                                                         # float32 accumulator
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], chunk_rows):
            hc, tc = h[start:start + chunk_rows], targets[start:start + chunk_rows]
            keep = (tc != IGNORE_INDEX)[:, None]                              # (n, 1)
            safe_t = tc.clamp(min=0)[:, None]
            logp = torch.log_softmax((hc @ weight.t()).float(), dim=-1)       # (n, V) log-probabilities
            total -= (logp.gather(1, safe_t) * keep).sum()
            grad = logp.exp_()                                                # softmax, in place
            grad.scatter_add_(1, safe_t, torch.full_like(safe_t, -1, dtype=grad.dtype))
            grad = grad.to(h.dtype)                                           # d(loss sum)/d(logits)
            # Ignored rows must not contribute: zero them in the small (n, C) factors rather
            # than in the large (n, V) gradient.
            grad_h[start:start + chunk_rows] = (grad @ weight) * keep
            part = (grad.t() @ (hc * keep)).float()      # matmul in the input dtype (bf16 on GPUs)
            grad_w = part if grad_w is None else grad_w.add_(part)
        scale = 1.0 / n_valid.clamp(min=1)  # every target ignored: loss 0 and zero gradients (the one rule)
        ctx.save_for_backward(grad_h, grad_w, scale)
        ctx.weight_dtype = weight.dtype
        return total * scale

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w, scale = ctx.saved_tensors
        factor = grad_out * scale
        return (grad_h * factor.to(grad_h.dtype), (grad_w * factor).to(ctx.weight_dtype), None, None)


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         chunk_rows: int | None = None) -> torch.Tensor:
    """``F.cross_entropy(h @ weight.T, targets, ignore_index=-100)`` without materialising the logits.

    h (N, C), weight (V, C), targets (N,). Same value and gradients as the plain version (up to
    float rounding); see ``_LinearCrossEntropy``. Under autocast the matmuls run in the autocast dtype.
    """
    device_type = h.device.type
    if torch.is_autocast_enabled(device_type):
        dtype = torch.get_autocast_dtype(device_type)
        h, weight = h.to(dtype), weight.to(dtype)
    if chunk_rows is None:
        # About 8M logits a chunk (32 MB in float32): big enough for efficient matmuls,
        # small next to the whole (N, V) logits of a real vocabulary.
        chunk_rows = max(1, (1 << 23) // weight.shape[0])
    with torch.autocast(device_type, enabled=False):
        return _LinearCrossEntropy.apply(h, weight, targets, int(chunk_rows))


class CrossEntropy(nn.Module):
    """Mean cross-entropy over the targets that are not -100.

    The one rule for a batch where every target is ignored (a fully masked chat example, say):
    the loss is 0 with zero gradients, in every path (this one, ``linear_cross_entropy`` and
    the Triton kernel), where ``F.cross_entropy`` alone would give NaN and poison the weights.
    """

    def forward(self, logits2d: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        total = F.cross_entropy(logits2d.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
        return total / (targets != IGNORE_INDEX).sum().clamp(min=1)


# --------------------------------------------------------------------------- the model

class Llama(nn.Module):
    """The full decoder. ``Llama(config)`` builds it with fresh random weights."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ConfigError(f"Llama needs a ttl.config.ModelConfig (e.g. load_profile().model), "
                              f"got {type(config).__name__}")
        self.config = config
        # Rows per chunk of the fused lm_head + loss of training steps (None: automatic).
        self.loss_chunk_rows: int | None = None
        # Recompute each block in the backward pass (train.activation_checkpointing sets it).
        self.activation_checkpointing = False
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rope = RotaryEmbedding(config.head_dim, config.max_seq_len, config.rope_theta)
        self.criterion = CrossEntropy()
        if config.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.reset_parameters()

    # ---- initialisation

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """normal(0, initializer_range) for matrices; the two projections that write into the
        residual stream (attention output, MLP down) scaled by 1/sqrt(2 * num_layers) so the
        residual's variance does not grow with depth (GPT-2); RMSNorm gains at 1."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, RMSNorm):
                nn.init.ones_(module.weight)
        for block in self.blocks:
            residual_std = std / math.sqrt(2 * self.config.num_layers)
            nn.init.normal_(block.attn.o_proj.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp.down.weight, mean=0.0, std=residual_std)
        self.rope.reset_tables()

    # ---- forward

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor | None = None,
                kv_cache: KVCache | None = None, return_logits: bool = True) -> LlamaOutput:
        """Logits for every position, and the loss when ``targets`` are given.

        input_ids: (B, T) token ids. targets: (B, T) the NEXT token at each position (the caller
        shifts), -100 where no loss is wanted. kv_cache: see ``new_kv_cache``; the new tokens come
        after the ``kv_cache.pos`` tokens already in it, and the cache advances by T.
        """
        B, T = self._check_inputs(input_ids, targets, kv_cache)
        x = self.embed(input_ids)                                             # (B, T, C)
        recompute = self.activation_checkpointing and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if recompute:  # keep only the block's input; its activations are recomputed in backward
                x, _ = torch.utils.checkpoint.checkpoint(block, x, self.rope, kv_cache, i, use_reentrant=False)
            else:
                x, _ = block(x, self.rope, kv_cache, i)
        x = self.norm(x)                                                      # (B, T, C)
        if kv_cache is not None:
            kv_cache.pos += T
        if (targets is not None and not return_logits
                and torch.is_grad_enabled() and (x.requires_grad or self.lm_head.weight.requires_grad)):
            # Training step that does not need the logits: loss and its gradient chunk by chunk.
            loss = linear_cross_entropy(x.reshape(B * T, -1), self.lm_head.weight, targets.reshape(-1),
                                        self.loss_chunk_rows)
            return LlamaOutput(logits=None, loss=loss)
        logits = self.lm_head(x)                                              # (B, T, V)
        loss = self.loss(logits, targets) if targets is not None else None
        return LlamaOutput(logits=logits if return_logits else None, loss=loss)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats) of logits (..., V) against targets (...), ignoring -100."""
        return self.criterion(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def _check_inputs(self, input_ids, targets, kv_cache):
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            raise ValueError("input_ids must be a 2-D tensor (batch, seq_len) of token ids; "
                             "use ids[None] for a single sequence")
        if input_ids.dtype not in (torch.long, torch.int):
            raise ValueError(f"input_ids must hold integer token ids (torch.long), got dtype {input_ids.dtype}; "
                             "use input_ids.long()")
        B, T = input_ids.shape
        if T == 0:
            raise ValueError("input_ids is empty (seq_len 0); give at least one token")
        start = kv_cache.pos if kv_cache is not None else 0
        if start + T > self.config.max_seq_len:
            raise ValueError(f"sequence of {start + T} positions is longer than model.max_seq_len "
                             f"({self.config.max_seq_len}); truncate the input or train with a longer context")
        if targets is not None and targets.shape != input_ids.shape:
            raise ValueError(f"targets shape {tuple(targets.shape)} must equal input_ids shape {(B, T)} "
                             "(targets[:, t] is the token that follows input_ids[:, t])")
        if kv_cache is not None:
            if kv_cache.batch_size != B:
                raise ValueError(f"kv_cache was made for batch size {kv_cache.batch_size}, input has {B}")
            if start + T > kv_cache.max_len:
                raise ValueError(f"kv_cache holds {kv_cache.max_len} positions, {start} used; cannot add {T} "
                                 "more: make it with a larger max_len or call cache.reset()")
        return B, T

    def new_kv_cache(self, batch_size: int, max_len: int | None = None, device=None, dtype=None) -> KVCache:
        """An empty KV cache for ``batch_size`` sequences of up to ``max_len`` tokens
        (default and maximum: ``config.max_seq_len``); device and dtype default to the model's."""
        max_len = self.config.max_seq_len if max_len is None else int(max_len)
        if not 0 < max_len <= self.config.max_seq_len:
            raise ValueError(f"kv cache max_len must be in 1..{self.config.max_seq_len} (model.max_seq_len), "
                             f"got {max_len}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        ref = self.embed.weight
        c = self.config
        return KVCache(c.num_layers, batch_size, c.num_kv_heads, max_len, c.head_dim,
                       device=device or ref.device, dtype=dtype or ref.dtype)

    @torch.no_grad()
    def attention_maps(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Attention weights of every layer and head, (L, B, H, T, T), computed with plain matmuls
        whatever ``attn_impl`` is (for plots: row t is where position t looks)."""
        self._check_inputs(input_ids, None, None)
        x = self.embed(input_ids)
        maps = []
        for i, block in enumerate(self.blocks):
            x, weights = block(x, self.rope, None, i, need_weights=True)
            maps.append(weights)
        return torch.stack(maps)

    # ---- bookkeeping

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of parameters (a tied head counts once). ``exclude_embeddings`` leaves out the
        token embedding table (as ``transformers`` does); an untied lm_head is still counted."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.embed.weight.numel()
        return total

    @staticmethod
    def count_parameters(config: ModelConfig) -> int:
        """Parameters of a model of this shape, built on the meta device (no memory used)."""
        light = dataclasses.replace(config, attn_impl="sdpa", use_kernels=False)
        with torch.device("meta"):
            return Llama(light).num_parameters()

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token (forward + backward), as in PaLM (appendix B) / Chinchilla:

            6 * N + 12 * num_layers * hidden_size * seq_len

        N counts the weights of the matmuls (the linear layers and the lm_head, even when tied to
        the embedding; not the embedding lookup nor the RMSNorm gains): each weight costs a
        multiply and an add (2 FLOPs) in the forward pass and twice that in the backward pass.
        The second term is the attention scores and weighted sum (q k^T and a v: 2 matmuls of
        2 * T * hidden FLOPs per token, times 3 for forward + backward) over the full T x T
        matrix, as the usual MFU accounting does (the causal mask would halve the useful part).
        """
        c = self.config
        n = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        return 6 * n + 12 * c.num_layers * c.hidden_size * int(seq_len)

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """Two AdamW parameter groups: weight decay on the matrices of linear layers only; none on
        RMSNorm gains, biases and the embedding table (decaying a gain pulls it towards 0, i.e.
        switches the layer off; TeenyTinyLlama's name filter missed these and decayed them all)."""
        decay, no_decay, seen = [], [], set()
        for module in self.modules():
            for name, param in module.named_parameters(recurse=False):
                if id(param) in seen:       # a tied lm_head is the embedding, already placed
                    continue
                seen.add(id(param))
                if isinstance(module, nn.Linear) and name == "weight":
                    decay.append(param)
                else:
                    no_decay.append(param)
        return [{"params": decay, "weight_decay": float(weight_decay)},
                {"params": no_decay, "weight_decay": 0.0}]
