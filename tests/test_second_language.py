"""A second language by changing the profile, not the code (issue 15): the embedded Spanish
sample, the smoke-es profile, and the whole pipeline run on it."""

import json

import pytest
import yaml

from ttl.config import available_profiles, load_profile
from ttl.data.loaders import DataError, corpus_sample_file, data_dir, load_corpus
from ttl.data.readers import corpus_texts


def _spanish_sample_or_skip():
    try:
        return corpus_sample_file("es")
    except DataError:
        pytest.skip("data/corpus-es/sample.jsonl not built yet (python tools/build_sample.py --language es)")


def test_smoke_es_differs_from_smoke_only_in_language():
    assert "smoke-es" in available_profiles()
    smoke, es = load_profile("smoke").to_dict(), load_profile("smoke-es").to_dict()
    assert es["data"]["language"] == "es" and smoke["data"]["language"] == "pt"
    for d in (smoke, es):
        d.pop("name"), d.pop("description"), d["data"].pop("language")
    assert smoke == es, "smoke-es.yaml mirrors smoke.yaml: copy the change made to smoke.yaml"


def test_a_language_without_a_sample_names_the_folder_and_the_fix():
    with pytest.raises(DataError, match=r"no embedded sample for language 'gl'.*corpus-gl.*data\.corpus"):
        load_corpus(language="gl")
    with pytest.raises(DataError, match="language code"):
        corpus_sample_file("../corpus")


def test_spanish_sample_is_large_and_spanish():
    from ttl.data.curate.langid import LanguageFilter

    path = _spanish_sample_or_skip()
    assert path == data_dir() / "corpus-es" / "sample.jsonl"
    assert path.stat().st_size >= 250_000, f"{path} has {path.stat().st_size} bytes; the sample needs 250 KB"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    kinds = {json.loads(r["metadata"])["kind"] for r in rows}
    assert len(kinds) >= 8 and any(k.startswith("instrucciones_") for k in kinds)
    lid = LanguageFilter(language="es")
    wrong = [(json.loads(r["metadata"])["id"], lid.predict(r["text"].replace("<instruction>", " ")
                                                           .replace("</instruction>", " "))[0])
             for r in rows]
    wrong = [(i, lang) for i, lang in wrong if lang != "es"]
    assert not wrong, f"documents not identified as Spanish: {wrong[:10]}"


def test_raw_crawl_of_the_spanish_sample_holds_spanish_documents(tmp_path):
    from ttl.data.crawl import write_raw_crawl

    _spanish_sample_or_skip()
    path = write_raw_crawl(tmp_path / "crawl.jsonl", seed=3, language="es")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    texts = {r["text"] for r in load_corpus(language="es")}
    clean = [r for r in rows if not json.loads(r["metadata"]).get("defects")]
    assert clean and sum(r["text"] in texts for r in clean) >= len(clean) // 2


def test_pipeline_on_smoke_es_end_to_end(tmp_path, monkeypatch):
    from ttl import pipeline
    from ttl.data.curate.langid import LanguageFilter
    from ttl.eval import text_perplexity
    from ttl.generate import generate
    from ttl.runs import RunDir

    _spanish_sample_or_skip()
    monkeypatch.setenv("TTL_RUN_DIR", str(tmp_path))
    profile = load_profile("smoke-es", train={"max_steps": 20, "save_every": 20, "eval_every": 20})
    run = RunDir(tmp_path / "run").ensure()
    corpus = pipeline.ensure_corpus(profile, run, quiet=True)
    kept = list(corpus_texts(corpus))
    lid = LanguageFilter(language="es")
    share = sum(lid.predict(t)[0] == "es" for t in kept) / len(kept)
    assert share >= 0.95, f"only {share:.2%} of the curated corpus is identified as Spanish"
    config = yaml.safe_load(json.dumps(json.loads((corpus / "manifest.json").read_text())["config"]))
    assert config["language"] == "es"
    tokenizer = pipeline.ensure_tokenizer(profile, run, quiet=True)
    pipeline.ensure_tokens(profile, run, quiet=True)
    model = pipeline.ensure_checkpoint(profile, run, quiet=True)
    text = generate(model, tokenizer, "El", max_new_tokens=12, temperature=0)
    assert isinstance(text, str) and text.strip()
    held_out = kept[:5]
    ppl = text_perplexity(model, tokenizer, held_out)
    assert 1 < ppl["perplexity"] < profile.model.vocab_size
    # Fertility: Spanish words cost fewer tokens with a tokenizer trained on Spanish than on Portuguese.
    words = sum(len(t.split()) for t in held_out)
    es_fertility = sum(len(tokenizer(t)["input_ids"]) for t in held_out) / words
    assert es_fertility < 2.5
