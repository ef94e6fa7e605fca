"""Curation steps, one by one, then the whole pipeline scored against a labelled raw crawl.

Where a library does the same job, the step is checked against it: MinHash and
LSH against datasketch, language id against py3langid, Unicode against
unicodedata, mojibake against ftfy, parquet output against pyarrow.
"""

from __future__ import annotations

import importlib.util
import json
import random
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH

from ttl.config import ConfigError
from ttl.data.readers import DataError
from ttl.data.crawl import make_raw_crawl
from ttl.data.curate import (CurationInputError, CurationReport, ExactDedup, LanguageFilter, LineFilter, NearDedup,
                             Normalize, PIIMasker, QualityFilter, ToxicityFilter, curate_main, load_curation_config,
                             run_curation)
from ttl.data.curate.minhash import (jaccard, make_permutations, minhash_signature, minhash_signatures,
                                     optimal_bands_rows, shingle_hashes, shingles, LSHIndex)
from ttl.data.curate.pii import cnpj_check_digits, cpf_check_digits, is_valid_cnpj, is_valid_cpf
from ttl.data.readers import read_hub, read_jsonl
from ttl.data.curate.scoring import score_curation

# The Portuguese test documents and the independent check-digit routines live in test_crawl.py.
_spec = importlib.util.spec_from_file_location("_crawl_helpers", Path(__file__).with_name("test_crawl.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
portuguese_documents, cpf_ok, cnpj_ok = _helpers.portuguese_documents, _helpers.cpf_ok, _helpers.cnpj_ok

DOCS = portuguese_documents(40)
GOOD = DOCS[0]


def fast_config(**changes):
    """The packaged config, with small shards so tests exercise sharding."""
    cfg = load_curation_config(writer={"formats": ["jsonl"], "shard_size": 10}, batch_size=16)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


# --- normalize -------------------------------------------------------------------------------

def test_normalize_unicode_mojibake_html_whitespace():
    step = Normalize()
    decomposed = unicodedata.normalize("NFD", "Ação e coração")
    assert step.normalize(decomposed) == unicodedata.normalize("NFC", "Ação e coração")
    broken = GOOD.encode("utf-8").decode("latin-1")
    assert broken != GOOD and step.normalize(broken) == GOOD
    html = '<div class="x">Olá&nbsp;mundo</div><br/><script>var a = 1;</script> a < b e <EMAIL>'
    assert step.normalize(html) == "Olá mundo a < b e <EMAIL>"
    assert step.normalize("a\x00b\u200b c\t\t d  \n\n\n\n e ") == "ab c d\n\ne"
    doc = {"id": "x", "text": " \x07 ", "metadata": "{}"}
    assert step.process(doc) == "empty"


def test_normalize_rejects_unknown_form():
    with pytest.raises(ConfigError, match="unicode_form"):
        Normalize(unicode_form="NFX")


# --- line filter -----------------------------------------------------------------------------

def test_line_filter_drops_boilerplate_keeps_prose():
    cfg = load_curation_config()
    step = LineFilter(**{k: v for k, v in cfg.step("line_filter").items() if k != "name"})
    page = "\n".join(["Início | Notícias | Esportes | Contato", "Este site utiliza cookies. Aceitar cookies",
                      GOOD, "© 2024 Jornal. Todos os direitos reservados.", "Compartilhe: Facebook | WhatsApp"])
    doc = {"id": "1", "text": page, "metadata": "{}"}
    assert step.process(doc) is None
    assert doc["text"] == GOOD
    long_line = ("Os biscoitos, chamados de cookies em inglês, " + "são assados em fornos elétricos " * 8).strip()
    assert not step.is_boilerplate(long_line)
    assert step.process({"id": "2", "text": "Menu\nVoltar ao topo", "metadata": "{}"}) == "only_boilerplate"
    with pytest.raises(ConfigError, match="regular expression"):
        LineFilter(patterns=["(unclosed"])


# --- language id -----------------------------------------------------------------------------

def test_language_filter_agrees_with_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    step = LanguageFilter(language="pt", min_prob=0.65)
    english = "The city council approved the new budget for public schools and libraries yesterday."
    spanish = "El ayuntamiento aprobó ayer el nuevo presupuesto para las escuelas y bibliotecas públicas."
    for text in (GOOD, english, spanish):
        lang, prob = step.predict(text)
        ref_lang, ref_prob = reference.classify(text)
        assert lang == ref_lang and prob == pytest.approx(ref_prob)
    assert step.process({"text": GOOD}) is None
    assert step.process({"text": english}) == "lang_en"
    assert step.process({"text": spanish}) == "lang_es"
    assert LanguageFilter(language="en").process({"text": english}) is None


def test_language_filter_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="min_prob"):
        LanguageFilter(min_prob=2)
    with pytest.raises(ConfigError, match="does not exist"):
        LanguageFilter(fasttext_model=str(tmp_path / "lid.176.bin")).predict(GOOD)


# --- quality ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("Texto curto demais para ficar.", "too_few_words"),
    ("a o e " * 40, "mean_word_length_low"),
    (" ".join(["paralelepipedoinconstitucional"] * 60) + ".", "mean_word_length_high"),
    ("\n".join(f"#promo #oferta #desconto #barato linha {i}." for i in range(15)), "symbol_ratio"),
    ("\n".join(f"- item número {i} da lista de compras do mês" for i in range(15)), "bullet_lines"),
    ("\n".join(f"E então a história da cidade continua na página {i}..." for i in range(15)), "ellipsis_lines"),
    ("O resultado foi " + " ".join(str(i * 37) for i in range(60)) + " e acabou.", "alpha_words"),
    ("\n".join(["A reunião foi adiada para a próxima semana por falta de quórum."] * 8), "duplicate_lines"),
])
def test_quality_rules_fire(text, reason):
    assert QualityFilter(language="pt").check(text) == reason


