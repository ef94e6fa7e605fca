"""Assin2 entailment: does the premise entail the hypothesis? (nilc-nlp/assin2)

The same dataset also serves :mod:`ttl.tasks.assin2_sts` (similarity scores).
"""

from datasets import ClassLabel, Features, Value

from .base import SPLITS, DatasetSpec, Task, register

ASSIN2 = DatasetSpec(
    name="assin2",
    hub_name="nilc-nlp/assin2",
    features=Features({
        "sentence_pair_id": Value("int64"),
        "premise": Value("string"),
        "hypothesis": Value("string"),
        "relatedness_score": Value("float32"),
        "entailment_judgment": ClassLabel(names=["NONE", "ENTAILMENT"]),
    }),
    required=("premise", "hypothesis", "entailment_judgment"),
    label_column="entailment_judgment",
    text_columns=("premise", "hypothesis"),
    label_range=2,
    sample_files={split: f"assin2/{split}.jsonl" for split in SPLITS},
)

TASK = register(Task(
    name="assin2_rte",
    aliases=("assin2",),
    data=ASSIN2,
    kind="classification",
    description="entailment of sentence pairs (ASSIN 2 RTE)",
    label=lambda row: int(row["entailment_judgment"]),
    label_names=("UNENTAILED", "ENTAILED"),       # the model card's names
    input_columns=("premise", "hypothesis"),        # <s>premise<s>hypothesis</s>
    prompt=lambda r: (f"Premissa: {r['premise']}\nHipótese: {r['hypothesis']}\n"
                      "Pergunta: A hipótese pode ser inferida pela premissa? Sim ou Não?\nResposta:"),
    choices={1: " Sim", 0: " Não"},
    num_fewshot=15,
    metric="macro_f1",
))
