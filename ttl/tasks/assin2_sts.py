"""Assin2 similarity: how similar are the two sentences, from 1.0 to 5.0? (nilc-nlp/assin2)"""

from .assin2_rte import ASSIN2
from .base import Task, register

TASK = register(Task(
    name="assin2_sts",
    data=ASSIN2,
    kind="regression",
    description="semantic similarity of sentence pairs, 1.0-5.0 (ASSIN 2 STS)",
    label=lambda row: float(row["relatedness_score"]),
    prompt=lambda r: (f"Frase 1: {r['premise']}\nFrase 2: {r['hypothesis']}\n"
                      "Pergunta: Quão similares são as duas frases? Dê uma pontuação entre 1,0 a 5,0.\nResposta:"),
    format_score=lambda score: " " + f"{score:.1f}".replace(".", ","),   # " 3,5", the Brazilian decimal comma
    score_range=(1.0, 5.0),
    num_fewshot=15,
    metric="pearson",
))