def test_quality_repetition_punctuation_stopwords():
    step = QualityFilter(language="pt")
    assert step.check(GOOD) is None
    repeated = " ".join(GOOD.split()[:12] * 6) + "."
    assert step.check(repeated).startswith(("top_", "duplicate_"))
    no_punct = "\n".join(" ".join(s.rstrip(".").split()) for s in GOOD.replace(". ", ".\n").split("\n"))
    assert step.check(no_punct) == "punctuation_lines"
    keywords = " ".join(random.Random(0).choices(["celular", "barato", "promoção", "oferta", "frete", "grátis"], k=80))
    assert QualityFilter(language="pt", min_punctuation_line_ratio=None).check(keywords + ".") == "stopwords"
    # null switches a rule off; a small max_words makes a normal text too long.
    assert QualityFilter(language="pt", min_words=None).check("A cidade está bonita hoje.") is None
    assert QualityFilter(language="pt", max_words=20).check(GOOD) == "too_many_words"


def test_quality_without_a_stopword_list_skips_that_rule():
    # A language with no folder: the stop-word rule is off (the pipeline warns), the others run.
    step = QualityFilter(language="xx")
    assert step.min_stopword_ratio is None
    assert QualityFilter(language="pt").min_stopword_ratio is not None


# --- PII -------------------------------------------------------------------------------------

def test_cpf_cnpj_check_digits_match_independent_routine():
    assert is_valid_cpf("111.444.777-35") and is_valid_cnpj("11.222.333/0001-81")
    rng = random.Random(0)
    for _ in range(300):
        body = "".join(str(rng.randrange(10)) for _ in range(9))
        full = body + cpf_check_digits(body)
        assert cpf_ok(full) and is_valid_cpf(full)
        wrong = full[:-1] + str((int(full[-1]) + 1) % 10)
        assert not cpf_ok(wrong) and not is_valid_cpf(wrong)
        body = "".join(str(rng.randrange(10)) for _ in range(12))
        full = body + cnpj_check_digits(body)
        assert cnpj_ok(full) and is_valid_cnpj(full)
        wrong = full[:-2] + str((int(full[-2]) + 1) % 10) + full[-1]
        assert not cnpj_ok(wrong) and not is_valid_cnpj(wrong)
    assert not is_valid_cpf("111.111.111-11")  # passes the arithmetic, but is a known invalid number


