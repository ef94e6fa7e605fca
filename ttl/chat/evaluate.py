"""The measured effect of chat tuning: does the model keep the format, and does it prefer the better answer?

* :func:`format_adherence`: for each held-out conversation, the model answers its last user
  turn (greedy, from the generation prompt); it *kept the format* when it wrote a non-empty
  answer, started no role marker of its own, and ended its turn with ``</s>`` within
  ``max_new_tokens``.
* :func:`preference_accuracy`: the share of test triples whose chosen answer gets the higher
  summed log-probability under the model (with ``reference``: the higher DPO reward
  beta * (log pi - log pi_ref), which is what DPO optimises). Chance is 50%.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from ..special_tokens import EOS_ID
from .dpo import collate_pairs, model_logps, pair_example
from .template import encode_chat, parse_reply


@torch.no_grad()
def chat_reply(model, tokenizer, messages, max_new_tokens: int = 48) -> tuple[str, bool, bool]:
    """The model's greedy answer to ``messages``: (text, ended with </s>, kept the format)."""
    from ..generate import SamplingConfig, generate_ids

    ids = encode_chat(tokenizer, messages, add_generation_prompt=True).input_ids
    room = model.config.max_seq_len - len(ids)
    cfg = SamplingConfig(max_new_tokens=max(1, min(max_new_tokens, room - 1)), temperature=0.0)
    new = []
    for tok in generate_ids(model, torch.tensor([ids]), cfg, eos_token_id=EOS_ID):
        new.append(int(tok[0, 0]))
        if new[-1] == EOS_ID:
            break
    ended = bool(new) and new[-1] == EOS_ID
    text = tokenizer.decode(new, skip_special_tokens=False)
    answer, kept = parse_reply(text)
    return answer, ended, kept and ended


def format_adherence(model, tokenizer, conversations: Sequence[dict], max_new_tokens: int = 48) -> dict:
    """Share of held-out prompts answered in the chat format and closed with ``</s>``."""
    ended = kept = 0
    examples = []
    for conv in conversations:
        messages = conv["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        answer, e, k = chat_reply(model, tokenizer, messages[:last], max_new_tokens)
        ended += e
        kept += k
        if len(examples) < 3:
            examples.append({"prompt": messages[last - 1]["content"], "answer": answer, "kept_format": k})
    n = max(1, len(conversations))
    return {"n": len(conversations), "stops_at_eos": ended / n, "keeps_format": kept / n, "examples": examples}


@torch.no_grad()
def preference_accuracy(model, tokenizer, triples: Sequence[dict], *, reference=None, beta: float = 0.1,
                        max_length: int | None = None, batch_size: int = 16) -> dict:
    """Share of triples where the chosen answer scores above the rejected one, overall and by kind."""
    wins, by_kind = [], defaultdict(list)
    for start in range(0, len(triples), batch_size):
        chunk = triples[start:start + batch_size]
        limit = min(max_length or model.config.max_seq_len, model.config.max_seq_len)
        batch = collate_pairs([pair_example(tokenizer, t, limit) for t in chunk])
        logps = model_logps(model, batch)
        if reference is not None:
            logps = beta * (logps - model_logps(reference, batch))
        b = len(chunk)
        for t, c, r in zip(chunk, logps[:b].tolist(), logps[b:].tolist()):
            wins.append(c > r)
            by_kind[t.get("kind", "preference")].append(c > r)
    return {"n": len(wins), "accuracy": sum(wins) / max(1, len(wins)),
            "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}, "baseline": 0.5}
