"""The raw-crawl maker: turn clean documents into a realistic, *labelled* dirty web crawl.

A real crawl (Common Crawl, or the web part of Pt-Corpus) is full of junk: the
same page fetched twice, pages that differ by a date, cookie banners and menus,
HTML that the extractor missed, pages in other languages, text decoded with the
wrong charset, keyword spam, code, tiny error pages, endless listing pages,
personal data and rude comments. We cannot ship a real crawl, and a real crawl
has no answer key. So we build one: every defect below is injected on purpose
and written into the document's ``metadata`` (a JSON string, as on the Hub)::

    {"source": "raw-crawl", "crawl_id": 17, "origin_id": 4,
     "defects": ["boilerplate", "pii_email"],
     "injected": {"boilerplate": ["Aceitar cookies"], "pii_email": ["ana.souza7@exemplo.com.br"]},
     "decoys": {}}

and :mod:`ttl.data.curate.scoring` then measures, per defect class, how much of
it each curation step caught (recall) and how often it hit clean text (precision).

Two kinds of defects:

* *removal* defects make extra documents that curation must drop: ``exact_duplicate``,
  ``near_duplicate``, ``lang_<code>`` (whole documents in another language), ``spam``,
  ``code``, ``too_short``, ``very_long``;
* *repair* defects damage a clean document that curation must keep and fix:
  ``boilerplate``, ``html``, ``mojibake``, ``pii_email``, ``pii_phone``, ``pii_cpf``,
  ``pii_cnpj``, ``toxic``.

*Decoys* are harmless look-alikes (a protocol number shaped like a CPF but with
wrong check digits) that curation must leave alone.

Everything is drawn from ``random.Random(seed)``: the same seed and documents give
the same crawl, byte for byte.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterable

import ftfy.bad_codecs  # noqa: F401  (registers the 'sloppy-windows-1252' codec)

from ttl.config import ConfigError
from ttl.data.curate.pii import cnpj_check_digits, cpf_check_digits
from ttl.data.text import jaccard, shingles
from ttl.io import atomic_write_bytes

REPAIR_DEFECTS = ("boilerplate", "html", "mojibake", "pii_email", "pii_phone", "pii_cpf", "pii_cnpj", "toxic")
ADDED_DEFECTS = ("exact_duplicate", "near_duplicate", "foreign", "spam", "code", "too_short", "very_long")

#: Default rates. Repair rates are the chance that a clean document gets that defect;
#: added rates are the number of extra documents per clean document.
DEFAULT_RATES: dict[str, float] = {
    "boilerplate": 0.20, "html": 0.10, "mojibake": 0.06, "pii_email": 0.06, "pii_phone": 0.06,
    "pii_cpf": 0.05, "pii_cnpj": 0.04, "toxic": 0.05, "decoy": 0.04,
    "exact_duplicate": 0.06, "near_duplicate": 0.06, "foreign": 0.08, "spam": 0.04, "code": 0.03,
    "too_short": 0.04, "very_long": 0.01,
}

# ---------------------------------------------------------------------------------------------
# Texts written for this project. Foreign-language documents are drawn from the languages
# other than the target one, so the maker works for any target language.

FOREIGN_TEXTS: dict[str, list[str]] = {
    "en": [
        "The town library reopened on Monday after a year of repairs. Volunteers carried more than "
        "four thousand books back to the shelves, and the children's corner now has a reading tent "
        "and a small stage for story hours. The librarian said that the new heating system will "
        "finally keep the reading room warm during the winter months.",
        "Growing tomatoes on a balcony is easier than most people think. Choose a deep pot, fill it "
        "with good compost and place it where the plant gets at least six hours of sun. Water in the "
        "morning, never on the leaves, and tie the stem to a stick as it grows taller.",
        "The committee will meet again next week to discuss the budget for road maintenance. Several "
        "residents asked for better lighting near the school and for a safer crossing on the main "
        "street, where cars often drive too fast in the evening.",
        "Our hiking group walked along the river for almost ten miles on Saturday. We stopped for "
        "lunch under an old oak tree, watched a family of ducks and reached the village just before "
        "the rain started. Next month we plan to climb the hill behind the old mill.",
        "Many small businesses are learning to sell online. They open a simple web shop, take good "
        "photos of their products and answer questions quickly. The owners say that honest "
        "descriptions and fast delivery matter more than a fancy website.",
    ],
    "es": [
        "La biblioteca del barrio volvió a abrir sus puertas después de varios meses de obras. Los "
        "vecinos ayudaron a colocar los libros en las estanterías y ahora hay una sala nueva para los "
        "niños, con cojines de colores y un pequeño teatro de títeres.",
        "Para preparar una buena tortilla de patatas hay que cortar las patatas en láminas finas y "
        "freírlas a fuego lento con un poco de cebolla. Después se mezclan con los huevos batidos y "
        "se cuaja todo en la sartén, dándole la vuelta con la ayuda de un plato.",
        "El ayuntamiento aprobó ayer el presupuesto para el próximo año. La mayor parte del dinero se "
        "destinará a reparar las calles del centro, mejorar el transporte público y ampliar el "
        "horario de los centros de salud durante el verano.",
        "Los estudiantes del instituto organizaron una feria de ciencias en el patio. Hubo volcanes "
        "de bicarbonato, pequeños robots hechos con piezas recicladas y un reloj de sol que marcaba "
        "la hora con bastante precisión cuando salía el sol.",
        "Cada otoño, muchas aves atraviesan la región en su viaje hacia el sur. Los observadores se "
        "reúnen al amanecer junto al lago, con prismáticos y cuadernos, para contar las especies y "
        "compartir sus notas con los investigadores de la universidad.",
    ],
    "pt": [
        "A biblioteca do bairro reabriu na segunda-feira depois de um ano de reformas. Voluntários "
        "ajudaram a devolver os livros às estantes, e o espaço infantil ganhou uma tenda de leitura "
        "e um pequeno palco para a hora do conto.",
        "Plantar tomates na varanda é mais fácil do que parece. Escolha um vaso fundo, use um bom "
        "composto e deixe a planta onde ela receba pelo menos seis horas de sol. Regue pela manhã e "
        "amarre o caule a uma estaca conforme ele cresce.",
        "A comissão volta a se reunir na próxima semana para discutir o orçamento da manutenção das "
        "ruas. Vários moradores pediram iluminação melhor perto da escola e uma faixa de pedestres "
        "mais segura na avenida principal.",
        "Muitos pequenos negócios estão aprendendo a vender pela internet. Eles abrem uma loja "
        "simples, tiram boas fotos dos produtos e respondem às perguntas rapidamente. Os donos dizem "
        "que descrições honestas importam mais do que um site sofisticado.",
    ],
}

BOILERPLATE_HEAD: dict[str, list[str]] = {
    "pt": ["Início | Notícias | Esportes | Cultura | Contato",
           "Este site utiliza cookies para melhorar a sua experiência. Aceitar cookies",
           "Pular para o conteúdo",
           "Menu",
           "Home » Blog » Artigos",
           "Usamos cookies e tecnologias semelhantes. Ao continuar navegando, você concorda com a nossa Política de Privacidade."],
    "en": ["Home | News | Sports | Culture | Contact",
           "This website uses cookies to improve your experience. Accept cookies",
           "Skip to content", "Menu", "Home » Blog » Articles"],
    "es": ["Inicio | Noticias | Deportes | Cultura | Contacto",
           "Este sitio utiliza cookies para mejorar su experiencia. Aceptar cookies", "Menu"],
}
BOILERPLATE_TAIL: dict[str, list[str]] = {
    "pt": ["© 2023 Portal Exemplo. Todos os direitos reservados.",
           "Compartilhe: Facebook | Twitter | WhatsApp | E-mail",
           "Leia também: as dez melhores dicas para economizar na feira",
           "Assine nossa newsletter e receba as novidades por e-mail",
           "Siga-nos nas redes sociais",
           "Voltar ao topo",
           "Termos de uso | Política de privacidade | Fale conosco"],
    "en": ["© 2023 Example Portal. All rights reserved.", "Share: Facebook | Twitter | E-mail",
           "Read more: ten tips to save money", "Subscribe to our newsletter", "Back to top"],
    "es": ["© 2023 Portal Ejemplo. Todos los derechos reservados.", "Síguenos en las redes sociales",
           "Volver arriba"],
}

SPAM_WORDS: dict[str, list[str]] = {
    "pt": ["comprar", "barato", "promoção", "oferta", "imperdível", "frete grátis", "desconto",
           "celular", "tênis", "relógio", "melhor preço", "aproveite", "liquidação", "parcelado",
           "sem juros", "original", "lançamento", "queima de estoque", "cupom", "grátis"],
    "en": ["buy", "cheap", "sale", "offer", "free shipping", "discount", "best price", "deal",
           "watch", "sneakers", "phone", "limited", "coupon", "free", "clearance"],
}

SHORT_PAGES: dict[str, list[str]] = {
    "pt": ["Página não encontrada.", "Carregando, aguarde...", "Faça login para continuar.",
           "Erro 404: a página que você procura não existe.", "Obrigado pela sua visita!",
           "Produto indisponível no momento.", "Sua sessão expirou. Entre novamente.",
           "Nenhum resultado encontrado para a sua busca."],
    "en": ["Page not found.", "Loading, please wait...", "Please log in to continue.",
           "Error 404: this page does not exist.", "Thanks for visiting!"],
}

TOXIC_LINES: dict[str, list[str]] = {
    "pt": ["Quem escreveu isso é um idiota.", "Cala a boca, ninguém perguntou a sua opinião.",
           "Que comentário mais imbecil.", "Vai se ferrar, seu babaca.",
           "Só um otário acredita numa coisa dessas.", "Texto estúpido, perdi meu tempo aqui."],
    "en": ["Whoever wrote this is an idiot.", "Shut up, nobody asked you.", "What a stupid comment."],
    "es": ["Quien escribió esto es un idiota.", "Cállate, nadie te preguntó."],
}

PII_TEMPLATES: dict[str, dict[str, list[str]]] = {
    "pt": {"pii_email": ["Contato: {}", "Dúvidas? Escreva para {} que responderemos em breve.",
                         "Envie seu currículo para {}."],
           "pii_phone": ["Telefone para contato: {}", "Ligue para {} e agende sua visita.",
                         "Atendimento pelo WhatsApp {}."],
           "pii_cpf": ["CPF do responsável: {}", "Nome completo e CPF {} constam no cadastro."],
           "pii_cnpj": ["CNPJ: {}", "Empresa inscrita no CNPJ sob o número {}."],
           "decoy": ["Número do protocolo: {}", "Código do pedido {} (guarde para consulta)."]},
    "en": {"pii_email": ["Contact: {}"], "pii_phone": ["Phone: {}"], "pii_cpf": ["Taxpayer number {}"],
           "pii_cnpj": ["Company number {}"], "decoy": ["Order number {}"]},
}

CODE_SNIPPETS = [
    "def media(valores):\n    if not valores:\n        return 0.0\n    return sum(valores) / len(valores)\n\n"
    "for i in range(10):\n    print(i, media([i, i + 1, i * 2]))\n",
    "function somar(a, b) {\n  return a + b;\n}\nconst itens = [1, 2, 3].map((x) => x * 2);\n"
    "document.getElementById('total').innerText = itens.reduce(somar, 0);\nconsole.log(itens);\n",
    "SELECT c.nome, COUNT(p.id) AS pedidos\nFROM clientes c\nLEFT JOIN pedidos p ON p.cliente_id = c.id\n"
    "WHERE p.data >= '2023-01-01'\nGROUP BY c.nome\nORDER BY pedidos DESC\nLIMIT 20;\n",
    ".cabecalho {\n  display: flex;\n  justify-content: space-between;\n  padding: 12px 24px;\n}\n"
    ".cabecalho a:hover {\n  color: #ff6600;\n  text-decoration: underline;\n}\n",
    "#include <stdio.h>\nint main(void) {\n    int total = 0;\n    for (int i = 0; i < 100; i++) {\n"
    "        total += i * i;\n    }\n    printf(\"%d\\n\", total);\n    return 0;\n}\n",
]

HTML_WRAPPERS = [('<div class="conteudo">', "</div>"), ("<p>", "</p>"), ('<span style="font-weight:bold">', "</span>"),
                 ("<article>", "</article>")]
HTML_INLINE = ["<br>", "<br/>", "&nbsp;", "&quot;", '<img src="foto.jpg" alt="">', "<script>var x = 1;</script>"]

FIRST_NAMES = ["ana", "bruno", "carla", "diego", "eduarda", "felipe", "gabriela", "henrique", "isabela", "joao",
               "larissa", "marcos", "natalia", "otavio", "paula", "rafael", "sofia", "tiago", "vitoria"]
LAST_NAMES = ["silva", "souza", "oliveira", "santos", "pereira", "lima", "costa", "ferreira", "almeida", "rocha"]
DOMAINS = ["exemplo.com.br", "email.com", "provedor.net", "empresa.org.br", "correio.com"]
AREA_CODES = ["11", "21", "31", "41", "47", "51", "61", "71", "81", "85", "91", "92"]


# ---------------------------------------------------------------------------------------------
# Fake personal data (valid shapes and check digits, random digits: nobody's real data).

def fake_email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", ""])
    return f"{rng.choice(FIRST_NAMES)}{sep}{rng.choice(LAST_NAMES)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def fake_phone(rng: random.Random) -> str:
    ddd = rng.choice(AREA_CODES)
    mobile = rng.random() < 0.6
    first = f"9{rng.randint(1000, 9999)}" if mobile else f"{rng.randint(2, 5)}{rng.randint(100, 999)}"
    last = f"{rng.randint(0, 9999):04d}"
    style = rng.randrange(3)
    if style == 0:
        return f"({ddd}) {first}-{last}"
    if style == 1:
        return f"+55 {ddd} {first}-{last}"
    return f"+55 ({ddd}) {first}-{last}"


def fake_cpf(rng: random.Random, formatted: bool = True) -> str:
    """A CPF with correct check digits (random body, so it belongs to nobody in particular)."""
    while True:
        body = "".join(str(rng.randrange(10)) for _ in range(9))
        if len(set(body)) > 1:
            break
    number = body + cpf_check_digits(body)
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}" if formatted else number


def fake_cnpj(rng: random.Random) -> str:
    body = "".join(str(rng.randrange(10)) for _ in range(8)) + "0001"
    number = body + cnpj_check_digits(body)
    return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"


def fake_invalid_cpf(rng: random.Random) -> str:
    """Shaped like a CPF, but with wrong check digits: curation must leave it alone."""
    body = "".join(str(rng.randrange(10)) for _ in range(9))
    good = cpf_check_digits(body)
    bad = f"{(int(good[0]) + rng.randint(1, 9)) % 10}{good[1]}"
    number = body + bad
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"


# ---------------------------------------------------------------------------------------------

def _pool(table: dict[str, Any], language: str) -> Any:
    return table.get(language, table["en"])


def _as_record(doc: Any, index: int) -> dict[str, Any]:
    if isinstance(doc, str):
        return {"text": doc, "metadata": "{}"}
    if isinstance(doc, dict) and isinstance(doc.get("text"), str):
        meta = doc.get("metadata", "{}")
        return {"text": doc["text"], "metadata": meta if isinstance(meta, str) else json.dumps(meta)}
    raise ConfigError(f"document {index} must be a string or a dict with a 'text' string, got {type(doc).__name__}")


def _insert_lines(rng: random.Random, text: str, new_lines: list[str]) -> str:
    lines = text.split("\n")
    for line in new_lines:
        lines.insert(rng.randint(0, len(lines)), line)
    return "\n".join(lines)


def _add_html(rng: random.Random, text: str) -> tuple[str, list[str]]:
    lines = text.split("\n")
    injected = []
    for _ in range(rng.randint(1, 3)):
        j = rng.randrange(len(lines))
        words = lines[j].split(" ")
        tag = rng.choice(HTML_INLINE)
        k = rng.randint(0, len(words))
        # &nbsp; replaces a space (the way extractors leave it); tags are dropped in between words.
        # Spaces inside a tag are held as NUL until the end so a later tag never lands inside it.
        words.insert(k, tag.replace(" ", "\0"))
        lines[j] = " ".join(words) if tag != "&nbsp;" else " ".join(words).replace(" &nbsp; ", "&nbsp;", 1)
        injected.append(tag)
    # A block element around one line, added last so no inline tag lands inside it.
    open_tag, close_tag = rng.choice(HTML_WRAPPERS)
    i = rng.randrange(len(lines))
    lines[i] = f"{open_tag}{lines[i]}{close_tag}"
    injected += [open_tag, close_tag]
    return "\n".join(lines).replace("\0", " "), injected


def near_duplicate(rng: random.Random, text: str, min_jaccard: float = 0.8) -> tuple[str, float]:
    """A copy of ``text`` with a few small edits (typos, a word dropped or repeated) and its true Jaccard.

    Edits are made one at a time while the word 5-gram Jaccard similarity to the
    original stays at or above ``min_jaccard``; at least one edit is always made.
    """
    original = shingles(text)
    lines = [line.split(" ") for line in text.split("\n")]
    positions = [(i, j) for i, words in enumerate(lines) for j, w in enumerate(words) if len(w) > 3]
    target_edits = max(1, len(positions) // 60)
    best = text
    for _ in range(target_edits):
        if not positions:
            break
        i, j = rng.choice(positions)
        word = lines[i][j]
        kind = rng.randrange(3)
        if kind == 0 and len(word) > 4:      # typo: swap two inner characters
            k = rng.randrange(1, len(word) - 2)
            lines[i][j] = word[:k] + word[k + 1] + word[k] + word[k + 2:]
        elif kind == 1:                       # a repeated word
            lines[i][j] = f"{word} {word}"
        else:                                 # a word replaced by another word of the page
            others = [lines[a][b] for a, b in rng.sample(positions, min(5, len(positions)))
                      if lines[a][b].lower() != word.lower()]
            lines[i][j] = others[0] if others else word + word[-1]
        candidate = "\n".join(" ".join(words) for words in lines)
        if best != text and jaccard(original, shingles(candidate)) < min_jaccard:
            break
        best = candidate
    if best == text:  # a page with no long word: add a date line instead
        best = text + f"\n{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2015, 2024)}"
    return best, jaccard(original, shingles(best))


def make_raw_crawl(documents: Iterable[dict | str], seed: int = 0, language: str = "pt",
                   long_words: int = 4000, **rates: float) -> list[dict[str, str]]:
    """A labelled dirty crawl built from clean ``documents`` (strings or dicts with ``text``).

    rates: override any of :data:`DEFAULT_RATES` (e.g. ``spam=0.1``).
    long_words: a ``very_long`` document has at least this many words.
    Returns records with ``text`` and ``metadata`` (a JSON string with the labels).
    """
    unknown = sorted(set(rates) - set(DEFAULT_RATES))
    if unknown:
        raise ConfigError(f"unknown defect rate(s) {unknown}; known: {sorted(DEFAULT_RATES)}")
    rate = {**DEFAULT_RATES, **rates}
    for key, value in rate.items():
        if value < 0 or (key in REPAIR_DEFECTS + ("decoy",) and value > 1):
            raise ConfigError(f"rate {key}={value} out of range (repair rates are probabilities in [0, 1])")
    rng = random.Random(seed)
    sources = [_as_record(doc, i) for i, doc in enumerate(documents)]
    if not sources:
        raise ConfigError("make_raw_crawl needs at least one clean document")

    base: list[dict[str, Any]] = []
    for origin_id, src in enumerate(sources):
        text = src["text"].strip()
        defects: list[str] = []
        injected: dict[str, list[str]] = {}
        decoys: dict[str, list[str]] = {}
        # HTML goes into the page's own text first, so injected lines below stay whole.
        if rng.random() < rate["html"]:
            text, tags = _add_html(rng, text)
            defects.append("html")
            injected["html"] = tags
        templates = _pool(PII_TEMPLATES, language)
        for kind, make in (("pii_email", fake_email), ("pii_phone", fake_phone), ("pii_cpf", fake_cpf),
                           ("pii_cnpj", fake_cnpj)):
            if rng.random() < rate[kind]:
                value = make(rng)
                text = _insert_lines(rng, text, [rng.choice(templates[kind]).format(value)])
                defects.append(kind)
                injected[kind] = [value]
        if rng.random() < rate["decoy"]:
            value = fake_invalid_cpf(rng)
            text = _insert_lines(rng, text, [rng.choice(templates["decoy"]).format(value)])
            decoys["invalid_cpf"] = [value]
        if rng.random() < rate["toxic"]:
            line = rng.choice(_pool(TOXIC_LINES, language))
            text = _insert_lines(rng, text, [line])
            defects.append("toxic")
            injected["toxic"] = [line]
        if rng.random() < rate["boilerplate"]:
            head = rng.sample(_pool(BOILERPLATE_HEAD, language), rng.randint(1, 2))
            tail = rng.sample(_pool(BOILERPLATE_TAIL, language), rng.randint(1, 2))
            text = "\n".join(head + [text] + tail)
            defects.append("boilerplate")
            injected["boilerplate"] = head + tail
        if rng.random() < rate["mojibake"] and any(ord(c) > 127 for c in text):
            # UTF-8 bytes read back as Windows-1252: "ação" becomes "aÃ§Ã£o".
            text = text.encode("utf-8").decode("sloppy-windows-1252")
            defects.append("mojibake")
        base.append({"text": text, "origin_id": origin_id, "defects": defects, "injected": injected,
                     "decoys": decoys})
    rng.shuffle(base)

    n = len(sources)
    extra: list[dict[str, Any]] = []
    foreign_langs = sorted(lang for lang in FOREIGN_TEXTS if lang != language)
    for _ in range(round(rate["foreign"] * n)):
        lang = rng.choice(foreign_langs)
        paragraphs = rng.sample(FOREIGN_TEXTS[lang], rng.randint(2, 3))
        extra.append({"text": "\n\n".join(paragraphs), "defects": [f"lang_{lang}"]})
    spam_words = _pool(SPAM_WORDS, language)
    for _ in range(round(rate["spam"] * n)):
        lines = []
        for _ in range(rng.randint(6, 14)):
            words = rng.sample(spam_words, rng.randint(4, 8))
            extras = [f"R$ {rng.randint(9, 999)},{rng.randint(0, 99):02d}", f"#{rng.choice(spam_words).split()[0]}"]
            lines.append(" ".join(words + rng.sample(extras, rng.randint(0, 2))).upper()
                         if rng.random() < 0.3 else " ".join(words + extras))
        extra.append({"text": "\n".join(lines), "defects": ["spam"]})
    for _ in range(round(rate["code"] * n)):
        extra.append({"text": "\n".join(rng.sample(CODE_SNIPPETS, rng.randint(1, 3))), "defects": ["code"]})
    for _ in range(round(rate["too_short"] * n)):
        extra.append({"text": rng.choice(_pool(SHORT_PAGES, language)), "defects": ["too_short"]})
    for _ in range(round(rate["very_long"] * n)):
        block = rng.choice(sources)["text"].strip()
        words = max(1, len(block.split()))
        repeats = -(-long_words // words)
        pages = [f"{block}\nPágina {k + 1}" if language == "pt" else f"{block}\nPage {k + 1}" for k in range(repeats)]
        extra.append({"text": "\n".join(pages), "defects": ["very_long"]})
    for item in extra:
        item.setdefault("origin_id", None)
        base.insert(rng.randint(0, len(base)), item)

    # Duplicates come after their origin, as when a crawler revisits a page: "keep the first" is then
    # well defined, and the label sits on the copy.
    for kind in ("exact_duplicate", "near_duplicate"):
        for _ in range(round(rate[kind] * n)):
            candidates = [i for i, rec in enumerate(base) if rec["origin_id"] is not None
                          and not set(rec["defects"]) & {"exact_duplicate", "near_duplicate"}]
            pos = rng.choice(candidates)
            origin = base[pos]
            record: dict[str, Any] = {"origin_id": origin["origin_id"], "defects": [kind]}
            if kind == "exact_duplicate":
                record["text"] = origin["text"]
            else:
                record["text"], record["jaccard"] = near_duplicate(rng, origin["text"])
            base.insert(rng.randint(pos + 1, len(base)), record)

    crawl = []
    for crawl_id, rec in enumerate(base):
        meta = {"source": "raw-crawl", "crawl_id": crawl_id, "origin_id": rec.get("origin_id"),
                "defects": rec["defects"], "injected": rec.get("injected", {}), "decoys": rec.get("decoys", {})}
        if "jaccard" in rec:
            meta["jaccard_to_origin"] = round(rec["jaccard"], 4)
        crawl.append({"text": rec["text"], "metadata": json.dumps(meta, ensure_ascii=False)})
    return crawl


def write_raw_crawl(out_path: str | Path, seed: int = 0, documents: Iterable[dict | str] | None = None,
                    language: str = "pt", **rates: float) -> Path:
    """Make a raw crawl (from the embedded corpus of ``language`` unless ``documents`` are given) and write it
    as JSONL, atomically."""
    if documents is None:
        from ttl.data.loaders import load_corpus

        documents = load_corpus(language=language)  # the embedded sample of the crawl's language
    docs = list(documents)
    crawl = make_raw_crawl(docs, seed=seed, language=language, **rates)
    path = Path(out_path)
    data = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in crawl).encode("utf-8")
    atomic_write_bytes(path, data)
    return path