def test_pii_masking():
    masker = PIIMasker()
    text = ("Escreva para ana.souza@exemplo.com.br ou ligue (11) 98765-4321 ou +55 21 3456-7890. "
            "CPF 111.444.777-35, CNPJ 11.222.333/0001-81. Protocolo 123.456.789-00, "
            "pedido 11.222.333/0001-80, ano 2024, preço R$ 1.234,56, 12 de março.")
    masked, counts = masker.mask(text)
    assert counts == {"email": 1, "phone": 2, "cpf": 1, "cnpj": 1}
    for value in ("ana.souza@", "98765-4321", "3456-7890", "111.444.777-35", "11.222.333/0001-81"):
        assert value not in masked
    for value in ("123.456.789-00", "11.222.333/0001-80", "2024", "R$ 1.234,56", "12 de março"):
        assert value in masked  # invalid check digits and ordinary numbers stay
    assert "<EMAIL>" in masked and "<TELEFONE>" in masked and "<CPF>" in masked and "<CNPJ>" in masked
    custom = PIIMasker(placeholders={"email": "[e-mail]"})
    assert custom.mask("fale com joao@x.com.br")[0] == "fale com [e-mail]"
    with pytest.raises(ConfigError, match="placeholders"):
        PIIMasker(placeholders={"passport": "<P>"})


# --- toxicity --------------------------------------------------------------------------------

def test_toxicity_lines_documents_and_classifier(tmp_path):
    step = ToxicityFilter(language="pt")           # action "mask": the term goes, its sentence stays
    doc = {"text": GOOD + "\nQue comentário mais imbecil.", "metadata": "{}", "edits": []}
    assert step.process(doc) is None and doc["text"] == GOOD + "\nQue comentário mais ***."
    assert [e["reason"] for e in doc["edits"]] == ["toxic_term"]
    dropped = {"text": GOOD + "\nQue comentário mais imbecil.", "metadata": "{}"}
    assert ToxicityFilter(language="pt", action="drop").process(dropped) == "toxic_term"
    kept = {"text": GOOD + "\nQue comentário mais imbecil.", "metadata": "{}"}
    assert ToxicityFilter(language="pt", action="keep").process(kept) is None
    assert kept["text"] == GOOD + "\nQue comentário mais imbecil."
    with pytest.raises(ConfigError, match="toxicity.action"):
        ToxicityFilter(language="pt", action="delete_line")
    assert step.process({"text": "Cala a boca, seu idiota.\nVocê é um babaca.\nOk."}) == "toxic_document"
    assert step.process({"text": "A idiotice não aparece como palavra inteira aqui."}) is None
    seen = []

    def classifier(texts):
        seen.extend(texts)
        return [1.0 if "proibido" in t else 0.0 for t in texts]

    hooked = ToxicityFilter(language="pt", classifier=classifier)
    assert hooked.process({"text": "conteúdo proibido"}) == "toxic_classifier"
    assert hooked.process({"text": GOOD}) is None and seen[-1] == GOOD
    assert callable(ToxicityFilter(language="pt", classifier="json:loads").classifier)
    with pytest.raises(ConfigError, match="classifier"):
        ToxicityFilter(language="pt", classifier="no_such_module_xyz:f")
    # No list for the language: nothing is toxic by the word list (an empty pattern must not match).
    assert ToxicityFilter(language="xx").process({"text": "Cala a boca, seu idiota."}) is None


# --- dedup and MinHash -----------------------------------------------------------------------

def test_exact_dedup_folds_case_and_whitespace():
    step = ExactDedup()
    assert step.process({"text": GOOD}) is None
    assert step.process({"text": "  " + GOOD.upper().replace(" ", "   ")}) == "exact_duplicate"
    assert step.process({"text": GOOD + " Fim."}) is None


def _edited(text: str, rng: random.Random, edits: int) -> str:
    words = text.split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(["casa", "rio", "sol", "mar", "luz"])
    return " ".join(words)


def test_minhash_signature_equals_datasketch_with_same_permutations():
    a, b = make_permutations(128, seed=3)
    for text in DOCS[:5]:
        hashes = shingle_hashes(text)
        ours = minhash_signature(hashes, a, b)
        ref = MinHash(num_perm=128, hashfunc=lambda x: x, permutations=(a, b), scheme="legacy")
        ref.update_batch([int(h) for h in hashes])
        np.testing.assert_array_equal(ours, ref.hashvalues)
    batched = minhash_signatures([shingle_hashes(t) for t in DOCS[:8]] + [shingle_hashes("")], a, b,
                                 chunk_elements=128 * 150)
    for text, sig in zip(DOCS[:8], batched):
        np.testing.assert_array_equal(sig, minhash_signature(shingle_hashes(text), a, b))


