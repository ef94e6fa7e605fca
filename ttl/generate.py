"""Text generation: greedy decoding and sampling with a KV cache.

The prompt is fed once (prefill), then one token at a time, each step
attending to the keys and values kept in the cache instead of recomputing the
whole prefix. Sampling reshapes the next-token distribution in a fixed order:
repetition penalty, temperature, top-k, top-p (nucleus), then draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class SamplingConfig:
    max_new_tokens: int = 64
    temperature: float = 1.0   # 0 means greedy
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop_at_eos: bool = True
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0 (1.0 switches it off)")
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")


def process_logits(logits: torch.Tensor, previous: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """Turn raw next-token logits (B, V) into the logits that are sampled from (or argmaxed)."""
    logits = logits.float().clone()
    if cfg.repetition_penalty != 1.0 and previous.numel():
        # As in the CTRL paper: shrink logits of tokens already present (divide positives, multiply negatives).
        seen = torch.gather(logits, 1, previous)
        seen = torch.where(seen > 0, seen / cfg.repetition_penalty, seen * cfg.repetition_penalty)
        logits.scatter_(1, previous, seen)
    if cfg.temperature == 0:
        return logits
    logits = logits / cfg.temperature
    if cfg.top_k is not None and cfg.top_k < logits.size(-1):
        kth = torch.topk(logits, cfg.top_k, dim=-1).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p is not None and cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens before it already cover top_p; the best token always stays.
        drop = probs.cumsum(-1) - probs >= cfg.top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def _choose(logits: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator | None) -> torch.Tensor:
    if cfg.temperature == 0:
        return logits.argmax(-1, keepdim=True)
    return torch.multinomial(logits.softmax(-1), 1, generator=gen)


@torch.no_grad()
def generate_ids(model, input_ids: torch.Tensor, cfg: SamplingConfig | None = None, *,
                 eos_token_id: int | None = None, use_cache: bool = True) -> Iterator[torch.Tensor]:
    """Yield new token ids (B, 1) one step at a time for a batch of equal-length prompts."""
    cfg = cfg or SamplingConfig()
    model.eval()
    device = next(model.parameters()).device
    ids = input_ids.to(device)
    limit = model.config.max_seq_len
    if ids.size(1) >= limit:
        raise ValueError(f"the prompt has {ids.size(1)} tokens but the model's context is {limit}; "
                         f"shorten the prompt")
    steps = min(cfg.max_new_tokens, limit - ids.size(1))
    gen = torch.Generator(device=device).manual_seed(cfg.seed) if cfg.seed is not None else None
    eos = eos_token_id if eos_token_id is not None else model.config.eos_token_id
    finished = torch.zeros(ids.size(0), dtype=torch.bool, device=device)
    cache = model.new_kv_cache(ids.size(0), ids.size(1) + steps) if use_cache else None
    step_input = ids
    for _ in range(steps):
        if use_cache:
            logits = model(step_input, kv_cache=cache).logits[:, -1]
        else:
            logits = model(ids).logits[:, -1]
        nxt = _choose(process_logits(logits, ids, cfg), cfg, gen)
        if cfg.stop_at_eos:
            nxt = torch.where(finished[:, None], torch.full_like(nxt, eos), nxt)
        ids = torch.cat([ids, nxt], dim=1)
        step_input = nxt
        yield nxt
        if cfg.stop_at_eos:
            finished |= nxt[:, 0] == eos
            if bool(finished.all()):
                return


def generate(model, tokenizer, prompt: str, cfg: SamplingConfig | None = None, **overrides) -> str:
    """Continue ``prompt`` and return only the generated text (without the prompt)."""
    return "".join(stream(model, tokenizer, prompt, cfg, **overrides))


def stream(model, tokenizer, prompt: str, cfg: SamplingConfig | None = None, **overrides) -> Iterator[str]:
    """Yield the continuation of ``prompt`` piece by piece, as it is generated (for a playground)."""
    if cfg is None:
        cfg = SamplingConfig(**overrides)
    elif overrides:
        cfg = SamplingConfig(**{**cfg.__dict__, **overrides})
    prompt_ids = tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids])
    # The continuation is decoded after the prompt, not alone: alone, its first word would
    # lose the space in front of it ("Era uma vez" + "de" instead of " de").
    prefix = tokenizer.decode(prompt_ids, skip_special_tokens=True)
    new: list[int] = []
    text_so_far = ""
    for tok in generate_ids(model, ids, cfg, eos_token_id=tokenizer.eos_token_id):
        token = int(tok[0, 0])
        if cfg.stop_at_eos and token == tokenizer.eos_token_id:
            break
        new.append(token)
        # Decode the whole continuation each time: byte-fallback tokens only form a
        # character together, so the text grows by whatever became printable.
        full = tokenizer.decode(prompt_ids + new, skip_special_tokens=True)
        text = full[len(prefix):] if full.startswith(prefix) else tokenizer.decode(new, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            continue
        piece, text_so_far = text[len(text_so_far):], text
        for stop in cfg.stop_strings:
            if stop in text_so_far:
                head = text_so_far[: text_so_far.index(stop)]
                emitted = len(text_so_far) - len(piece)
                if len(head) > emitted:
                    yield head[emitted:]
                return
        if piece:
            yield piece
