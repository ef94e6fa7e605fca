"""Score a curation run against the labels of a raw crawl (see :mod:`ttl.data.crawl`).

Definitions (per document, using the pipeline's trace):

* a *removal* defect (duplicate, other language, spam, code, too short, very long)
  is **caught** when its document was removed, by any step;
* a *repair* defect is **caught** when its document was kept and the damage is
  gone from the output: no injected boilerplate/toxic line, HTML tag or PII
  value remains (PII must also have left its placeholder), and no mojibake
  pattern remains;
* recall of a class = caught / documents carrying it;
* a *clean* document has no removal defect (it may carry repair defects); the
  clean keep rate is the share of clean documents that were kept;
* output precision = share of kept documents that are good: clean, with every
  repair done;
* precision of a step = share of its removals that hit documents with a removal
  defect (for removing steps), or of its edits that hit documents with a defect
  it targets (for line cleanup, toxicity and PII), among documents without a
  removal defect (edits to a page dropped later anyway do not count);
* decoys (look-alikes of PII with wrong check digits) in kept documents must survive unmasked.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

REMOVAL_CLASSES = ("exact_duplicate", "near_duplicate", "spam", "code", "too_short", "very_long")
REPAIR_CLASSES = ("boilerplate", "html", "mojibake", "pii_email", "pii_phone", "pii_cpf", "pii_cnpj", "toxic")
#: Which defect classes a text-editing step is meant to fix (for its precision).
STEP_TARGETS = {"line_filter": {"boilerplate"}, "toxicity": {"toxic"},
                "pii": {"pii_email", "pii_phone", "pii_cpf", "pii_cnpj"}}
PII_PLACEHOLDER = {"pii_email": "<EMAIL>", "pii_phone": "<TELEFONE>", "pii_cpf": "<CPF>", "pii_cnpj": "<CNPJ>"}
# UTF-8 read as Latin-1/Windows-1252: 'Ã' or 'Â' followed by a character of the second half of Latin-1
# or one of the Windows-1252 extras.
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                       "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def is_removal_class(defect: str) -> bool:
    return defect in REMOVAL_CLASSES or defect.startswith("lang_")


def looks_mojibake(text: str) -> bool:
    return bool(_MOJIBAKE.search(text))


def repaired(defect: str, meta: dict[str, Any], text: str, placeholders: dict[str, str] | None = None) -> bool:
    """Whether a kept document's final ``text`` no longer shows the injected ``defect``."""
    injected = meta.get("injected", {}).get(defect, [])
    if defect == "mojibake":
        return not looks_mojibake(text)
    if defect.startswith("pii_"):
        mark = (placeholders or PII_PLACEHOLDER)[defect]
        return all(value not in text for value in injected) and mark in text
    if defect == "html":
        return all(tag not in text for tag in injected)
    # boilerplate and toxic lines: the injected line must be gone (compare line by line).
    lines = {line.strip() for line in text.split("\n")}
    return all(line.strip() not in lines for line in injected)


@dataclass
class CurationScore:
    """Recall per defect class, precision per step, and the fate of clean documents."""

    classes: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    clean_docs: int = 0
    clean_kept: int = 0
    output_docs: int = 0
    output_good: int = 0
    decoys: int = 0
    decoys_kept_intact: int = 0
    # defect class -> Counter of "step:reason" that removed its documents (or "kept")
    caught_by: dict[str, Counter] = field(default_factory=dict)

    @property
    def clean_keep_rate(self) -> float:
        return self.clean_kept / self.clean_docs if self.clean_docs else 1.0

    @property
    def output_precision(self) -> float:
        return self.output_good / self.output_docs if self.output_docs else 1.0

    def recall(self, defect: str) -> float:
        for row in self.classes:
            if row["defect"] == defect:
                return row["recall"]
        raise KeyError(f"no documents with defect {defect!r} in this crawl")

    def summary(self) -> str:
        lines = [f"{'defect':<16}{'kind':<9}{'docs':>6}{'caught':>8}{'recall':>8}"]
        lines += [f"{r['defect']:<16}{r['kind']:<9}{r['docs']:>6}{r['caught']:>8}{r['recall']:>8.3f}"
                  for r in self.classes]
        lines.append(f"clean documents kept: {self.clean_kept}/{self.clean_docs} = {self.clean_keep_rate:.3f}; "
                     f"output precision: {self.output_good}/{self.output_docs} = {self.output_precision:.3f}")
        if self.decoys:
            lines.append(f"decoys left intact: {self.decoys_kept_intact}/{self.decoys}")
        return "\n".join(lines)


def score_curation(trace: Iterable[dict[str, Any]], placeholders: dict[str, str] | None = None) -> CurationScore:
    """Score a run made with ``run_curation(..., trace=True)`` on a crawl from ``make_raw_crawl``."""
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # defect -> [docs, caught]
    caught_by: dict[str, Counter] = defaultdict(Counter)
    step_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # step -> [acted, justified]
    score = CurationScore()
    for rec in trace:
        meta = json.loads(rec["metadata"]) if rec.get("metadata") else {}
        defects = list(meta.get("defects", []))
        removal = [d for d in defects if is_removal_class(d)]
        kept = rec["removed_by"] is None
        text = rec.get("text") or ""
        for d in defects:
            per_class[d][0] += 1
            if is_removal_class(d):
                ok = not kept
            else:
                ok = kept and repaired(d, meta, text, placeholders)
            per_class[d][1] += ok
            caught_by[d]["kept" if kept else f"{rec['removed_by']}:{rec['reason']}"] += 1
        if not kept:
            hit = step_hits[rec["removed_by"]]
            hit[0] += 1
            hit[1] += bool(removal)
        # Edits count only on documents that should survive: cleaning a page that is dropped later
        # anyway (a duplicate copy, say) is neither right nor wrong.
        for step in set(rec.get("modified_by", [])) if not removal else ():
            if step in STEP_TARGETS:
                hit = step_hits[step]
                hit[0] += 1
                hit[1] += bool(STEP_TARGETS[step] & set(defects))
        if not removal:
            score.clean_docs += 1
            score.clean_kept += kept
        if kept:
            score.output_docs += 1
            score.output_good += not removal and all(repaired(d, meta, text, placeholders) for d in defects)
        if kept:  # decoys in kept documents must come out untouched
            for values in meta.get("decoys", {}).values():
                score.decoys += len(values)
                score.decoys_kept_intact += sum(v in text for v in values)
    order = {d: i for i, d in enumerate(REMOVAL_CLASSES + REPAIR_CLASSES)}
    for defect in sorted(per_class, key=lambda d: (order.get(d, len(order)), d)):
        docs, caught = per_class[defect]
        score.classes.append({"defect": defect, "kind": "remove" if is_removal_class(defect) else "repair",
                              "docs": docs, "caught": caught, "recall": caught / docs if docs else 1.0})
    for step, (acted, justified) in step_hits.items():
        score.steps.append({"step": step, "acted_on": acted, "justified": justified,
                            "precision": justified / acted if acted else 1.0})
    score.caught_by = dict(caught_by)
    return score
