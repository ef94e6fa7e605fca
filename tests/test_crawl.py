"""The raw-crawl maker: deterministic, and every label it writes is true of the text.

Labels are checked with independent means: py3langid for languages, ftfy for
mojibake, a check-digit routine written here for CPF/CNPJ, plain set algebra for
the Jaccard similarity of near duplicates.
"""

from __future__ import annotations

import json
import random
import re

import ftfy
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from ttl.config import ConfigError
from ttl.data.crawl import DEFAULT_RATES, make_raw_crawl, write_raw_crawl

SENTENCES = [
    "A prefeitura anunciou nesta segunda-feira a reforma completa da praça central da cidade.",
    "As obras devem começar no próximo mês e durar cerca de oito meses, segundo a secretaria de obras.",
    "Moradores do bairro pediram mais árvores, bancos novos e uma iluminação que funcione à noite.",
    "O rio que corta a região voltou a subir depois das chuvas fortes do fim de semana.",
    "A defesa civil recomendou que as famílias das áreas baixas deixem suas casas por precaução.",
    "Na escola estadual do bairro, os alunos montaram uma horta com alface, cenoura e ervas.",
    "A professora de ciências explicou que a horta ajuda a ensinar biologia e alimentação saudável.",
    "O time da cidade venceu o clássico de domingo por dois a um, com um gol nos últimos minutos.",
    "O técnico elogiou a defesa e disse que o elenco ainda precisa melhorar a troca de passes.",
    "Para fazer um bolo de fubá macio, bata os ovos com o açúcar até formar um creme claro.",
    "Depois acrescente o leite, o óleo e o fubá peneirado, mexendo devagar para não empelotar.",
    "Asse em forno médio por quarenta minutos e faça o teste do palito antes de desenformar.",
    "A biblioteca municipal ganhou um acervo novo de livros infantis doados pelos moradores.",
    "Aos sábados, voluntários leem histórias para as crianças na sala de leitura do segundo andar.",
    "O museu de história natural abriu uma exposição sobre os dinossauros que viveram no Brasil.",
    "Entre as peças expostas está um fêmur encontrado por agricultores no interior do estado.",
    "O preço do tomate caiu nas feiras livres depois de uma safra muito boa no cinturão verde.",
    "Os feirantes dizem que o consumidor voltou a comprar frutas da estação em maior quantidade.",
    "A vacinação contra a gripe foi ampliada para todas as pessoas acima de seis meses de idade.",
    "Os postos de saúde funcionam das oito às dezessete horas e também no sábado pela manhã.",
    "Uma pesquisa da universidade federal mostrou que as abelhas nativas polinizam o café da região.",
    "Os pesquisadores sugerem manter faixas de mata perto das lavouras para proteger os insetos.",
    "O festival de inverno trouxe músicos de vários estados para apresentações gratuitas no parque.",
    "À noite, a praça de alimentação ficou lotada de famílias que vieram provar pratos típicos.",
    "A ponte de madeira sobre o córrego foi substituída por uma estrutura de concreto mais larga.",
    "Com a obra, os ônibus escolares voltam a circular pela estrada que liga as comunidades rurais.",
    "Especialistas recomendam beber água ao longo do dia, mesmo quando não se sente sede.",
    "Nos dias mais quentes, é melhor evitar exercícios pesados entre o meio-dia e as quatro da tarde.",
    "O clube de xadrez da cidade organizou um torneio aberto para jogadores de todas as idades.",
    "A campeã da categoria juvenil tem apenas doze anos e aprendeu a jogar com o avô.",
    "A cooperativa de reciclagem passou a recolher óleo de cozinha usado em pontos de coleta.",
    "O óleo recolhido é transformado em sabão e vendido a preço baixo para as famílias associadas.",
    "Uma nova linha de ônibus vai ligar o terminal central ao hospital regional a partir de junho.",
    "Os usuários poderão pagar a passagem com cartão de débito ou com o bilhete eletrônico.",
    "O teatro municipal reabriu depois de dois anos fechado para restauração do telhado e das cadeiras.",
    "A primeira peça em cartaz conta a história de uma família de pescadores do litoral.",
    "Os agricultores da região começaram a colheita do milho mais cedo por causa da seca.",
    "A produtividade ficou abaixo da média, mas a qualidade dos grãos surpreendeu os compradores.",
    "Um grupo de ciclistas pede a construção de uma ciclovia ligando os bairros ao centro.",
    "Segundo eles, o trajeto atual obriga quem pedala a dividir a pista com caminhões pesados.",
    "A feira de ciências da escola técnica premiou um projeto que mede a umidade do solo.",
    "O aparelho foi montado com peças recicladas e avisa pelo celular quando a planta precisa de água.",
    "O parque estadual registrou o nascimento de dois filhotes de onça-pintada neste ano.",
    "Os guardas florestais acompanham os animais com câmeras instaladas nas trilhas mais afastadas.",
    "O posto de atendimento ao trabalhador oferece cursos gratuitos de informática e de atendimento.",
    "As inscrições podem ser feitas pela internet ou presencialmente, com documento de identidade.",
    "A padaria mais antiga do bairro completou cem anos e manteve a receita original do pão de queijo.",
    "O neto do fundador conta que o segredo está no queijo curado comprado de pequenos produtores.",
    "O observatório da universidade abre suas portas ao público na primeira sexta-feira de cada mês.",
    "Com sorte e céu limpo, os visitantes conseguem ver os anéis de Saturno pelo telescópio principal.",
    "O mercado municipal passou por uma reforma que melhorou a ventilação e a limpeza dos boxes.",
    "Os comerciantes esperam que a mudança traga de volta os turistas que visitavam o prédio histórico.",
    "A câmara aprovou uma lei que obriga os novos prédios a terem bicicletários e coleta seletiva.",
    "A medida vale para construções com mais de vinte apartamentos ou salas comerciais.",
    "A orquestra jovem da cidade se apresentou pela primeira vez fora do país, em uma turnê pela Europa.",
    "Os músicos têm entre quinze e vinte e dois anos e estudam em escolas públicas da região.",
    "A estação de tratamento de esgoto vai dobrar de capacidade com o investimento anunciado.",
    "Com a ampliação, a meta é tratar todo o esgoto da área urbana até o fim da década.",
    "A campanha do agasalho arrecadou mais de dez mil peças de roupa em apenas três semanas.",
    "As doações foram separadas por tamanho e entregues às famílias cadastradas nos centros sociais.",
]


