"""Model cards (README.md with Hub metadata) for the exported folders, and their sampling defaults.

A folder a user uploads or shares must say what it is: the architecture, what it was trained
on, how to call it (including the input format a classifier expects through ``pipeline``),
and its limits. The cards are written from the run's own facts (config, manifest, metrics),
never by hand.
"""

from __future__ import annotations

import json
from typing import Any

# The sampling settings of the TeenyTinyLlama model cards, written into generation_config.json
# so that `pipeline("text-generation")` and `model.generate` use them unless told otherwise.
SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.2, "top_k": 20, "top_p": 0.2,
                     "repetition_penalty": 1.2, "max_new_tokens": 150}


def _front_matter(meta: dict[str, Any]) -> str:
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"- {json.dumps(v, ensure_ascii=False)}" for v in value]
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines + ["---", ""])


def model_card(config, *, name: str = "ttl-model", language: str = "pt", corpus: str | None = None,
               parameters: int | None = None, metrics: dict | None = None, manifest: dict | None = None) -> str:
    """The README.md of an exported causal LM folder."""
    meta = {"language": [language], "license": "apache-2.0", "library_name": "transformers",
            "pipeline_tag": "text-generation", "tags": ["llama", "ttl", "text-generation"]}
    if corpus and "/" in corpus and not corpus.startswith((".", "/")):
        meta["datasets"] = [corpus]
    rows = [("architecture", "Llama (RMSNorm, RoPE, SwiGLU, grouped-query attention), untied head"
             if not config.tie_embeddings else "Llama (RMSNorm, RoPE, SwiGLU, GQA), tied embeddings"),
            ("parameters", f"{parameters:,}" if parameters else "see config.json"),
            ("hidden size / layers", f"{config.hidden_size} / {config.num_layers}"),
            ("heads / KV heads", f"{config.num_heads} / {config.num_kv_heads}"),
            ("context", f"{config.max_seq_len} tokens"), ("vocabulary", f"{config.vocab_size} tokens")]
    if metrics:
        rows += [(k.replace("_", " "), f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in metrics.items()]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    sampling = ", ".join(f"{k}={v}" for k, v in SAMPLING_DEFAULTS.items())
    made_from = ""
    if manifest:
        made_from = (f"\nMade by `ttl` from checkpoint `{manifest.get('config', {}).get('checkpoint')}` "
                     f"(profile `{manifest.get('profile')}`); `manifest.json` in this folder records the "
                     "digests of everything it was made from.\n")
    return _front_matter(meta) + f"""
# {name}

A compact Llama language model for `{language}`, pretrained from scratch with the `ttl` course
package in the footsteps of TeenyTinyLlama.

| | |
|---|---|
{table}

Training data: {corpus or "the course's embedded sample (a smoke run: the model is tiny and not useful for text)"}.
{made_from}
## Use

```python
from transformers import pipeline

generator = pipeline("text-generation", model="path/to/this/folder")
print(generator("Era uma vez", max_new_tokens=40)[0]["generated_text"])
```

`generation_config.json` holds the sampling settings of the TeenyTinyLlama cards ({sampling}).

## Limitations

A small model trained on a limited corpus: it produces fluent-looking text that may be false,
biased or offensive, and it follows no instructions unless chat-tuned. Evaluate it on your task
before relying on it.
"""


def classifier_card(task, metrics: dict, *, language: str = "pt", base: str | None = None) -> str:
    """The README.md of a fine-tuned classifier folder, with the input format ``pipeline`` needs."""
    meta = {"language": [language], "license": "apache-2.0", "library_name": "transformers",
            "pipeline_tag": "text-classification", "tags": ["llama", "ttl", task.name],
            "datasets": [task.data.hub_name]}
    columns = task.input_columns
    if len(columns) > 1:
        # The tokenizer adds the first <s> itself; the separators and the final </s> are written.
        example = "<s>".join("{" + c + "}" for c in columns) + "</s>"
        fmt = (f"`\"{example}\"`: the tokenizer adds the leading `<s>`, so the model sees "
               f"`<s>{example}` exactly as in training")
    else:
        fmt = f"`\"{{{columns[0]}}}</s>\"` (the tokenizer adds the leading `<s>`)"
    labels = ", ".join(f"{i} = {n}" for i, n in enumerate(task.label_names))
    scores = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float))
    return _front_matter(meta) + f"""
# {task.name} classifier

{task.description}, fine-tuned from {base or "a ttl-pretrained Llama"} with `ttl finetune`
(`AutoModelForSequenceClassification`; checkpoint selected on the validation split, the test
split used once).

Labels: {labels}.

Input format for `pipeline("text-classification")`: {fmt}.

| metric (test split) | value |
|---|---|
{scores}
"""