def test_minhash_jaccard_close_to_truth_and_to_datasketch():
    rng = random.Random(0)
    a, b = make_permutations(256, seed=1)
    errors_ours, errors_ref = [], []
    for i in range(12):
        base = DOCS[i]
        other = _edited(base, rng, edits=rng.randint(1, 12))
        s1, s2 = shingles(base), shingles(other)
        truth = jaccard(s1, s2)
        ours = float(np.mean(minhash_signature(shingle_hashes(base), a, b)
                             == minhash_signature(shingle_hashes(other), a, b)))
        m1, m2 = MinHash(num_perm=256), MinHash(num_perm=256)  # datasketch's own sha1 hashing
        m1.update_batch([s.encode() for s in s1])
        m2.update_batch([s.encode() for s in s2])
        ref = m1.jaccard(m2)
        errors_ours.append(abs(ours - truth))
        errors_ref.append(abs(ref - truth))
        assert abs(ours - truth) < 0.12 and abs(ours - ref) < 0.15
    assert np.mean(errors_ours) < 0.05 and np.mean(errors_ref) < 0.05


@pytest.mark.parametrize("threshold, num_perm", [(0.5, 128), (0.7, 128), (0.8, 256), (0.9, 64)])
def test_bands_rows_match_datasketch(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_bands_rows(threshold, num_perm) == (lsh.b, lsh.r)


def test_lsh_candidate_pairs_match_datasketch():
    rng = random.Random(1)
    texts = list(DOCS[:20])
    texts += [_edited(t, rng, edits=1) for t in DOCS[:6]]     # near copies
    texts += [_edited(t, rng, edits=25) for t in DOCS[6:10]]  # heavily edited: usually not candidates
    a, b = make_permutations(128, seed=2)
    sigs = minhash_signatures([shingle_hashes(t) for t in texts], a, b)
    bands, rows = optimal_bands_rows(0.7, 128)
    ours, ref = LSHIndex(bands, rows), MinHashLSH(threshold=0.7, num_perm=128)
    pairs_ours, pairs_ref = set(), set()
    for i, sig in enumerate(sigs):
        m = MinHash(num_perm=128, hashvalues=sig, scheme="legacy")
        pairs_ours |= {(j, i) for j in ours.query(sig)}
        pairs_ref |= {(j, i) for j in ref.query(m)}
        ours.insert(i, sig)
        ref.insert(i, m)
    assert pairs_ours == pairs_ref
    assert {(k, 20 + k) for k in range(6)} <= pairs_ours


def test_near_dedup_step_keeps_first():
    rng = random.Random(4)
    step = NearDedup(threshold=0.7, num_perm=128)
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(DOCS[:10])]
    docs.append({"id": "copy", "text": _edited(DOCS[3], rng, edits=1)})
    step.prepare(docs)
    reasons = [step.process(d) for d in docs]
    assert reasons == [None] * 10 + ["near_duplicate"]
    assert docs[-1]["duplicate_of"] == "d3"
    with pytest.raises(ConfigError, match="bands"):
        NearDedup(bands=4)
    with pytest.raises(ConfigError, match="threshold"):
        NearDedup(threshold=1.5)


# --- config, readers, bad input, writer ------------------------------------------------------

def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown curation step"):
        load_curation_config({"steps": [{"name": "dedupe"}]})
    with pytest.raises(ConfigError, match="min_word"):
        run_curation({"steps": [{"name": "quality", "min_word": 3}]}, DOCS, tmp_path / "o", progress=False)
    with pytest.raises(ConfigError, match="on_error"):
        load_curation_config(on_error="ignore")
    with pytest.raises(ConfigError, match="does not exist"):
        load_curation_config(tmp_path / "missing.yaml")
    with pytest.raises(DataError, match="nothing.jsonl does not exist"):
        run_curation(None, str(tmp_path / "nothing.jsonl"), tmp_path / "o2", progress=False)


