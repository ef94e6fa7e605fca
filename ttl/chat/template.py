"""The chat format: how a conversation becomes one token sequence, and which tokens are the answer.

A conversation is a list of messages ``{"role": "system" | "user" | "assistant", "content": str}``.
It is written in the format of TinyLlama's chat model (Zephyr's), with the tokenizer's own
special tokens and no new ones (so the pretrained embedding table is used as it is)::

    <s><|system|>
    Você é um assistente prestativo.</s>
    <|user|>
    Qual é a capital do Peru?</s>
    <|assistant|>
    A capital do Peru é Lima.</s>

* ``<s>`` (BOS) opens the conversation once; ``</s>`` (EOS) closes every turn, so a model that
  learned the format stops when its turn ends, with the stopping rule generation already has;
* the role markers ``<|user|>``, ``<|assistant|>``, ``<|system|>`` are plain text, spelled with
  ordinary tokens (a learner can read them in any decoded sequence);
* the *assistant* tokens are the content of each assistant message and its ``</s>``: the only
  tokens SFT computes a loss on (:func:`encode_chat` returns them as a mask).

:data:`CHAT_TEMPLATE` is the same format as a Jinja template, stored in the tokenizer
(``tokenizer.chat_template``, saved into ``tokenizer_config.json``/``chat_template.jinja``), so
``tokenizer.apply_chat_template(messages)`` and ``pipeline("text-generation")`` use it; its
``{% generation %}`` blocks let ``return_assistant_tokens_mask=True`` (and TRL's
``assistant_only_loss``) find the same answer tokens. :func:`render` writes it in Python and the
tests check that the two agree character for character.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..special_tokens import BOS, EOS

ROLES = ("system", "user", "assistant")
ROLE_MARK = "<|{role}|>\n"
GENERATION_PROMPT = ROLE_MARK.format(role="assistant")

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first %}{{ bos_token }}{% else %}{{ '\n' }}{% endif %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '\n<|assistant|>\n' }}{% endif %}"
)


class ChatFormatError(ValueError):
    """A conversation that cannot be written in the chat format; the message says what is wrong."""


def check_messages(messages: Sequence[Mapping], *, where: str = "conversation") -> list[dict[str, str]]:
    """The messages as plain dicts, checked: known roles, text content, a system message only first."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ChatFormatError(f"{where}: expected a non-empty list of messages "
                              f"({{'role': 'user', 'content': '...'}}), got {type(messages).__name__}")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ChatFormatError(f"{where}, message {i}: each message needs 'role' and 'content', got {message!r}")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ChatFormatError(f"{where}, message {i}: role must be one of {ROLES}, got {role!r}")
        if role == "system" and i != 0:
            raise ChatFormatError(f"{where}, message {i}: a system message may only come first")
        if not isinstance(content, str):
            raise ChatFormatError(f"{where}, message {i}: content must be text, got {type(content).__name__}")
        if BOS in content or EOS in content:
            raise ChatFormatError(f"{where}, message {i}: content contains {BOS!r} or {EOS!r}, which the format "
                                  "reserves for the start of the conversation and the end of a turn")
        out.append({"role": role, "content": content})
    return out


def render(messages: Sequence[Mapping], add_generation_prompt: bool = False) -> str:
    """The conversation as text, exactly as :data:`CHAT_TEMPLATE` writes it."""
    return render_spans(messages, add_generation_prompt)[0]


def render_spans(messages: Sequence[Mapping], add_generation_prompt: bool = False
                 ) -> tuple[str, list[tuple[int, int]]]:
    """The text, and the character spans ``[start, end)`` of every assistant answer (content + ``</s>``)."""
    messages = check_messages(messages)
    parts, spans, pos = [BOS], [], len(BOS)
    for i, message in enumerate(messages):
        # Turns are separated by a newline that comes before each role marker, so a conversation
        # ends exactly on its last </s>: nothing follows an answer's end of turn.
        mark = ("\n" if i else "") + ROLE_MARK.format(role=message["role"])
        body = message["content"] + EOS
        parts += [mark, body]
        start = pos + len(mark)
        if message["role"] == "assistant":
            spans.append((start, start + len(body)))
        pos = start + len(body)
    if add_generation_prompt:
        parts.append("\n" + GENERATION_PROMPT)
    return "".join(parts), spans


@dataclass
class EncodedChat:
    """One conversation as token ids, with ``assistant_mask[i] == 1`` on the answer tokens."""

    input_ids: list[int]
    assistant_mask: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_chat(tokenizer, messages: Sequence[Mapping], *, add_generation_prompt: bool = False,
                max_length: int | None = None) -> EncodedChat:
    """Token ids of a rendered conversation and the mask of its assistant tokens.

    The whole text is tokenized at once (as ``apply_chat_template`` does, so the ids are the
    same), and a token belongs to an answer when its first character lies in an answer's span.
    ``max_length`` keeps the first tokens (a conversation cut inside an answer keeps the part
    of the answer that fits; the model then learns no end of turn for it).
    """
    text, spans = render_spans(messages, add_generation_prompt)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    mask = []
    for start, end in offsets:
        mask.append(int(any(a <= start < b for a, b in spans) and end > start))
    if max_length is not None:
        ids, mask = ids[:max_length], mask[:max_length]
    return EncodedChat(ids, mask)


def add_chat_template(tokenizer):
    """Store :data:`CHAT_TEMPLATE` in ``tokenizer`` (in place; returned for chaining)."""
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


# --------------------------------------------------------------------------- the corpus's instructions

_INSTRUCTION = re.compile(r"<instruction>(.*?)</instruction>(.*)", re.DOTALL)


def instruction_to_messages(text: str) -> list[dict[str, str]] | None:
    """A corpus document ``<instruction>request</instruction>answer`` as a user/assistant pair
    (None for a document that is not an instruction, or has an empty request or answer)."""
    match = _INSTRUCTION.fullmatch(text.strip())
    if not match:
        return None
    request, answer = match.group(1).strip(), match.group(2).strip()
    if not request or not answer:
        return None
    return [{"role": "user", "content": request}, {"role": "assistant", "content": answer}]


def parse_reply(text: str) -> tuple[str, bool]:
    """What a model wrote after the generation prompt: its answer, and whether it kept the format
    (an answer that is not empty and does not start a new role marker of its own)."""
    answer = text.split(EOS)[0]
    starts_turn = re.search(r"<\|(user|assistant|system)\|>", answer) is not None
    return answer.strip(), bool(answer.strip()) and not starts_turn
