"""HateBR: is this Instagram comment offensive? (ruanchaves/hatebr)

The Hub dataset also has one boolean column per hate-speech group and the annotators' votes;
the course uses the comment and the binary label, so those columns are optional here.
"""

from datasets import Features, Value

from .base import SPLITS, DatasetSpec, Task, register

HATEBR = DatasetSpec(
    name="hatebr",
    hub_name="ruanchaves/hatebr",
    features=Features({
        "instagram_comments": Value("string"),
        "offensive_language": Value("bool"),
        "offensiveness_levels": Value("int32"),
    }),
    required=("instagram_comments", "offensive_language"),
    label_column="offensive_language",
    text_columns=("instagram_comments",),
    label_range=2,
    sample_files={split: f"hatebr/{split}.jsonl" for split in SPLITS},
)

TASK = register(Task(
    name="hatebr",
    data=HATEBR,
    kind="classification",
    description="offensive Instagram comments (HateBR)",
    label=lambda row: int(bool(row["offensive_language"])),
    label_names=("NONTOXIC", "TOXIC"),
    input_columns=("instagram_comments",),
    prompt=lambda r: f"Texto: {r['instagram_comments']}\nPergunta: O texto é ofensivo?\nResposta:",
    choices={1: " Sim", 0: " Não"},
    num_fewshot=25,
    metric="macro_f1",
))
