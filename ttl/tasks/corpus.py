"""The pretraining corpus: Pt-Corpus-Instruct (TeenyTinyLlama's 6.2B tokens of Portuguese)."""

from datasets import Features, Value

from .base import DatasetSpec, Task, register

CORPUS = DatasetSpec(
    name="corpus",
    hub_name="nicholasKluge/Pt-Corpus-Instruct",
    features=Features({"text": Value("string"), "metadata": Value("string")}),
    required=("text",),
    splits=("train",),
    text_columns=("text",),
    sample_files={"train": "corpus/sample.jsonl"},
)

TASK = register(Task(
    name="corpus",
    data=CORPUS,
    kind="corpus",
    description="documents for pretraining (column text; metadata is a JSON string)",
))