def portuguese_documents(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct Portuguese documents of 7-9 sentences in 2-3 paragraphs, no two alike."""
    rng = random.Random(seed)
    docs, used = [], []
    while len(docs) < n:
        picked = rng.sample(range(len(SENTENCES)), rng.randint(7, 9))
        if any(len(set(picked) & other) > 3 for other in used):
            continue
        used.append(set(picked))
        sentences = [SENTENCES[i] for i in picked]
        cut1, cut2 = sorted(rng.sample(range(1, len(sentences)), 2))
        paragraphs = [sentences[:cut1], sentences[cut1:cut2], sentences[cut2:]]
        docs.append("\n".join(" ".join(p) for p in paragraphs if p))
    return docs


def mod11(digits: list[int], first_weight: int) -> int:
    """Check digit the way the Receita Federal describes it, written independently of ttl."""
    total = 0
    weight = first_weight
    for d in digits:
        total += d * weight
        weight -= 1
        if weight < 2 and first_weight in (5, 6):  # CNPJ weights wrap from 2 back to 9
            weight = 9
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def cpf_ok(number: str) -> bool:
    d = [int(c) for c in re.sub(r"\D", "", number)]
    return len(d) == 11 and mod11(d[:9], 10) == d[9] and mod11(d[:10], 11) == d[10]


def cnpj_ok(number: str) -> bool:
    d = [int(c) for c in re.sub(r"\D", "", number)]
    return len(d) == 14 and mod11(d[:12], 5) == d[12] and mod11(d[:13], 6) == d[13]


def shingle_set(text: str, n: int = 5) -> set:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.fixture(scope="module")
def docs():
    return portuguese_documents(60)


@pytest.fixture(scope="module")
def crawl(docs):
    rates = {k: min(1.0, 3 * v) for k, v in DEFAULT_RATES.items()}  # many defects, so every class shows up
    return make_raw_crawl(docs, seed=3, **rates)


def test_independent_check_digits_agree_with_textbook_examples():
    # Worked examples used in Brazilian documentation of the algorithm.
    assert cpf_ok("111.444.777-35") and not cpf_ok("111.444.777-36")
    assert cnpj_ok("11.222.333/0001-81") and not cnpj_ok("11.222.333/0001-80")


def test_deterministic_from_seed(docs):
    a = make_raw_crawl(docs, seed=11)
    b = make_raw_crawl(docs, seed=11)
    c = make_raw_crawl(docs, seed=12)
    assert a == b
    assert a != c
    assert all(set(r) == {"text", "metadata"} for r in a)


def test_every_defect_class_present_and_counts_follow_rates(docs, crawl):
    metas = [json.loads(r["metadata"]) for r in crawl]
    seen = {d for m in metas for d in m["defects"]}
    expected = {"exact_duplicate", "near_duplicate", "spam", "code", "too_short", "very_long", "boilerplate",
                "html", "mojibake", "pii_email", "pii_phone", "pii_cpf", "pii_cnpj", "toxic", "lang_en", "lang_es"}
    assert expected <= seen
    n = len(docs)
    for kind in ("exact_duplicate", "near_duplicate", "spam", "code", "too_short", "very_long"):
        count = sum(kind in m["defects"] for m in metas)
        assert count == round(min(1.0, 3 * DEFAULT_RATES[kind]) * n), kind
    # Every clean document appears exactly once as a base record.
    assert sorted(m["origin_id"] for m in metas if m["origin_id"] is not None and not
                  {"exact_duplicate", "near_duplicate"} & set(m["defects"])) == list(range(n))
    assert [m["crawl_id"] for m in metas] == list(range(len(crawl)))
    assert all(m["source"] == "raw-crawl" for m in metas)


def test_labels_are_true(docs, crawl):
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    position = {}
    for i, rec in enumerate(crawl):
        meta = json.loads(rec["metadata"])
        text, defects = rec["text"], set(meta["defects"])
        origin = meta["origin_id"]
        if origin is not None and not {"exact_duplicate", "near_duplicate"} & defects:
            position[origin] = i
        if not defects and not meta["decoys"]:
            assert text == docs[origin]
        if "exact_duplicate" in defects:
            assert i > position[origin]
            assert text == crawl[position[origin]]["text"]
        if "near_duplicate" in defects:
            assert i > position[origin]
            original = crawl[position[origin]]["text"]
            assert text != original
            a, b = shingle_set(text), shingle_set(original)
            true_j = len(a & b) / len(a | b)
            assert 0.7 <= true_j < 1.0
            assert meta["jaccard_to_origin"] == pytest.approx(true_j, abs=1e-3)
        if "mojibake" in defects:
            assert ftfy.fix_text(text) != text
            assert "Ã" in text
        for lang in ("en", "es"):
            if f"lang_{lang}" in defects:
                assert identifier.classify(text)[0] == lang
        if "very_long" in defects:
            assert len(text.split()) >= 4000
        if "too_short" in defects:
            assert len(text.split()) < 20
        if "code" in defects:
            assert any(tok in text for tok in ("return", "SELECT", "{", "def "))
        lines = [line.strip() for line in ftfy.fix_text(text).split("\n")]
        for kind in ("boilerplate", "toxic"):
            for line in meta["injected"].get(kind, []):
                assert line in lines
        for tag in meta["injected"].get("html", []):
            assert tag in text
        for value in meta["injected"].get("pii_email", []):
            assert value in text and re.fullmatch(r"[\w.]+@[\w.]+\.\w+", value)
        for value in meta["injected"].get("pii_phone", []):
            assert value in text and 10 <= len(re.sub(r"\D", "", value).removeprefix("55")) <= 11
        for value in meta["injected"].get("pii_cpf", []):
            assert value in text and cpf_ok(value)
        for value in meta["injected"].get("pii_cnpj", []):
            assert value in text and cnpj_ok(value)
        for value in meta["decoys"].get("invalid_cpf", []):
            assert value in text and not cpf_ok(value)


def test_other_target_language(docs):
    crawl = make_raw_crawl(docs[:30], seed=1, language="en", foreign=0.5)
    langs = {d for r in crawl for d in json.loads(r["metadata"])["defects"] if d.startswith("lang_")}
    assert langs and "lang_en" not in langs and langs <= {"lang_pt", "lang_es"}


def test_bad_arguments(docs):
    with pytest.raises(ConfigError, match="unknown defect rate"):
        make_raw_crawl(docs, spam_rate=0.1)
    with pytest.raises(ConfigError, match="out of range"):
        make_raw_crawl(docs, html=1.5)
    with pytest.raises(ConfigError, match="at least one"):
        make_raw_crawl([])
    with pytest.raises(ConfigError, match="document 1"):
        make_raw_crawl(["ok", {"body": "no text field"}])


def test_write_raw_crawl_jsonl(tmp_path, docs):
    path = write_raw_crawl(tmp_path / "crawl.jsonl", seed=5, documents=docs[:20])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == make_raw_crawl(docs[:20], seed=5)
    assert not list(tmp_path.glob("*.tmp"))
