"""Load ttl's exported folders with whatever transformers is importable and report what they give.

tests/test_compat.py calls :func:`report` twice on the same folders: imported, with the venv's
transformers (the newest the package allows), and as a script in a subprocess whose PYTHONPATH
starts with the folder ``make compat-env`` fills (the oldest transformers pyproject.toml allows,
with its own tokenizers and huggingface_hub, over the venv's torch). The two reports must agree.

Only torch, tokenizers and transformers are imported, never ``ttl``: this is what a user of the
exported folders has.

    python tests/compat_check.py SPEC.json REPORT.json
"""

from __future__ import annotations

import json
import sys


def _tokenizer_report(tokenizer, texts: list[str]) -> dict:
    batch = tokenizer(texts, padding=True)
    return {
        "ids": [tokenizer(t)["input_ids"] for t in texts],
        "keys": sorted(tokenizer(texts[0]).keys()),
        "decoded": [tokenizer.decode(tokenizer(t)["input_ids"], skip_special_tokens=True) for t in texts],
        "batch_ids": batch["input_ids"],
        "batch_mask": batch["attention_mask"],
        "specials": [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id],
        "padding_side": tokenizer.padding_side,
    }


def _forcing(token: int, position: int):
    """A logits processor that makes ``token`` the one generated at ``position``."""
    import torch
    from transformers import LogitsProcessor

    class ForceToken(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if input_ids.shape[-1] == position:
                forced = torch.full_like(scores, -float("inf"))
                forced[:, token] = 0.0
                return forced
            return scores

    return ForceToken()


def report(spec: dict) -> dict:
    """What the folders named in ``spec`` give under the transformers this process imports."""
    import torch
    import transformers

    # One thread: the same arithmetic in both processes, and tiny matrices run fastest so
    # (several threads on a busy machine made each small product 10x slower).
    verbosity, threads = transformers.logging.get_verbosity(), torch.get_num_threads()
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    try:
        return _report(spec)
    finally:
        transformers.logging.set_verbosity(verbosity)
        torch.set_num_threads(threads)


def _report(spec: dict) -> dict:
    import tokenizers
    import torch
    import transformers
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                              GenerationConfig, LogitsProcessorList, pipeline)

    out: dict = {"versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                              "torch": torch.__version__, "transformers_file": transformers.__file__,
                              "tokenizers_file": tokenizers.__file__}}
    texts = spec["texts"]

    # The tokenizer: the run's own folder and the copy in the export.
    out["run_tokenizer"] = _tokenizer_report(AutoTokenizer.from_pretrained(spec["tokenizer"]), texts)
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    out["tokenizer"] = _tokenizer_report(tokenizer, texts)

    # The causal LM: logits, greedy generation, the sampling settings of generation_config.json.
    model = AutoModelForCausalLM.from_pretrained(spec["model"]).eval()
    keys = sorted(spec["generation_keys"])
    out["generation_config"] = {k: getattr(GenerationConfig.from_pretrained(spec["model"]), k) for k in keys}
    out["model_generation_config"] = {k: getattr(model.generation_config, k) for k in keys}
    settings = dict(do_sample=False, max_new_tokens=spec["max_new_tokens"], pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        out["logits"] = [model(torch.tensor([tokenizer(t)["input_ids"]])).logits[0].tolist() for t in texts]
        out["generated"] = []
        for prompt in spec["prompts"]:
            ids = torch.tensor([tokenizer(prompt)["input_ids"]])
            out["generated"].append(model.generate(ids, attention_mask=torch.ones_like(ids), **settings)[0].tolist())
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    out["pipeline"] = [{"full": generator(p, return_full_text=True, **settings)[0]["generated_text"],
                        "new": generator(p, return_full_text=False, **settings)[0]["generated_text"]}
                       for p in spec["prompts"]]
    torch.manual_seed(0)
    out["card_example"] = generator(spec["prompts"][0], max_new_tokens=8)[0]["generated_text"]   # sampled

    # A continuation that starts with a word (its first token begins with "▁"): forced, so
    # that the case is there whatever the tiny model prefers.
    prompt, token = spec["space"]["prompt"], spec["space"]["token"]
    prompt_ids = tokenizer(prompt)["input_ids"]
    forced = dict(settings, logits_processor=LogitsProcessorList([_forcing(token, len(prompt_ids))]))
    with torch.no_grad():
        ids = torch.tensor([prompt_ids])
        sequence = model.generate(ids, attention_mask=torch.ones_like(ids), **forced)[0].tolist()
    out["space"] = {"ids": sequence, "joined": tokenizer.decode(sequence, skip_special_tokens=True),
                    "full": generator(prompt, return_full_text=True, **forced)[0]["generated_text"],
                    "new": generator(prompt, return_full_text=False, **forced)[0]["generated_text"]}

    # The classifier, fed as its model card says: "{premise}<s>{hypothesis}</s>".
    classifier = AutoModelForSequenceClassification.from_pretrained(spec["classifier"]).eval()
    ctok = AutoTokenizer.from_pretrained(spec["classifier"])
    premise, hypothesis = spec["pair"]
    pair_text = f"{premise}<s>{hypothesis}</s>"
    ids = ctok(pair_text)["input_ids"]
    with torch.no_grad():
        logits = classifier(torch.tensor([ids])).logits[0]
        called = classifier(**ctok(pair_text, return_tensors="pt")).logits[0]   # what a user writes
    scores = pipeline("text-classification", model=classifier, tokenizer=ctok, top_k=None)(pair_text)
    scores = scores[0] if scores and isinstance(scores[0], list) else scores
    out["classifier"] = {"ids": ids, "logits": logits.tolist(), "called": called.tolist(),
                         "id2label": {str(k): v for k, v in classifier.config.id2label.items()},
                         "pad_token_id": classifier.config.pad_token_id,
                         "pipeline": {s["label"]: s["score"] for s in scores}}

    # More folders (e.g. an export with another RoPE base): their logits on the same ids, and
    # the RoPE base the loaded model uses.
    out["more"] = {}
    for name, folder in spec.get("more", {}).items():
        with torch.no_grad():
            if folder["kind"] == "classifier":
                more = AutoModelForSequenceClassification.from_pretrained(folder["path"]).eval()
                logits = more(torch.tensor([ids])).logits[0].tolist()
            else:
                more = AutoModelForCausalLM.from_pretrained(folder["path"]).eval()
                logits = [more(torch.tensor([i])).logits[0].tolist() for i in out["tokenizer"]["ids"]]
        # The base the model computes with, from its rotary table: inv_freq[1] = base ** (-2 / head_dim).
        config = more.config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        inv_freq = more.model.rotary_emb.inv_freq.double()
        out["more"][name] = {"logits": logits, "rope_theta": float(inv_freq[1] ** (-head_dim / 2))}
    return out


def main(argv: list[str]) -> int:
    spec_path, report_path = argv
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    result = report(spec)
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
