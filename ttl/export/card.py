"""Model cards (README.md with Hub metadata) for the exported folders, and their sampling defaults.

A folder a user uploads or shares must say what it is: the architecture, what it was trained
on, how to call it (including the input format a classifier expects through ``pipeline``),
and its limits. The cards are written from the run's own facts (config, manifest, metrics),
never by hand.
"""

from __future__ import annotations

import json
from typing import Any

from ttl.config import ConfigError
from ttl.resources import language_resources

# The sampling settings of the TeenyTinyLlama model cards, written into generation_config.json
# so that `pipeline("text-generation")` and `model.generate` use them unless told otherwise. No
# max_new_tokens: transformers lets that file's value win over a caller's max_length, so the
# evaluation harness's answer length (a few tokens) would become the file's.
SAMPLING_DEFAULTS = {"do_sample": True, "temperature": 0.2, "top_k": 20, "top_p": 0.2,
                     "repetition_penalty": 1.2}


# Which of ttl's few-shot result keys is the Portuguese leaderboard's metric of each kind.
_LEADERBOARD_METRICS = (("f1_macro", "F1-macro"), ("macro_f1", "F1-macro"), ("pearson", "Pearson"),
                        ("accuracy", "accuracy"))


def _front_matter(meta: dict[str, Any]) -> str:
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"- {json.dumps(v, ensure_ascii=False)}" for v in value]
        else:
            lines.append(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines + ["---", ""])


def co2_metadata(emissions: dict | None) -> dict | None:
    """The Hub's ``co2_eq_emissions`` block (grams) from the run's CodeCarbon total, if tracked."""
    if not emissions or emissions.get("co2_kg") is None:
        return None
    return {"emissions": round(float(emissions["co2_kg"]) * 1000, 3), "source": emissions.get("source", "CodeCarbon"),
            "training_type": "pre-training", "geographical_location": emissions.get("country_iso_code", "unknown")}


def model_index(name: str, evaluations: list[dict] | None) -> list[dict] | None:
    """The Hub's ``model-index`` from ``ttl eval`` results (reports/fewshot.json): one result per task."""
    from ..tasks import get_task

    results = []
    for res in evaluations or []:
        task = get_task(res["task"])
        metrics = [{"type": key, "name": f"{label} ({res.get('num_fewshot', 0)}-shot)", "value": round(100 * res[key], 2)
                    if key != "pearson" else round(res[key], 4)}
                   for key, label in _LEADERBOARD_METRICS if isinstance(res.get(key), (int, float))][:1]
        if metrics:
            results.append({"task": {"type": "text-generation", "name": "Text Generation"},
                            "dataset": {"name": task.name, "type": task.data.hub_name, "split": "test"},
                            "metrics": metrics})
    return [{"name": name, "results": results}] if results else None


def model_card(config, *, name: str = "ttl-model", language: str = "pt", corpus: str | None = None,
               parameters: int | None = None, metrics: dict | None = None, manifest: dict | None = None,
               emissions: dict | None = None, evaluations: list[dict] | None = None, chat: str | None = None) -> str:
    """The README.md of an exported causal LM folder (metadata in the layout of the TeenyTinyLlama
    cards: language, license, datasets, pipeline tag, widget, CO2, model-index)."""
    meta = {"language": [language], "license": "apache-2.0", "library_name": "transformers",
            "pipeline_tag": "text-generation", "tags": ["llama", "ttl", "text-generation"]}
    if corpus and "/" in corpus and not corpus.startswith((".", "/")):
        meta["datasets"] = [corpus]
    if chat:
        meta["tags"] += ["conversational", chat]
    # Prompts for the Hub's inference widget: the language's prompts.yaml (a language without one gets none).
    try:
        widget = (language_resources(language).prompts or {}).get("widget") or []
    except ConfigError:       # not a language code ("und", None): no widget, as for a language without prompts
        widget = []
    if widget:
        meta["widget"] = ([{"messages": [{"role": "user", "content": t}]} for t in widget] if chat
                          else [{"text": t, "example_title": t} for t in widget])
    if co2_metadata(emissions):
        meta["co2_eq_emissions"] = co2_metadata(emissions)
    if model_index(name, evaluations):
        meta["model-index"] = model_index(name, evaluations)
    rows = [("architecture", "Llama (RMSNorm, RoPE, SwiGLU, grouped-query attention), untied head"
             if not config.tie_embeddings else "Llama (RMSNorm, RoPE, SwiGLU, GQA), tied embeddings"),
            ("parameters", f"{parameters:,}" if parameters else "see config.json"),
            ("hidden size / layers", f"{config.hidden_size} / {config.num_layers}"),
            ("heads / KV heads", f"{config.num_heads} / {config.num_kv_heads}"),
            ("context", f"{config.max_seq_len} tokens"), ("vocabulary", f"{config.vocab_size} tokens")]
    if metrics:
        rows += [(k.replace("_", " "), f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in metrics.items()]
    if emissions and emissions.get("co2_kg") is not None:
        energy = emissions.get("energy_kwh")
        rows.append(("training emissions", f"{1000 * emissions['co2_kg']:.4g} g CO2eq"
                     + (f", {energy:.4g} kWh" if energy else "") + " (CodeCarbon)"))
    for result in (model_index(name, evaluations) or [{"results": []}])[0]["results"]:
        metric = result["metrics"][0]
        rows.append((f"{result['dataset']['name']} ({metric['name']})", str(metric["value"])))
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

{_chat_use(chat) if chat else _text_use()}

`generation_config.json` holds the sampling settings of the TeenyTinyLlama cards ({sampling}).

For llama.cpp (and the tools built on it), `ttl export --format gguf --quant q8_0` writes the
same model, tokenizer included, as one GGUF file.

## Intended use

Research and teaching: studying how a small language model for `{language}` is built, trained
and evaluated, and a base for fine-tuning (classification, chat) and for comparison with other
models. Not for deployment in products or for decisions about people.

## Limitations

A small model trained on a limited corpus: it produces fluent-looking text that may be false,
biased or offensive, and it follows no instructions unless chat-tuned. Evaluate it on your task
before relying on it.
"""


def _text_use() -> str:
    return """```python
from transformers import pipeline

generator = pipeline("text-generation", model="path/to/this/folder")
print(generator("Era uma vez", max_new_tokens=40)[0]["generated_text"])
```"""


def _chat_use(stage: str) -> str:
    how = {"sft": "supervised fine-tuning on conversations (loss on the assistant's tokens only)",
           "dpo": "supervised fine-tuning, then DPO on preference pairs"}.get(stage, stage)
    return f"""A chat model, made from the pretrained model by {how} (`ttl {stage}`). Its chat template
(TinyLlama's format: `<|user|>`, `<|assistant|>`, `<|system|>` markers, `</s>` ending every
turn) is stored with the tokenizer, so a list of messages can be passed as it is:

```python
from transformers import pipeline

chat = pipeline("text-generation", model="path/to/this/folder")
messages = [{{"role": "user", "content": "Qual é a capital do Peru?"}}]
print(chat(messages, max_new_tokens=60)[0]["generated_text"][-1]["content"])
```"""


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
