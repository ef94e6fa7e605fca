"""Language resources as data (issue 15): one folder per language, selected by data.language;
a language without a folder runs the generic steps and one warning lists what it lacks."""

import json
import warnings

import pytest

from ttl.config import ConfigError
from ttl.data.curate import PIIMasker, run_curation
from ttl.data.curate.pii import DETECTORS, dni_letter, is_valid_dni
from ttl.resources import FILES, PROMPT_KEYS, language_resources, shipped_languages


def test_every_shipped_language_is_complete_and_valid():
    assert {"pt", "es", "en"} <= set(shipped_languages())
    for code in shipped_languages():
        res = language_resources(code)
        assert res.missing == [], f"{code} lacks {res.missing}"
        assert len(res.stopwords) >= 50 and res.toxicity, code
        assert set(res.pii["detectors"]) <= set(DETECTORS), code
        assert {"answer_yes", "answer_no"} <= set(res.prompts) <= set(PROMPT_KEYS), code
        # The answer words are scored as the first token after a prompt: a leading space, and different.
        yes, no = res.prompt("answer_yes"), res.prompt("answer_no")
        assert yes.startswith(" ") and no.startswith(" ") and yes != no, code
        # Stop words of one language are not those of another (a copy-paste slip would be).
    assert len(set(language_resources("pt").stopwords) & set(language_resources("es").stopwords)) < \
        0.6 * len(language_resources("es").stopwords)


def test_an_unknown_language_lacks_every_file_and_says_how_to_add_it():
    res = language_resources("gl")
    assert res.missing == list(FILES)
    assert res.stopwords is None and res.pii is None and res.boilerplate_patterns == res.shared_boilerplate
    message = res.missing_message()
    for name in FILES:
        assert f"ttl/data/resources/gl/{name}" in message
    with pytest.raises(ConfigError, match=r"gl.*answer_yes.*prompts.yaml"):
        res.prompt("answer_yes")
    with pytest.raises(ConfigError, match="ISO 639"):
        language_resources("../pt")
    # A caller's edit never leaks into the next caller's copy.
    language_resources("pt").stopwords.append("zzz")
    assert "zzz" not in language_resources("pt").stopwords


def test_curation_runs_on_an_unknown_language_with_one_warning(tmp_path):
    sentences = ["Unha vez había unha aldea preto do mar onde as xentes vivían da pesca.",
                 "Pola mañá as barcas saían cedo e volvían cando o sol xa quentaba as pedras.",
                 "Os nenos ían á escola camiñando por un carreiro entre os muíños vellos.",
                 "No inverno a choiva caía sen descanso e o río enchía os prados de auga.",
                 "A avoa contaba historias de lobos e de mouras ao carón da lareira.",
                 "Na feira do mes vendíanse queixos, mel, castañas e panos de liño.",
                 "Cando chegaba o verán, a praia enchíase de familias vindas da cidade.",
                 "O mestre da aldea tiña unha biblioteca pequena que prestaba a todos."]
    docs = [{"text": " ".join(sentences[i:] + sentences[:i]) + f" Esta é a historia número {i}.",
             "id": str(i)} for i in range(6)]
    docs.append({"text": docs[0]["text"], "id": "dup"})  # an exact duplicate: the generic steps still run
    config = {"language": "gl", "steps": [
        {"name": "normalize"}, {"name": "line_filter"}, {"name": "quality", "min_words": 10},
        {"name": "pii"}, {"name": "exact_dedup"}]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = run_curation(config, docs, tmp_path / "out", progress=False)
    lacking = [w for w in caught if "language 'gl' lacks" in str(w.message)]
    assert len(lacking) == 1 and "stopwords.txt" in str(lacking[0].message)
    kept = [json.loads(line) for f in sorted((tmp_path / "out").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines()]
    assert report.docs_out == len(kept) == 6


def test_pii_rules_follow_the_language():
    number = "12345678"
    dni = number + dni_letter(number)
    assert is_valid_dni(dni) and not is_valid_dni(number + ("A" if dni[-1] != "A" else "B"))
    text = f"Escriba a ana@example.org o llame al +34 612 345 678; DNI {dni}. Pedido 12345678A."
    def masked(language):
        return PIIMasker(language=language).mask(text)[0]

    es = masked("es")
    assert "ana@example.org" not in es and "612 345 678" not in es and dni not in es
    assert "<DNI>" in es and "<TELÉFONO>" in es
    assert ("12345678A" in es) == (dni != "12345678A")  # a wrong check letter stays
    # The Portuguese rules do not mask a Spanish DNI, and an unknown language masks e-mail only.
    assert dni in masked("pt")
    gl = masked("gl")
    assert "ana@example.org" not in gl and "612 345 678" in gl
