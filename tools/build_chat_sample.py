"""Build the embedded chat sample ``data/chat/`` from hand-written parts (a build tool, not part of ``ttl``).

    python tools/build_chat_sample.py           # write data/chat/{sft,preferences}_{train,validation,test}.jsonl
    python tools/build_chat_sample.py --stats   # counts per split and kind, write nothing

Every text below was written for this course (CC BY 4.0, see ``data/README.md``): facts about
countries, animals, word opposites and sums, question and answer phrasings, small talk,
system prompts, and for the preference triples the five ways a rejected answer goes wrong
(a wrong fact, rudeness, an answer to another question, rambling, English instead of
Portuguese). The builder composes them deterministically (fixed seed). Entities (a country,
an animal, a pair of numbers, a word) are assigned to a split first, so no fact asked in the
test split is ever taught in training: what the chapter measures on the test split is the
format and the manners, not memorised facts.

Layouts (those of common Hub datasets, so the same loaders read both):

* ``sft_*.jsonl``: ``prompt_id``, ``prompt`` (the first user message), ``messages`` (a list of
  ``{"role", "content"}``), ``kind`` (single, multi_turn, system, small_talk), as UltraChat-200k;
* ``preferences_*.jsonl``: ``prompt_id``, ``prompt`` (a list of messages ending with a user turn),
  ``chosen`` and ``rejected`` (each a list holding one assistant message), ``kind`` (how the
  rejected answer is worse), as TRL's conversational preference format.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ttl.io import atomic_write_jsonl  # noqa: E402

SEED = 2025
SPLITS = ("train", "validation", "test")
SHARES = (0.7, 0.15, 0.15)

# --------------------------------------------------------------------------- hand-written facts

# name, "de" form, "em" form, capital, continent ("na América do Sul"), language, English name, English capital
COUNTRIES = [
    ("o Brasil", "do Brasil", "no Brasil", "Brasília", "na América do Sul", "o português", "Brazil", "Brasília"),
    ("Portugal", "de Portugal", "em Portugal", "Lisboa", "na Europa", "o português", "Portugal", "Lisbon"),
    ("a Argentina", "da Argentina", "na Argentina", "Buenos Aires", "na América do Sul", "o espanhol",
     "Argentina", "Buenos Aires"),
    ("o Chile", "do Chile", "no Chile", "Santiago", "na América do Sul", "o espanhol", "Chile", "Santiago"),
    ("o Peru", "do Peru", "no Peru", "Lima", "na América do Sul", "o espanhol", "Peru", "Lima"),
    ("a Colômbia", "da Colômbia", "na Colômbia", "Bogotá", "na América do Sul", "o espanhol", "Colombia", "Bogotá"),
    ("o Uruguai", "do Uruguai", "no Uruguai", "Montevidéu", "na América do Sul", "o espanhol", "Uruguay",
     "Montevideo"),
    ("o Paraguai", "do Paraguai", "no Paraguai", "Assunção", "na América do Sul", "o espanhol e o guarani",
     "Paraguay", "Asunción"),
    ("a Bolívia", "da Bolívia", "na Bolívia", "Sucre", "na América do Sul", "o espanhol", "Bolivia", "Sucre"),
    ("o Equador", "do Equador", "no Equador", "Quito", "na América do Sul", "o espanhol", "Ecuador", "Quito"),
    ("a Venezuela", "da Venezuela", "na Venezuela", "Caracas", "na América do Sul", "o espanhol", "Venezuela",
     "Caracas"),
    ("o México", "do México", "no México", "Cidade do México", "na América do Norte", "o espanhol", "Mexico",
     "Mexico City"),
    ("o Canadá", "do Canadá", "no Canadá", "Ottawa", "na América do Norte", "o inglês e o francês", "Canada",
     "Ottawa"),
    ("Cuba", "de Cuba", "em Cuba", "Havana", "na América Central", "o espanhol", "Cuba", "Havana"),
    ("a Espanha", "da Espanha", "na Espanha", "Madri", "na Europa", "o espanhol", "Spain", "Madrid"),
    ("a França", "da França", "na França", "Paris", "na Europa", "o francês", "France", "Paris"),
    ("a Itália", "da Itália", "na Itália", "Roma", "na Europa", "o italiano", "Italy", "Rome"),
    ("a Alemanha", "da Alemanha", "na Alemanha", "Berlim", "na Europa", "o alemão", "Germany", "Berlin"),
    ("a Grécia", "da Grécia", "na Grécia", "Atenas", "na Europa", "o grego", "Greece", "Athens"),
    ("a Polônia", "da Polônia", "na Polônia", "Varsóvia", "na Europa", "o polonês", "Poland", "Warsaw"),
    ("a Suécia", "da Suécia", "na Suécia", "Estocolmo", "na Europa", "o sueco", "Sweden", "Stockholm"),
    ("a Noruega", "da Noruega", "na Noruega", "Oslo", "na Europa", "o norueguês", "Norway", "Oslo"),
    ("a Irlanda", "da Irlanda", "na Irlanda", "Dublin", "na Europa", "o irlandês e o inglês", "Ireland", "Dublin"),
    ("a Holanda", "da Holanda", "na Holanda", "Amsterdã", "na Europa", "o neerlandês", "the Netherlands",
     "Amsterdam"),
    ("Angola", "de Angola", "em Angola", "Luanda", "na África", "o português", "Angola", "Luanda"),
    ("Moçambique", "de Moçambique", "em Moçambique", "Maputo", "na África", "o português", "Mozambique", "Maputo"),
    ("Cabo Verde", "de Cabo Verde", "em Cabo Verde", "Praia", "na África", "o português", "Cape Verde", "Praia"),
    ("o Egito", "do Egito", "no Egito", "Cairo", "na África", "o árabe", "Egypt", "Cairo"),
    ("o Marrocos", "do Marrocos", "no Marrocos", "Rabat", "na África", "o árabe e o berbere", "Morocco", "Rabat"),
    ("o Quênia", "do Quênia", "no Quênia", "Nairóbi", "na África", "o suaíli e o inglês", "Kenya", "Nairobi"),
    ("o Japão", "do Japão", "no Japão", "Tóquio", "na Ásia", "o japonês", "Japan", "Tokyo"),
    ("a China", "da China", "na China", "Pequim", "na Ásia", "o mandarim", "China", "Beijing"),
    ("a Índia", "da Índia", "na Índia", "Nova Déli", "na Ásia", "o híndi e o inglês", "India", "New Delhi"),
    ("a Coreia do Sul", "da Coreia do Sul", "na Coreia do Sul", "Seul", "na Ásia", "o coreano", "South Korea",
     "Seoul"),
    ("a Tailândia", "da Tailândia", "na Tailândia", "Bangcoc", "na Ásia", "o tailandês", "Thailand", "Bangkok"),
    ("a Turquia", "da Turquia", "na Turquia", "Ancara", "na Ásia e na Europa", "o turco", "Turkey", "Ankara"),
    ("a Austrália", "da Austrália", "na Austrália", "Camberra", "na Oceania", "o inglês", "Australia", "Canberra"),
    ("a Nova Zelândia", "da Nova Zelândia", "na Nova Zelândia", "Wellington", "na Oceania",
     "o inglês e o maori", "New Zealand", "Wellington"),
    ("Timor-Leste", "de Timor-Leste", "em Timor-Leste", "Díli", "na Ásia", "o tétum e o português",
     "East Timor", "Dili"),
    ("a Finlândia", "da Finlândia", "na Finlândia", "Helsinque", "na Europa", "o finlandês e o sueco",
     "Finland", "Helsinki"),
]

# name (with article), food, habitat, group, English name
ANIMALS = [
    ("o cavalo", "capim e feno", "campos e fazendas", "um mamífero", "the horse"),
    ("a vaca", "capim", "pastos", "um mamífero", "the cow"),
    ("o leão", "carne de outros animais", "savanas da África", "um mamífero", "the lion"),
    ("a girafa", "folhas de árvores altas", "savanas da África", "um mamífero", "the giraffe"),
    ("o elefante", "folhas, frutas e cascas", "savanas e florestas da África e da Ásia", "um mamífero",
     "the elephant"),
    ("a onça-pintada", "carne de capivaras, veados e peixes", "florestas e pantanais", "um mamífero",
     "the jaguar"),
    ("o bicho-preguiça", "folhas", "copas das árvores da floresta", "um mamífero", "the sloth"),
    ("a capivara", "capim e plantas aquáticas", "margens de rios e lagos", "um mamífero", "the capybara"),
    ("o golfinho", "peixes e lulas", "oceanos e alguns rios", "um mamífero", "the dolphin"),
    ("a baleia-azul", "krill, pequenos crustáceos", "oceanos", "um mamífero", "the blue whale"),
    ("o morcego", "insetos, frutas ou néctar, conforme a espécie", "cavernas e árvores", "um mamífero",
     "the bat"),
    ("o tucano", "frutas", "florestas tropicais", "uma ave", "the toucan"),
    ("a arara-azul", "sementes de palmeiras", "cerrado e pantanal", "uma ave", "the hyacinth macaw"),
    ("o pinguim", "peixes e krill", "regiões frias do hemisfério sul", "uma ave", "the penguin"),
    ("a coruja", "roedores e insetos", "florestas, campos e até cidades", "uma ave", "the owl"),
    ("o beija-flor", "néctar de flores", "jardins e florestas das Américas", "uma ave", "the hummingbird"),
    ("a galinha", "grãos, sementes e insetos", "quintais e granjas", "uma ave", "the chicken"),
    ("o jacaré", "peixes e pequenos animais", "rios e pântanos", "um réptil", "the caiman"),
    ("a tartaruga-marinha", "algas, águas-vivas e crustáceos", "oceanos", "um réptil", "the sea turtle"),
    ("a sucuri", "peixes, aves e mamíferos", "rios e pântanos da América do Sul", "um réptil", "the anaconda"),
    ("o camaleão", "insetos", "árvores de regiões quentes", "um réptil", "the chameleon"),
    ("o sapo", "insetos", "lugares úmidos, perto da água", "um anfíbio", "the toad"),
    ("o tubarão", "peixes e focas", "oceanos", "um peixe", "the shark"),
    ("o pirarucu", "peixes menores", "rios da Amazônia", "um peixe", "the arapaima"),
    ("a abelha", "néctar e pólen", "colmeias", "um inseto", "the bee"),
    ("a formiga", "folhas, sementes e restos de alimentos", "formigueiros", "um inseto", "the ant"),
    ("a borboleta", "néctar de flores", "jardins e campos floridos", "um inseto", "the butterfly"),
    ("o polvo", "caranguejos e peixes", "fundo do mar", "um molusco", "the octopus"),
    ("a aranha", "insetos presos em sua teia", "cantos de casas, jardins e matas", "um aracnídeo",
     "the spider"),
    ("o coelho", "capim e verduras", "tocas em campos", "um mamífero", "the rabbit"),
]

# word, opposite, English word, English opposite
OPPOSITES = [
    ("alto", "baixo", "tall", "short"), ("quente", "frio", "hot", "cold"), ("claro", "escuro", "light", "dark"),
    ("rápido", "lento", "fast", "slow"), ("feliz", "triste", "happy", "sad"), ("cheio", "vazio", "full", "empty"),
    ("forte", "fraco", "strong", "weak"), ("novo", "velho", "new", "old"), ("limpo", "sujo", "clean", "dirty"),
    ("fácil", "difícil", "easy", "hard"), ("caro", "barato", "expensive", "cheap"),
    ("largo", "estreito", "wide", "narrow"), ("pesado", "leve", "heavy", "light"),
    ("aberto", "fechado", "open", "closed"), ("doce", "amargo", "sweet", "bitter"),
    ("perto", "longe", "near", "far"), ("cedo", "tarde", "early", "late"), ("rico", "pobre", "rich", "poor"),
    ("seco", "molhado", "dry", "wet"), ("grosso", "fino", "thick", "thin"),
    ("começo", "fim", "beginning", "end"), ("entrada", "saída", "entrance", "exit"),
    ("vitória", "derrota", "victory", "defeat"), ("paz", "guerra", "peace", "war"),
    ("dia", "noite", "day", "night"), ("verdade", "mentira", "truth", "lie"),
    ("alegria", "tristeza", "joy", "sadness"), ("subir", "descer", "to go up", "to go down"),
    ("ganhar", "perder", "to win", "to lose"), ("lembrar", "esquecer", "to remember", "to forget"),
    ("comprar", "vender", "to buy", "to sell"), ("acender", "apagar", "to switch on", "to switch off"),
]

# how-to requests and their answers, each written by hand
HOWTO = [
    ("Como faço para o arroz ficar soltinho?",
     "Lave o arroz até a água sair clara, refogue-o no óleo por um minuto e use cerca de duas medidas de "
     "água quente para uma de arroz. Cozinhe em fogo baixo com a panela tampada e não mexa."),
    ("Como posso dormir melhor?",
     "Tente deitar e acordar sempre no mesmo horário, evite café à noite e deixe o quarto escuro e "
     "silencioso. Desligar as telas meia hora antes de dormir também ajuda."),
    ("Como economizar água em casa?",
     "Feche a torneira enquanto escova os dentes, tome banhos mais curtos e conserte vazamentos logo. "
     "A água da máquina de lavar pode ser reaproveitada para limpar o quintal."),
    ("Como cuidar de uma planta dentro de casa?",
     "Coloque a planta perto de uma janela com luz indireta e regue só quando a terra estiver seca ao "
     "toque. Um vaso com furos no fundo evita que as raízes apodreçam."),
    ("Como fazer um café coado gostoso?",
     "Aqueça a água até quase ferver, sem deixar borbulhar. Use uma colher de sopa de pó para cada "
     "xícara e despeje a água devagar, em círculos, sobre o filtro."),
    ("Como estudar para uma prova?",
     "Divida a matéria em partes pequenas e estude um pouco todos os dias. Resolva exercícios, explique "
     "o conteúdo em voz alta e durma bem na véspera."),
    ("Como escrever um bom e-mail profissional?",
     "Use um assunto claro, cumprimente a pessoa e diga logo no início o que você precisa. Termine com "
     "um agradecimento e revise o texto antes de enviar."),
    ("Como organizar o meu dinheiro no fim do mês?",
     "Anote tudo o que entra e tudo o que sai, separe os gastos fixos dos variáveis e defina um valor "
     "para guardar assim que receber. Pequenos gastos diários também contam."),
    ("Como tirar uma mancha de café da roupa?",
     "Passe água fria no avesso do tecido o quanto antes e esfregue com um pouco de sabão neutro. "
     "Evite água quente, que fixa a mancha."),
    ("Como começar a correr?",
     "Comece alternando um minuto de corrida leve com dois de caminhada, três vezes por semana. Aumente "
     "o tempo de corrida aos poucos e use um tênis confortável."),
    ("Como fazer uma boa apresentação oral?",
     "Conheça bem o assunto, ensaie em voz alta e use poucos textos nos slides. Fale devagar, olhe para "
     "o público e termine com uma mensagem simples."),
    ("Como preparar um ovo cozido?",
     "Coloque o ovo em uma panela com água fria, leve ao fogo e conte dez minutos depois que a água "
     "ferver. Em seguida, passe-o para a água fria para descascar com facilidade."),
    ("Como aprender uma língua nova?",
     "Pratique um pouco todos os dias, ouça músicas e podcasts na língua e converse com outras pessoas, "
     "mesmo errando. Aprender as palavras mais comuns primeiro rende muito."),
    ("Como manter a cozinha organizada?",
     "Lave a louça logo depois de usar, guarde os alimentos em potes etiquetados e deixe à mão só o "
     "que você usa todo dia."),
    ("Como fazer uma salada simples?",
     "Misture folhas de alface, tomate picado e cebola em rodelas finas. Tempere na hora de servir com "
     "azeite, limão e uma pitada de sal."),
    ("Como me preparar para uma entrevista de emprego?",
     "Pesquise sobre a empresa, releia a descrição da vaga e prepare exemplos do que você já fez. "
     "Chegue alguns minutos antes e leve perguntas para o entrevistador."),
    ("Como reduzir o lixo que eu produzo?",
     "Leve sacolas retornáveis ao mercado, compre a granel quando puder e separe o lixo reciclável. "
     "Restos de frutas e verduras podem virar adubo."),
    ("Como lavar frutas e verduras?",
     "Lave em água corrente e deixe de molho por quinze minutos em água com um pouco de água sanitária "
     "própria para alimentos. Depois, enxágue bem."),
    ("Como fazer as pazes com um amigo depois de uma briga?",
     "Procure a pessoa com calma, reconheça a sua parte no problema e ouça o que ela tem a dizer. Um "
     "pedido de desculpas sincero costuma abrir a conversa."),
    ("Como cuidar de um cachorro filhote?",
     "Ofereça ração própria para filhotes, água fresca e um lugar tranquilo para dormir. Leve-o ao "
     "veterinário para as vacinas e tenha paciência para ensinar onde fazer as necessidades."),
]

SMALL_TALK = [
    ("Olá!", "Olá! Como posso ajudar você hoje?"),
    ("Oi, tudo bem?", "Tudo bem, obrigado por perguntar! Em que posso ajudar?"),
    ("Bom dia!", "Bom dia! Que bom ver você por aqui. Do que você precisa?"),
    ("Boa noite!", "Boa noite! Em que posso ser útil?"),
    ("Obrigado pela ajuda!", "De nada! Se precisar de mais alguma coisa, é só perguntar."),
    ("Valeu!", "Por nada! Fico feliz em ajudar."),
    ("Quem é você?", "Sou um pequeno assistente treinado para conversar em português e responder a "
                     "perguntas simples."),
    ("Você fala português?", "Sim, falo português. Pode perguntar o que quiser."),
    ("Tchau!", "Tchau! Até a próxima."),
    ("Você pode me ajudar?", "Claro! Diga o que você precisa."),
]

SYSTEM_PROMPTS = [
    "Você é um assistente prestativo que responde em português, de forma curta e educada.",
    "Você é um assistente simpático. Responda sempre em português do Brasil.",
    "Responda às perguntas do usuário com frases curtas e corretas.",
    "Você é um assistente paciente que explica as coisas de um jeito simples.",
]

CAPITAL_Q = ["Qual é a capital {de}?", "Qual a capital {de}?", "Me diga a capital {de}.",
             "Você sabe qual é a capital {de}?"]
LANGUAGE_Q = ["Que língua se fala {em}?", "Qual é a língua oficial {de}?", "Qual idioma se fala {em}?"]
CONTINENT_Q = ["Em que continente fica {name}?", "Onde fica {name}?"]
FOOD_Q = ["O que come {name}?", "Do que se alimenta {name}?", "Qual é a comida {de_animal}?"]
HOME_Q = ["Onde vive {name}?", "Qual é o habitat {de_animal}?"]
GROUP_Q = ["{Name} é que tipo de animal?", "{Name} é mamífero, ave ou o quê?"]
OPPOSITE_Q = ["Qual é o contrário de \"{w}\"?", "Qual é o antônimo de \"{w}\"?",
              "Me diga o oposto de \"{w}\"."]
SUM_Q = ["Quanto é {a} mais {b}?", "Quanto dá {a} + {b}?", "Some {a} e {b}, por favor."]
FOLLOW_LANGUAGE = ["E que língua se fala lá?", "E qual é o idioma de lá?"]
FOLLOW_CONTINENT = ["E em que continente fica?", "E onde fica esse país?"]
FOLLOW_FOOD = ["E o que ele come?", "E do que se alimenta?"]
FOLLOW_SUM = ["E se eu somar mais {c}?", "Agora some {c} a esse resultado."]

RUDE = [
    "Que pergunta boba. {answer} Da próxima vez, procure sozinho.",
    "Sério que você não sabe isso? {answer}",
    "Aff, lá vem você de novo. {answer} Agora me deixe em paz.",
    "{answer} Qualquer criança sabe disso, viu?",
    "Não tenho paciência para isso. {answer}",
]
RAMBLE = [
    "Essa é uma pergunta muito interessante, e muita gente já se perguntou a mesma coisa ao longo da vida.",
    "Antes de responder, vale a pena lembrar que todo assunto tem muitos detalhes e muitas histórias.",
    "Eu poderia falar sobre isso por horas, porque é um tema que rende muita conversa.",
    "Também é importante pensar no contexto, nas pessoas envolvidas e em tudo o que veio antes.",
    "De qualquer forma, cada pessoa pode ter a sua opinião, e todas merecem ser ouvidas com atenção.",
    "Espero que isso ajude, mas, se não ajudar, podemos continuar falando sobre o assunto por mais tempo.",
]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _de_animal(name: str) -> str:
    article, rest = name.split(" ", 1)
    return ("do " if article == "o" else "da ") + rest


# --------------------------------------------------------------------------- question/answer makers

class Facts:
    """Every (question, answer, English answer, wrong answer) this builder can ask, by entity."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def country(self, c, kind: str, other) -> tuple[str, str, str, str]:
        name, de, em, capital, cont, lang, en, en_cap = c
        r = self.rng
        if kind == "capital":
            q = r.choice(CAPITAL_Q).format(de=de)
            return (q, f"A capital {de} é {capital}.", f"The capital of {en} is {en_cap}.",
                    f"A capital {de} é {other[3]}.")
        if kind == "language":
            q = r.choice(LANGUAGE_Q).format(de=de, em=em)
            return (q, f"{_cap(em)}, fala-se {lang}.", f"In {en}, people speak the official language of {en}.",
                    f"{_cap(em)}, fala-se {other[5] if other[5] != lang else 'o russo'}.")
        q = r.choice(CONTINENT_Q).format(name=name)
        wrong = other[4] if other[4] != cont else ("na Europa" if cont != "na Europa" else "na Ásia")
        return (q, f"{_cap(name)} fica {cont}.", f"{en[0].upper() + en[1:]} is a country you can visit.",
                f"{_cap(name)} fica {wrong}.")

    def animal(self, a, kind: str, other) -> tuple[str, str, str, str]:
        name, food, home, group, en = a
        r = self.rng
        if kind == "food":
            q = r.choice(FOOD_Q).format(name=name, de_animal=_de_animal(name))
            return (q, f"{_cap(name)} se alimenta de {food}.", f"{_cap(en)} eats what it finds in nature.",
                    f"{_cap(name)} se alimenta de {other[1]}.")
        if kind == "home":
            q = r.choice(HOME_Q).format(name=name, de_animal=_de_animal(name))
            return (q, f"{_cap(name)} vive em {home}.", f"{_cap(en)} lives in its natural home.",
                    f"{_cap(name)} vive em {other[2]}.")
        q = r.choice(GROUP_Q).format(name=name, Name=_cap(name))
        wrong = other[3] if other[3] != group else "um peixe"
        return (q, f"{_cap(name)} é {group}.", f"{_cap(en)} is an animal.", f"{_cap(name)} é {wrong}.")

    def opposite(self, o, other) -> tuple[str, str, str, str]:
        w, opp, en_w, en_opp = o
        q = self.rng.choice(OPPOSITE_Q).format(w=w)
        return (q, f"O contrário de \"{w}\" é \"{opp}\".", f"The opposite of \"{en_w}\" is \"{en_opp}\".",
                f"O contrário de \"{w}\" é \"{other[1]}\".")

    def total(self, a: int, b: int) -> tuple[str, str, str, str]:
        q = self.rng.choice(SUM_Q).format(a=a, b=b)
        wrong = a + b + self.rng.choice([-10, -2, -1, 1, 2, 10])
        return (q, f"{a} mais {b} é igual a {a + b}.", f"{a} plus {b} equals {a + b}.",
                f"{a} mais {b} é igual a {wrong}.")


