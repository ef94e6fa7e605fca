"""FaQuAD-NLI: does this sentence answer the question? (ruanchaves/faquad-nli)"""

from datasets import Features, Value

from .base import SPLITS, DatasetSpec, Task, register

FAQUAD_NLI = DatasetSpec(
    name="faquad_nli",
    hub_name="ruanchaves/faquad-nli",
    features=Features({
        "document_index": Value("int32"),
        "document_title": Value("string"),
        "paragraph_index": Value("int32"),
        "question": Value("string"),
        "answer": Value("string"),
        "label": Value("int32"),
    }),
    required=("question", "answer", "label"),
    label_column="label",
    text_columns=("question", "answer"),
    label_range=2,
    sample_files={split: f"faquad_nli/{split}.jsonl" for split in SPLITS},
)

TASK = register(Task(
    name="faquad_nli",
    data=FAQUAD_NLI,
    kind="classification",
    description="does the sentence answer the question? (FaQuAD-NLI)",
    label=lambda row: int(row["label"]),
    label_names=("UNSATISFIED", "SATISFIED"),
    input_columns=("question", "answer"),
    # The harness's prompt ends with the question to the model; the answer follows "Resposta:".
    prompt=lambda r: (f"Pergunta: {r['question']}\nResposta: {r['answer']}\n"
                      "A resposta dada satisfaz à pergunta? Sim ou Não?\nResposta:"),
    choices={1: " Sim", 0: " Não"},
    num_fewshot=15,
    metric="macro_f1",
))