def _write_bad_jsonl(path: Path) -> None:
    good = [json.dumps({"text": t, "metadata": json.dumps({"n": i})}, ensure_ascii=False) for i, t in enumerate(DOCS[:6])]
    lines = [good[0].encode(), good[1].encode(),
             '{"text": "quebrado'.encode(),                            # line 3: malformed JSON
             good[2].encode(),
             b'{"text": "caf\xe9 com p\xe3o"}',                          # line 5: Latin-1 bytes
             json.dumps({"body": "sem campo de texto"}).encode(),       # line 6: missing text
             good[3].encode(), good[4].encode(), good[5].encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_bad_jsonl_skip_reports_file_and_line(tmp_path):
    src = tmp_path / "crawl.jsonl"
    _write_bad_jsonl(src)
    report = run_curation({"steps": [{"name": "normalize"}]}, str(src), tmp_path / "out", progress=False)
    assert report.docs_in == 6 and report.docs_out == 6
    assert [(e["line"], e["source"]) for e in report.input_errors] == [(3, str(src)), (5, str(src)), (6, str(src))]
    messages = " ".join(e["message"] for e in report.input_errors)
    assert "malformed JSON" in messages and "UTF-8" in messages and "'text'" in messages
    written = [json.loads(x) for f in sorted((tmp_path / "out").glob("shard-*.jsonl"))
               for x in f.read_text(encoding="utf-8").splitlines()]
    assert [d["text"] for d in written] == [unicodedata.normalize("NFC", t) for t in DOCS[:6]]
    saved = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert saved["n_input_errors"] == 3 and saved["status"] == "complete"


@pytest.mark.parametrize("batch_size", [1, 100])
def test_bad_jsonl_stop_keeps_what_was_written(tmp_path, batch_size):
    src = tmp_path / "crawl.jsonl"
    _write_bad_jsonl(src)
    out = tmp_path / "out"
    config = {"on_error": "stop", "batch_size": batch_size, "writer": {"shard_size": 1},
              "steps": [{"name": "normalize"}]}
    with pytest.raises(CurationInputError, match=r"crawl\.jsonl, line 3: malformed JSON"):
        run_curation(config, str(src), out, progress=False)
    # The two good documents before the bad line are curated and written, whatever the batch size.
    shards = sorted(out.glob("shard-*.jsonl"))
    assert [json.loads(f.read_text(encoding="utf-8"))["text"] for f in shards] == DOCS[:2]
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["status"] == "stopped" and saved["input_errors"][0]["line"] == 3
    assert not list(out.glob(".*tmp"))


def test_empty_file_and_missing_parquet_column(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    report = run_curation({"steps": []}, str(tmp_path / "empty.jsonl"), tmp_path / "o1", progress=False)
    assert report.docs_in == 0 and "empty" in report.input_errors[0]["message"]
    with pytest.raises(CurationInputError, match="empty"):
        run_curation({"steps": [], "on_error": "stop"}, str(tmp_path / "empty.jsonl"), tmp_path / "o2",
                     progress=False)
    pq.write_table(pa.table({"body": ["x", "y"]}), tmp_path / "wrong.parquet")
    with pytest.raises(CurationInputError, match="no 'text' column"):
        run_curation({"steps": [], "on_error": "stop"}, str(tmp_path / "wrong.parquet"), tmp_path / "o3",
                     progress=False)


def test_parquet_in_and_out_and_overwrite(tmp_path):
    pq.write_table(pa.table({"text": DOCS[:25], "metadata": ["{}"] * 25}), tmp_path / "in.parquet")
    config = {"writer": {"formats": ["jsonl", "parquet"], "shard_size": 10}, "steps": [{"name": "exact_dedup"}]}
    out = tmp_path / "out"
    report = run_curation(config, str(tmp_path / "in.parquet"), out, progress=False)
    assert report.files == [f"shard-{i:05d}.{fmt}" for i in range(3) for fmt in ("jsonl", "parquet")]
    table = pa.concat_tables([pq.read_table(out / f"shard-{i:05d}.parquet") for i in range(3)])
    assert table.column_names == ["text", "metadata"] and table.column("text").to_pylist() == DOCS[:25]
    with pytest.raises(ConfigError, match="already holds"):
        run_curation(config, str(tmp_path / "in.parquet"), out, progress=False)
    run_curation(config, DOCS[:5], out, overwrite=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["modifications.ndjson", "report.json", "shard-00000.jsonl",
                                                      "shard-00000.parquet"]
    assert CurationReport.load(out / "report.json").docs_out == 5


def test_hub_reader_streams_through_datasets(tmp_path):
    # The same code path as the Hub (load_dataset(..., streaming=True)), on a local JSON file.
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps({"text": t, "metadata": "{}"}) + "\n" for t in DOCS[:4]), encoding="utf-8")
    docs = list(read_hub("json", data_files=str(src)))
    assert [d["text"] for d in docs] == DOCS[:4]
    assert [d["text"] for d in read_jsonl(src)] == DOCS[:4]


def test_multiprocessing_gives_the_same_result(tmp_path):
    crawl = make_raw_crawl(DOCS[:20], seed=2)
    one = run_curation(fast_config(), crawl, tmp_path / "a", progress=False)
    two = run_curation(fast_config(num_proc=2), crawl, tmp_path / "b", progress=False)
    read = lambda d: [f.read_text(encoding="utf-8") for f in sorted(d.glob("shard-*"))]  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b")
    assert [s.to_dict()["removed"] for s in one.steps] == [s.to_dict()["removed"] for s in two.steps]


def test_forked_workers_and_forkserver_workers_give_the_same_output(tmp_path, monkeypatch):
    from ttl.data.curate import pipeline
    crawl = make_raw_crawl(DOCS[:20], seed=2)
    read = lambda d: [f.read_text(encoding="utf-8") for f in sorted(d.glob("shard-*"))]  # noqa: E731
    outputs = []
    for fork in (True, False):
        monkeypatch.setattr(pipeline, "_fork_is_safe", lambda fork=fork: fork)
        run_curation(fast_config(num_proc=2), crawl, tmp_path / str(fork), progress=False)
        outputs.append(read(tmp_path / str(fork)))
    assert outputs[0] == outputs[1] == read_one_process(crawl, tmp_path / "one")


def test_workers_skip_signatures_of_copies_they_have_met_and_the_output_stays_the_same(tmp_path):
    from ttl.data.curate import pipeline
    docs = [{"id": i, "text": text} for i, text in enumerate(DOCS[:6] * 3)]   # each text three times
    exact, near = ExactDedup(), NearDedup()
    seen: set = set()
    pipeline._precompute([exact, near], docs[:6], seen)         # one worker's first chunk
    pipeline._precompute([exact, near], docs[6:], seen)         # and a later one: all copies
    assert all("_minhash" in d for d in docs[:6]) and not any("_minhash" in d for d in docs[6:])
    assert all("_exact_hash" in d for d in docs)                # exact_dedup still gets its hash
    # Copies far apart in the input, several chunks per worker: the same shards as one process.
    crawl = make_raw_crawl(DOCS[:20] * 3, seed=4)
    run_curation(fast_config(num_proc=2, batch_size=8), crawl, tmp_path / "two", progress=False)
    read = lambda d: [f.read_text(encoding="utf-8") for f in sorted(d.glob("shard-*"))]  # noqa: E731
    assert read(tmp_path / "two") == read_one_process(crawl, tmp_path / "one")


def test_workers_also_skip_copies_whose_first_copy_another_worker_had(tmp_path):
    from ttl.data.curate import pipeline
    docs = [{"id": i, "text": text, "edits": []} for i, text in enumerate(DOCS[:6])]
    exact, near = ExactDedup(), NearDedup()
    # The main process's exact_dedup collects the digests it keeps, and only those.
    exact.fresh = []
    exact.precompute(docs)
    digests = [d["_exact_hash"] for d in docs]
    assert [exact.process(dict(d)) for d in docs + docs[:2]] == [None] * 6 + ["exact_duplicate"] * 2
    assert exact.fresh == digests
    # A worker given those digests with its task signs none of the copies.
    pipeline._init_worker([], [exact, near])
    copies = [{"id": 10 + i, "text": text, "edits": []} for i, text in enumerate(DOCS[:6])]
    kept, stats, _, _ = pipeline._worker_run((copies, False, digests[:4]))
    assert [("_minhash" in d) for d in kept] == [False] * 4 + [True] * 2
    assert all(d["text"] is None for d in kept)   # no step changed them: the main process has them
    pipeline._init_worker([], [])
    # Copies far apart, taken by either worker: the output is one process's, the hints are gone.
    crawl = make_raw_crawl(DOCS[:20] * 4, seed=5)
    cfg = fast_config(num_proc=2, batch_size=10)
    run_curation(cfg, crawl, tmp_path / "two", progress=False)
    read = lambda d: [f.read_text(encoding="utf-8") for f in sorted(d.glob("shard-*"))]  # noqa: E731
    assert read(tmp_path / "two") == read_one_process(crawl, tmp_path / "one")


def test_a_batch_is_cut_into_one_chunk_per_worker_in_input_order():
    from ttl.data.curate.pipeline import _split_batch
    from ttl.data.readers import ReadError
    sizes = [5, 300, 20, 20, 0, 40, 100, 7, 8]
    items = [ReadError("records", i, "bad") if size == 0 else {"id": i, "text": "x" * size, "_size": size}
             for i, size in enumerate(sizes)]
    for parts in (1, 2, 3, 4):
        chunks = _split_batch(items, parts)
        assert len(chunks) <= parts and sum(c.items for c in chunks) == len(items)
        # Read in order, the chunks give back the items in order, errors where they were.
        replay = [x for c in chunks for x in sorted(c.docs + c.errors,
                                                     key=lambda x: x["id"] if isinstance(x, dict) else x.line)]
        assert replay == items
        assert [c.bytes_in for c in chunks] == [sum(d["_size"] for d in c.docs) for c in chunks]
    two = _split_batch(items, 2)
    assert [d["id"] for d in two[0].docs] == [0, 1]   # the 300-character document is half the batch
    even = [{"id": i, "text": "x", "_size": 10} for i in range(10)]
    assert [len(c.docs) for c in _split_batch(even, 3)] == [4, 3, 3]
    assert [len(c.docs) for c in _split_batch(even[:1], 2)] == [1]   # never an empty chunk


def read_one_process(crawl, out):
    run_curation(fast_config(), crawl, out, progress=False)
    return [f.read_text(encoding="utf-8") for f in sorted(out.glob("shard-*"))]


def test_workers_are_never_forked_from_a_process_with_another_thread():
    import threading
    from ttl.data.curate.pipeline import _fork_is_safe, _pool_context
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not _fork_is_safe()
        assert _pool_context().get_start_method() != "fork"
    finally:
        stop.set()
        thread.join()


def test_a_run_without_progress_bar_starts_no_thread(tmp_path):
    # (tqdm starts a monitor thread with its first bar, even a disabled one, and a process with
    # a second thread may not fork its workers.)
    import threading
    before = threading.active_count()
    run_curation(fast_config(), make_raw_crawl(DOCS[:5], seed=1), tmp_path / "out", progress=False)
    assert threading.active_count() == before


# --- end to end ------------------------------------------------------------------------------

def test_end_to_end_recall_and_precision(tmp_path):
    docs = portuguese_documents(120, seed=21)
    rates = dict(boilerplate=0.3, html=0.2, mojibake=0.15, pii_email=0.15, pii_phone=0.15, pii_cpf=0.15,
                 pii_cnpj=0.15, toxic=0.15, decoy=0.1, exact_duplicate=0.12, near_duplicate=0.12, foreign=0.15,
                 spam=0.1, code=0.1, too_short=0.1, very_long=0.03)
    crawl = make_raw_crawl(docs, seed=8, **rates)
    src = tmp_path / "crawl.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in crawl), encoding="utf-8")
    report = curate_main(None, str(src), tmp_path / "corpus")
    assert report.status == "complete" and report.docs_in == len(crawl)
    funnel = report.funnel()
    assert funnel[0]["docs"] == len(crawl) and funnel[-1]["docs"] == report.docs_out
    assert all(a["docs"] >= b["docs"] for a, b in zip(funnel, funnel[1:]))

    traced = run_curation(None, crawl, tmp_path / "traced", trace=True, progress=False)
    score = score_curation(traced.trace)
    print(score.summary())
    assert len(score.classes) >= 16
    for row in score.classes:
        assert row["docs"] >= 3, row
        assert row["recall"] >= 0.95, row
    assert score.clean_keep_rate >= 0.95
    assert score.output_precision >= 0.95
    assert score.decoys and score.decoys_kept_intact == score.decoys
    # The written corpus is exactly the kept documents of the trace.
    written = [json.loads(x)["text"] for f in sorted((tmp_path / "traced").glob("shard-*.jsonl"))
               for x in f.read_text(encoding="utf-8").splitlines()]
    assert written == [r["text"] for r in traced.trace if r["removed_by"] is None]