def split_of(items: list, rng: random.Random) -> dict[str, list]:
    order = list(items)
    rng.shuffle(order)
    n_train = round(len(order) * SHARES[0])
    n_val = round(len(order) * SHARES[1])
    return {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:]}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _bot(text: str) -> dict:
    return {"role": "assistant", "content": text}


def build(seed: int = SEED) -> dict[str, list[dict]]:
    """Every output file's rows, by file stem (``sft_train``, ``preferences_test``, ...)."""
    rng = random.Random(seed)
    facts = Facts(rng)
    countries = split_of(COUNTRIES, rng)
    animals = split_of(ANIMALS, rng)
    opposites = split_of(OPPOSITES, rng)
    pairs = [(a, b) for a in range(2, 60, 3) for b in range(1, 40, 4)]
    sums = split_of(pairs, rng)
    howto = split_of(HOWTO, rng)
    talk = split_of(SMALL_TALK, rng)
    out: dict[str, list[dict]] = {}
    for split in SPLITS:
        cs, ans, ops, ss = countries[split], animals[split], opposites[split], sums[split]

        def pick_other(pool, item):
            return rng.choice([x for x in pool if x is not item] or [item])

        def one_fact():
            """A single question from this split's entities: (question, answer, English, wrong)."""
            kind = rng.choice(["country", "country", "animal", "animal", "opposite", "sum"])
            if kind == "country":
                c = rng.choice(cs)
                return facts.country(c, rng.choice(["capital", "language", "continent"]), pick_other(COUNTRIES, c))
            if kind == "animal":
                a = rng.choice(ans)
                return facts.animal(a, rng.choice(["food", "home", "group"]), pick_other(ANIMALS, a))
            if kind == "opposite":
                o = rng.choice(ops)
                return facts.opposite(o, pick_other(OPPOSITES, o))
            return facts.total(*rng.choice(ss))

        n_sft = {"train": 340, "validation": 60, "test": 60}[split]
        sft, seen = [], set()
        while len(sft) < n_sft:
            roll = rng.random()
            if roll < 0.12 and talk[split]:
                q, a = rng.choice(talk[split])
                messages, kind = [_user(q), _bot(a)], "small_talk"
            elif roll < 0.24 and howto[split]:
                q, a = rng.choice(howto[split])
                messages, kind = [_user(q), _bot(a)], "single"
            elif roll < 0.5:
                if rng.random() < 0.5:
                    c = rng.choice(cs)
                    other = pick_other(COUNTRIES, c)
                    q1, a1, _, _ = facts.country(c, "capital", other)
                    follow = rng.choice(["language", "continent"])
                    _, a2, _, _ = facts.country(c, follow, other)
                    q2 = rng.choice(FOLLOW_LANGUAGE if follow == "language" else FOLLOW_CONTINENT)
                elif rng.random() < 0.5:
                    an = rng.choice(ans)
                    other = pick_other(ANIMALS, an)
                    q1, a1, _, _ = facts.animal(an, "group", other)
                    _, a2, _, _ = facts.animal(an, "food", other)
                    q2 = rng.choice(FOLLOW_FOOD)
                else:
                    a, b = rng.choice(ss)
                    cc = rng.randrange(2, 30)
                    q1, a1, _, _ = facts.total(a, b)
                    q2 = rng.choice(FOLLOW_SUM).format(c=cc)
                    a2 = f"Então o resultado é {a + b + cc}."
                messages, kind = [_user(q1), _bot(a1), _user(q2), _bot(a2)], "multi_turn"
            else:
                q, a, _, _ = one_fact()
                messages, kind = [_user(q), _bot(a)], "single"
            if rng.random() < 0.2 and kind != "small_talk":
                messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}, *messages]
                kind = "system" if kind == "single" else kind
            key = tuple((m["role"], m["content"]) for m in messages)
            if key in seen:
                continue
            seen.add(key)
            sft.append({"prompt_id": f"sft-{split}-{len(sft):04d}",
                        "prompt": next(m["content"] for m in messages if m["role"] == "user"),
                        "messages": messages, "kind": kind})
        out[f"sft_{split}"] = sft

        n_pref = {"train": 250, "validation": 50, "test": 60}[split]
        kinds = ["wrong_fact", "rude", "off_topic", "too_long", "not_portuguese"]
        prefs, seen = [], set()
        while len(prefs) < n_pref:
            kind = kinds[len(prefs) % len(kinds)]
            q, good, english, wrong = one_fact()
            if kind == "wrong_fact":
                bad = wrong
            elif kind == "rude":
                bad = rng.choice(RUDE).format(answer=good)
            elif kind == "off_topic":
                bad = one_fact()[1]
                if bad == good:
                    continue
            elif kind == "too_long":
                bad = " ".join([*rng.sample(RAMBLE, 3), good, *rng.sample(RAMBLE, 2)])
            else:
                bad = english
            if (q, kind) in seen or bad == good:
                continue
            seen.add((q, kind))
            prefs.append({"prompt_id": f"pref-{split}-{len(prefs):04d}", "prompt": [_user(q)],
                          "chosen": [_bot(good)], "rejected": [_bot(bad)], "kind": kind})
        out[f"preferences_{split}"] = prefs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_chat_sample.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stats", action="store_true", help="print counts per split and kind; write nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "chat", help="output folder (default data/chat)")
    args = parser.parse_args(argv)
    files = build()
    for stem, rows in files.items():
        counts = Counter(r["kind"] for r in rows)
        print(f"{stem:24s} {len(rows):4d}  " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if not args.stats:
            atomic_write_jsonl(args.out / f"{stem}.jsonl", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
