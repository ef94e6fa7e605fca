"""Build the embedded sample in ``data/`` from the hand-written sources.

Run from the repository root (a build tool: not part of the ``ttl`` package, nor of its wheel)::

    python tools/build_sample.py              # rebuild everything
    python tools/build_sample.py --only corpus
    python tools/build_sample.py --check      # validate the corpus sources, write nothing
    python tools/build_sample.py --stats      # sizes, words, type/token ratio, split counts
    python tools/build_sample.py --language es   # the Spanish corpus sample only (also --check, --stats)

Sources (all written for this course, CC BY 4.0; see ``data/README.md``):

* ``data/sources/corpus/<kind>.txt``: prose documents separated by a line that is
  exactly ``=====``. Files named ``instrucoes_*.txt`` hold instruction documents: a
  request, a line exactly ``-----``, then the answer. The builder writes
  ``data/corpus/sample.jsonl`` (columns ``text`` and ``metadata``, like
  Pt-Corpus-Instruct) with instruction documents as
  ``<instruction>{request}</instruction>{answer}``.
* ``data/sources/assin2/scenes.yaml``, ``data/sources/hatebr/comments.yaml``,
  ``data/sources/faquad_nli/facts.yaml``: hand-written parts from which the labelled
  sets are composed (deterministically, with a fixed seed).

Every output file is written atomically (:func:`ttl.io.atomic_write_jsonl`: a temporary
file, fsync'd, then a rename), so a failed build never leaves half a file behind.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import ttl from this checkout, not an installed copy
    sys.path.insert(0, str(ROOT))

from ttl.data.loaders import DataError, data_dir  # noqa: E402
from ttl.data.readers import read_table  # noqa: E402
from ttl.data.text import jaccard, shingles, words  # noqa: E402
from ttl.io import atomic_write_jsonl  # noqa: E402

SEED = 2024
DOC_SEPARATOR = "====="
INSTRUCTION_SEPARATOR = "-----"
INSTRUCTION_PREFIX = "instrucoes_"
# The prefix of instruction files per language (file names are written in the language).
INSTRUCTION_PREFIXES = {"pt": INSTRUCTION_PREFIX, "es": "instrucciones_"}
INSTRUCTION_TEMPLATE = "<instruction>{request}</instruction>{answer}"
NEAR_DUPLICATE_THRESHOLD = 0.5  # Jaccard similarity of word 5-gram sets
SHINGLE_SIZE = 5
SPLIT_SHARES = {"train": 0.7, "validation": 0.15, "test": 0.15}
LABELLED = ("assin2", "hatebr", "faquad_nli")

# A line that looks like a mistyped separator: a run of 3+ '=' or of 4+ '-' (maybe with
# spaces around). A '---' line is allowed: it is a Markdown horizontal rule inside a text.
_SEPARATOR_LIKE = re.compile(r"^\s*(={3,}|-{4,})\s*$")
_INSTRUCTION_TAGS = re.compile(r"</?instruction>")


class CorpusSourceError(DataError):
    """Problems found in the corpus sources; ``issues`` lists each one."""

    def __init__(self, issues: list[str]):
        self.issues = issues
        shown = "\n  - ".join(issues[:50])
        more = f"\n  ... and {len(issues) - 50} more" if len(issues) > 50 else ""
        super().__init__(
            f"{len(issues)} problem(s) in the corpus sources; nothing was written. Fix them "
            f"(or run with --skip-bad to leave the bad documents out):\n  - {shown}{more}")


# --------------------------------------------------------------------------- sources

def _load_yaml(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path} is missing; restore it with git (it is a source of the sample).")
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --------------------------------------------------------------------------- corpus

@dataclass
class SourceDocument:
    file: str      # file name, e.g. "ciencia.txt"
    index: int     # 1-based position of the document in its file
    line: int      # line where the document starts
    kind: str
    text: str      # the text as shipped (instruction documents already formatted)

    @property
    def where(self) -> str:
        return f"{self.file}, document {self.index} (line {self.line})"


def strip_instruction_tags(text: str) -> str:
    """Request and answer of an instruction document joined by a newline (for language id)."""
    return _INSTRUCTION_TAGS.sub("\n", text).strip()


def corpus_folders(language: str = "pt") -> tuple[str, str]:
    """(sources folder, output folder) under ``data/`` for ``language``: corpus/ for pt, corpus-<code>/ else."""
    if language not in INSTRUCTION_PREFIXES:
        raise DataError(f"no corpus sources are known for language {language!r}; add its instruction-file "
                        f"prefix to INSTRUCTION_PREFIXES in tools/build_sample.py (known: "
                        f"{sorted(INSTRUCTION_PREFIXES)})")
    name = "corpus" if language == "pt" else f"corpus-{language}"
    return f"sources/{name}", name


def parse_corpus_file(path: Path, instruction_prefix: str = INSTRUCTION_PREFIX
                      ) -> tuple[list[SourceDocument], list[str]]:
    """Documents of one source file, and the problems found in it."""
    kind = path.stem
    is_instruction = kind.startswith(instruction_prefix)
    issues: list[str] = []
    raw = path.read_text(encoding="utf-8")
    raw = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    chunks: list[tuple[int, list[str]]] = [(1, [])]
    for number, line in enumerate(raw.split("\n"), start=1):
        if line.strip() == DOC_SEPARATOR:
            chunks.append((number + 1, []))
        else:
            chunks[-1][1].append(line)
    # A separator as the first or last line of the file is harmless: drop those empty ends.
    if chunks and not "\n".join(chunks[0][1]).strip():
        chunks = chunks[1:]
    if chunks and not "\n".join(chunks[-1][1]).strip():
        chunks = chunks[:-1]
    documents = []
    for index, (start, lines) in enumerate(chunks, start=1):
        where = f"{path.name}, document {index} (line {start})"
        body = "\n".join(lines).strip()
        if not body:
            issues.append(f"{where}: empty document (two '{DOC_SEPARATOR}' lines in a row?); "
                          "remove the extra separator")
            continue
        separators = [i for i, line in enumerate(lines) if line.strip() == INSTRUCTION_SEPARATOR]
        stray = [start + i for i, line in enumerate(lines)
                 if _SEPARATOR_LIKE.match(line) and line.strip() != INSTRUCTION_SEPARATOR]
        for line_number in stray:
            issues.append(f"{where}: stray separator-like line {line_number} "
                          f"({lines[line_number - start].strip()!r}); documents are separated by a "
                          f"line that is exactly '{DOC_SEPARATOR}'")
        if is_instruction:
            if len(separators) != 1:
                issues.append(f"{where}: an instruction document needs exactly one "
                              f"'{INSTRUCTION_SEPARATOR}' line between request and answer, "
                              f"found {len(separators)}")
                continue
            cut = separators[0]
            request = "\n".join(lines[:cut]).strip()
            answer = "\n".join(lines[cut + 1:]).strip()
            if not request or not answer:
                issues.append(f"{where}: the {'request' if not request else 'answer'} is empty")
                continue
            text = INSTRUCTION_TEMPLATE.format(request=request, answer=answer)
        else:
            if separators:
                issues.append(f"{where}: stray '{INSTRUCTION_SEPARATOR}' line {start + separators[0]} "
                              f"in a prose file (only {instruction_prefix}*.txt files hold "
                              "request/answer pairs)")
                continue
            text = body
        if stray:
            continue
        documents.append(SourceDocument(path.name, index, start, kind, text))
    return documents, issues


def find_duplicates(documents: list[SourceDocument],
                    threshold: float = NEAR_DUPLICATE_THRESHOLD) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity), i < j, of exact or near duplicates among ``documents``.

    Exact: the same words in the same order. Near: Jaccard similarity of word 5-gram
    sets >= ``threshold``; candidates come from MinHash LSH (datasketch) and are then
    confirmed with the exact Jaccard similarity, so no reported pair is a false alarm.
    """
    from datasketch import MinHash, MinHashLSH

    pairs: dict[tuple[int, int], float] = {}
    seen: dict[str, int] = {}
    for i, doc in enumerate(documents):
        key = " ".join(words(doc.text))
        if key in seen:
            pairs[(seen[key], i)] = 1.0
        else:
            seen[key] = i
    sets = [set(shingles(_INSTRUCTION_TAGS.sub(" ", doc.text), SHINGLE_SIZE)) for doc in documents]
    # LSH at a lower threshold than the one we report, so that few true pairs are missed.
    lsh = MinHashLSH(threshold=max(0.2, threshold - 0.2), num_perm=128)
    for i, shingle_set in enumerate(sets):
        signature = MinHash(num_perm=128, seed=1)
        signature.update_batch([s.encode("utf-8") for s in shingle_set])
        for j in lsh.query(signature):
            if (j, i) not in pairs:
                similarity = jaccard(sets[i], sets[j])
                if similarity >= threshold:
                    pairs[(j, i)] = similarity
        lsh.insert(i, signature)
    return sorted((i, j, s) for (i, j), s in pairs.items())


def collect_corpus(source_dir: Path | None = None, skip_bad: bool = False,
                   threshold: float = NEAR_DUPLICATE_THRESHOLD,
                   language: str = "pt") -> tuple[list[SourceDocument], list[str]]:
    """Parse and validate every ``*.txt`` in the corpus sources (sorted by name).

    Returns the documents and the problems found. With ``skip_bad`` the documents with
    problems (and the later copy of each duplicate) are left out; otherwise any problem
    raises :class:`CorpusSourceError`.
    """
    source_dir = source_dir or data_dir() / corpus_folders(language)[0]
    prefix = INSTRUCTION_PREFIXES.get(language, INSTRUCTION_PREFIX)
    files = sorted(source_dir.glob("*.txt")) if source_dir.is_dir() else []
    if not files:
        raise DataError(f"no corpus sources (*.txt) in {source_dir}; add some, each document "
                        f"separated by a line '{DOC_SEPARATOR}'.")
    documents: list[SourceDocument] = []
    issues: list[str] = []
    for path in files:
        docs, problems = parse_corpus_file(path, prefix)
        documents += docs
        issues += problems
        if not docs and not problems:
            issues.append(f"{path.name}: no documents in this file")
    dropped = set()
    for i, j, similarity in find_duplicates(documents, threshold):
        label = "exact duplicate" if similarity == 1.0 else f"near duplicate (Jaccard {similarity:.2f})"
        issues.append(f"{documents[j].where} is an {label} of {documents[i].where}; "
                      "rewrite or remove one of them")
        dropped.add(j)
    if issues and not skip_bad:
        raise CorpusSourceError(issues)
    documents = [d for k, d in enumerate(documents) if k not in dropped]
    return documents, issues


def corpus_rows(documents: list[SourceDocument]) -> list[dict[str, str]]:
    """Pt-Corpus-Instruct-shaped rows: ``text`` and a JSON-encoded ``metadata`` string."""
    rows, per_kind = [], Counter()
    for doc in documents:
        per_kind[doc.kind] += 1
        metadata = {"source": "ttl-sample", "kind": doc.kind, "id": f"{doc.kind}-{per_kind[doc.kind]:05d}"}
        rows.append({"text": doc.text, "metadata": json.dumps(metadata, ensure_ascii=False)})
    return rows


def build_corpus(root: Path | None = None, skip_bad: bool = False,
                 language: str = "pt") -> tuple[Path, int, list[str]]:
    """Write ``data/corpus/sample.jsonl`` (``data/corpus-<code>/`` for another language);
    returns (path, number of documents, issues)."""
    root = root or data_dir()
    sources, output = corpus_folders(language)
    documents, issues = collect_corpus(root / sources, skip_bad=skip_bad, language=language)
    out = root / output / "sample.jsonl"
    count = atomic_write_jsonl(out, corpus_rows(documents))
    return out, count, issues


# --------------------------------------------------------------------------- splitting

def _split_sizes(n: int) -> dict[str, int]:
    val = round(n * SPLIT_SHARES["validation"])
    test = round(n * SPLIT_SHARES["test"])
    return {"train": n - val - test, "validation": val, "test": test}


def _assign_groups(groups: list, rng: random.Random) -> dict[str, list]:
    """Shuffle groups and cut them 70/15/15 into the three splits."""
    groups = list(groups)
    rng.shuffle(groups)
    sizes = _split_sizes(len(groups))
    out, start = {}, 0
    for split in ("train", "validation", "test"):
        out[split] = groups[start:start + sizes[split]]
        start += sizes[split]
    return out


# --------------------------------------------------------------------------- Assin2

def _sentence(subject: str, plural: bool, vp: str, place: str | None = None, negated: bool = False) -> str:
    verb = "estão" if plural else "está"
    text = f"{subject}{' não' if negated else ''} {verb} {vp}"
    return f"{text} {place}." if place else f"{text}."


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


def _bound(place: str) -> bool:
    """Whether a trailing detail modifies the object ("uma porta *do quarto*") rather than
    the scene; such details only fit sentences that keep the premise's own verb phrase."""
    return place.startswith(("de ", "da ", "do ", "das ", "dos ")) or place in ("baixa", "rolante do shopping")


def _compatible(subject: dict, action: dict) -> bool:
    return action["kind"] == "any" or action["kind"] == subject["kind"]


def _places(subject: dict, action: dict) -> list[str]:
    if subject["kind"] == "animal" and action.get("animal_places"):
        return action["animal_places"]
    return action["places"]


def _assin2_candidates(subject: dict, action: dict, place: str, parts: dict,
                       rng: random.Random) -> dict[int, list[tuple[str, str, tuple[float, float], float]]]:
    """Candidate hypotheses for one premise: label -> [(kind, sentence, score range, weight)]."""
    np_, plural, vp = subject["np"], subject["plural"], action["vp"]
    # Sentences with another verb phrase keep the place only when it fits any verb.
    free_place = None if _bound(place) or place in (action.get("tied") or []) else place
    keep_place = lambda: free_place if rng.random() < 0.5 else None  # noqa: E731
    ent, none = [], []
    ent.append(("drop_detail", _sentence(np_, plural, vp), (4.3, 5.0), 1.0))
    if subject.get("general"):
        g_np, g_plural = subject["general"]
        ent.append(("general_subject", _sentence(g_np, g_plural, vp, keep_place()), (3.8, 4.7), 1.0))
        for g_vp in action.get("general") or []:
            ent.append(("general_both", _sentence(g_np, g_plural, g_vp), (3.2, 4.2), 0.3))
    for g_vp in action.get("general") or []:
        ent.append(("general_action", _sentence(np_, plural, g_vp, keep_place()), (3.5, 4.5), 0.6))
    for p_vp in action.get("para") or []:
        ent.append(("paraphrase", _sentence(np_, plural, p_vp, free_place), (4.2, 5.0), 0.8))
    if action.get("passive"):
        ent.append(("passive", action["passive"].format(agent=_lower_first(np_)) + ".", (4.0, 4.9), 1.0))

    none.append(("negation", _sentence(np_, plural, vp, place, negated=True), (3.4, 4.4), 0.6))
    none.append(("nobody", _sentence("Ninguém", False, vp, place), (3.2, 4.2), 0.2))
    count, _, rest = np_.partition(" ")
    if count in _OTHER_COUNT:  # "Dois homens" -> "Três homens": one word, another claim
        none.append(("other_count", _sentence(f"{_OTHER_COUNT[count]} {rest}", plural, vp, place), (3.6, 4.4), 0.8))
    for alt in action.get("alt") or []:
        none.append(("other_object", _sentence(np_, plural, alt, free_place), (2.6, 3.8), 0.5))
    for spec in subject.get("specific") or []:
        none.append(("added_detail", _sentence(spec, plural, vp, place), (3.8, 4.6), 0.6))
    general_np = (subject.get("general") or [None])[0]
    others = [s for s in parts["subjects"] if s["base"] != subject["base"] and s["np"] != general_np
              and _compatible(s, action) and s["kind"] == subject["kind"]]
    for other in rng.sample(others, min(2, len(others))):
        none.append(("other_subject", _sentence(other["np"], other["plural"], vp, place), (2.8, 3.8), 0.5))
    other_places = [p for p in _places(subject, action) if p != place]
    for p2 in other_places[:2]:
        none.append(("other_place", _sentence(np_, plural, vp, p2), (3.2, 4.2), 0.5))
    actions = [a for a in parts["actions"] if a["vp"] != vp and _compatible(subject, a)]
    other_action = rng.choice(actions)
    none.append(("other_action", _sentence(np_, plural, other_action["vp"],
                                           rng.choice(_places(subject, other_action))), (1.8, 2.8), 0.4))
    stranger = rng.choice([s for s in parts["subjects"] if s["base"] != subject["base"]])
    far_actions = [a for a in parts["actions"] if a["vp"] != vp and _compatible(stranger, a)]
    far = rng.choice(far_actions)
    none.append(("unrelated", _sentence(stranger["np"], stranger["plural"], far["vp"],
                                        rng.choice(_places(stranger, far))), (1.0, 2.0), 0.3))
    return {1: ent, 0: none}


_OTHER_COUNT = {"Dois": "Três", "Duas": "Três", "Três": "Duas"}


def _person(subject: dict) -> dict | None:
    """A singular human subject as a participant of an interaction: its phrase in object
    position and its gender (from the article), or None when it cannot be one."""
    article = subject["np"].split(" ", 1)[0]
    if subject["kind"] != "human" or subject["plural"] or article not in ("Um", "Uma"):
        return None
    return {"np": subject["np"], "obj": _lower_first(subject["np"]), "base": subject["base"],
            "ending": "o" if article == "Um" else "a", "general": subject.get("general")}


def _interaction_candidates(agent: dict, patient: dict, verb: dict
                            ) -> dict[int, list[tuple[str, str, tuple[float, float], float]]]:
    """Hypotheses for "<agent> está <prog> <patient>.": the near misses of who did what to whom."""
    prog, part = verb["prog"], verb["part"]
    ent = [("passive", f"{patient['np']} está sendo {part}{patient['ending']} por {agent['obj']}.",
            (4.3, 5.0), 1.0)]
    if agent["general"] and not agent["general"][1]:
        ent.append(("general_subject", f"{agent['general'][0]} está {prog} {patient['obj']}.", (3.8, 4.7), 1.0))
    none = [("swapped_roles", f"{patient['np']} está {prog} {agent['obj']}.", (3.6, 4.5), 1.0),
            ("swapped_passive", f"{agent['np']} está sendo {part}{agent['ending']} por {patient['obj']}.",
             (3.5, 4.4), 1.0),
            ("negation", f"{agent['np']} não está {prog} {patient['obj']}.", (3.4, 4.4), 0.4)]
    return {1: ent, 0: none}


def build_assin2(root: Path | None = None, n_premises: int = 300, per_label: int = 2,
                 seed: int = SEED, n_interactions: int = 80) -> dict[str, list[dict]]:
    """Compose Assin2-shaped pairs; every premise gets ``per_label`` hypotheses of each label.

    Premises are assigned to splits first; a hypothesis whose sentence already belongs
    to another split is replaced by another candidate, so no sentence crosses splits.
    """
    root = root or data_dir()
    parts = _load_yaml(root / "sources" / "assin2" / "scenes.yaml")
    rng = random.Random(seed)
    combos = [(si, ai, place) for si, s in enumerate(parts["subjects"])
              for ai, a in enumerate(parts["actions"]) if _compatible(s, a)
              for place in _places(s, a)]
    rng.shuffle(combos)
    chosen, used_pairs, seen = [], Counter(), set()
    for si, ai, place in combos:  # each subject/action pair at most once, for variety
        if used_pairs[(si, ai)] or len(chosen) >= n_premises:
            continue
        premise = _sentence(parts["subjects"][si]["np"], parts["subjects"][si]["plural"],
                            parts["actions"][ai]["vp"], place)
        if premise in seen:
            continue
        seen.add(premise)
        used_pairs[(si, ai)] += 1
        chosen.append((si, ai, place, premise))
    # Interactions: each premise a (agent, patient, verb) of two different people, a pair of
    # people at most once (so the swapped sentence of one premise is never another's premise).
    people = [p for p in map(_person, parts["subjects"]) if p is not None]
    triples = [(a, b, v) for a in range(len(people)) for b in range(len(people))
               if people[a]["base"] != people[b]["base"] for v in range(len(parts["interactions"]))]
    rng.shuffle(triples)
    used_people: set[frozenset] = set()
    for a, b, v in triples:
        if len(chosen) >= n_premises + n_interactions:
            break
        if frozenset((a, b)) in used_people:
            continue
        used_people.add(frozenset((a, b)))
        premise = f"{people[a]['np']} está {parts['interactions'][v]['prog']} {people[b]['obj']}."
        chosen.append(("interaction", (a, b), v, premise))
    by_split = _assign_groups(chosen, rng)
    owner = {premise: split for split, items in by_split.items() for *_, premise in items}
    out: dict[str, list[dict]] = {split: [] for split in by_split}
    next_id = 1
    for split in ("train", "validation", "test"):
        for si, ai, place, premise in by_split[split]:
            if si == "interaction":
                candidates = _interaction_candidates(people[ai[0]], people[ai[1]], parts["interactions"][place])
            else:
                candidates = _assin2_candidates(parts["subjects"][si], parts["actions"][ai], place, parts, rng)
            picked: list[tuple[int, str, float]] = []
            for label in (1, 0):
                pool = [c for c in candidates[label] if owner.get(c[1], split) == split and c[1] != premise]
                pool = list({c[1]: c for c in pool}.values())  # one entry per sentence
                for _ in range(per_label):
                    if not pool:
                        break
                    kind, sentence, (low, high), _w = c = rng.choices(pool, weights=[p[3] for p in pool])[0]
                    pool.remove(c)
                    picked.append((label, sentence, round(rng.uniform(low, high), 1)))
            if sum(1 for p in picked if p[0] == 1) != per_label or len(picked) != 2 * per_label:
                continue  # keep every premise balanced; rare
            rng.shuffle(picked)
            for label, hypothesis, score in picked:
                owner[hypothesis] = split
                out[split].append({"sentence_pair_id": next_id, "premise": premise,
                                   "hypothesis": hypothesis, "relatedness_score": score,
                                   "entailment_judgment": label})
                next_id += 1
    return out


# --------------------------------------------------------------------------- HateBR

_CONTRACTIONS = {"de": {"o": "do", "a": "da", "os": "dos", "as": "das"},
                 "por": {"o": "pelo", "a": "pela", "os": "pelos", "as": "pelas"},
                 "em": {"o": "no", "a": "na", "os": "nos", "as": "nas"},
                 "a": {"o": "ao", "a": "à", "os": "aos", "as": "às"},
                 "pra": {"o": "pro", "a": "pra", "os": "pros", "as": "pras"}}
_INFORMAL = [(r"\bvocê\b", "vc"), (r"\bporque\b", "pq"), (r"\btambém\b", "tb"),
             (r"\bpara\b", "pra"), (r"\bque\b", "q"), (r"\bnão\b", "n")]


def _fill_comment(template: str, alvo: str, tema: str, emoji: str) -> str:
    """Fill a comment template, contracting prepositions with the article of ``tema``."""
    article, rest = tema.split(" ", 1)

    def contract(match: re.Match) -> str:
        prep = match.group(1)
        joined = _CONTRACTIONS[prep.lower()][article]
        return (joined[0].upper() + joined[1:] if prep[0].isupper() else joined) + " " + rest

    text = re.sub(r"\b(de|por|em|a|pra|De|Por|Em|A|Pra) \{tema\}", contract, template)
    text = text.replace("{tema}", tema).replace("{e}", emoji)
    text = text.replace("{alvo}", alvo)
    text = text[0].upper() + text[1:]
    return re.sub(r"\s+", " ", text).strip()


def _informal(text: str, rng: random.Random, level: int) -> str:
    """Spelling of social media, applied to every class at random."""
    for pattern, short in _INFORMAL:
        if rng.random() < 0.35:
            text = re.sub(pattern, short, text)
    roll = rng.random()
    if roll < 0.25:
        text = text.lower()
    elif roll < (0.45 if level == 3 else 0.3):
        text = text.upper()
    if rng.random() < 0.12:
        text += " " + "k" * rng.randint(4, 9)
    return text


# The template lists of data/sources/hatebr/comments.yaml: (list, level, share of its class).
HATEBR_OFFENSIVE = (("nivel_1", 1, 0.2), ("sarcasmo", 1, 0.15), ("nivel_2", 2, 0.25),
                    ("insultos_sem_palavrao", 2, 0.15), ("nivel_3", 3, 0.25))
HATEBR_CIVIL = (("criticas", 0, 0.2), ("critica_dura", 0, 0.2), ("palavrao_sem_ofensa", 0, 0.15),
                ("ofensa_citada", 0, 0.15), ("neutros", 0, 0.15), ("apoios", 0, 0.15))


def _shares(total: int, shares: list[float]) -> list[int]:
    """``total`` cut by ``shares`` (rounded; the last part takes the remainder)."""
    counts = [round(total * share) for share in shares[:-1]]
    return counts + [total - sum(counts)]


def build_hatebr(root: Path | None = None, n_per_class: int = 600, seed: int = SEED) -> dict[str, list[dict]]:
    """Compose HateBR-shaped comments: half offensive, half not, each class made of several kinds.

    Every template belongs to one split only (the templates with a ``{tema}`` slot are cut
    70/15/15 per kind; the few with fewer slots stay in train), so a
    classifier is tested on comments whose wording it has never seen, and no kind of comment
    gives its label away by a word, an emoji or a template.
    """
    root = root or data_dir()
    parts = _load_yaml(root / "sources" / "hatebr" / "comments.yaml")
    rng = random.Random(seed + 1)
    kinds = HATEBR_OFFENSIVE + HATEBR_CIVIL
    templates: dict[str, dict[str, list[str]]] = {}
    for name, _level, _share in kinds:
        # Templates with a {tema} make 24 comments or more; they are cut across the splits,
        # and the few that make ten comments or one (an {alvo} only, or no slot) stay in train.
        roomy = [t for t in parts[name] if "{tema}" in t]
        by_split = _assign_groups(roomy, rng)
        by_split["train"] += [t for t in parts[name] if t not in roomy]
        templates[name] = by_split
    seen: set = set()

    def make(split: str, name: str, level: int, count: int) -> list[dict]:
        rows, attempts = [], 0
        while len(rows) < count:
            attempts += 1
            if attempts > count * 200:
                raise DataError(f"HateBR sources cannot make {count} distinct {name!r} comments for "
                                f"{split}; add templates to data/sources/hatebr/comments.yaml")
            emoji = rng.choice(parts["emojis"]) if rng.random() < 0.6 else ""
            template = rng.choice(templates[name][split])
            alvo, tema = rng.choice(parts["alvos"]), rng.choice(parts["temas"])
            # Two comments that differ only in spelling, emoji or laughter count as the same
            # comment: the content (template and slots used) must be new.
            key = (template, alvo if "{alvo}" in template else "", tema if "{tema}" in template else "")
            if key in seen:
                continue
            seen.add(key)
            text = _informal(_fill_comment(template, alvo, tema, emoji), rng, level)
            rows.append({"instagram_comments": text, "offensive_language": level > 0,
                         "offensiveness_levels": level})
        return rows

    out = {}
    for split, size in _split_sizes(n_per_class).items():
        rows = []
        for group in (HATEBR_OFFENSIVE, HATEBR_CIVIL):
            for (name, level, _), count in zip(group, _shares(size, [k[2] for k in group])):
                rows += make(split, name, level, count)
        rng.shuffle(rows)
        out[split] = rows
    return out


# --------------------------------------------------------------------------- FaQuAD-NLI

def _faquad_documents(parts: dict) -> list[dict]:
    """All documents as {title, facts: [{q, a, alt_a?}]} (tables turned into facts)."""
    docs = [dict(title=d["title"], facts=list(d["facts"])) for d in parts["documents"]]
    for p in parts["planets"]:
        np_ = p.get("np", p["name"])
        de = p.get("de", f"de {p['name']}")
        kind = p["type"]
        type_answer = (f"{np_} é um planeta rochoso, com superfície sólida." if kind == "rochoso" else
                       f"{np_} é um gigante gasoso, formado principalmente por hidrogênio e hélio."
                       if kind == "gasoso" else
                       f"{np_} é um gigante de gelo, rico em água, amônia e metano.")
        docs.append({"title": p["name"], "facts": [
            {"q": f"Qual é a posição {de} em relação ao Sol?",
             "a": f"{np_} é o {p['pos']} planeta a partir do Sol."},
            {"q": f"{np_} é um planeta rochoso ou gasoso?", "a": type_answer},
            {"q": p["fq"], "a": p["feature"]},
        ]})
    for e in parts["elements"]:
        de = {"o": "do", "a": "da"}[e["art"]]
        the = e["art"].upper()
        name = e["name"]
        docs.append({"title": name[0].upper() + name[1:], "facts": [
            {"q": f"Qual é o símbolo químico {de} {name}?",
             "a": f"O símbolo químico {de} {name} é {e['sym']}.",
             "alt_a": f"{the} {name} é representad{e['art']} na tabela periódica pelo símbolo {e['sym']}."},
            {"q": f"Qual é o número atômico {de} {name}?",
             "a": f"O número atômico {de} {name} é {e['z']}.",
             "alt_a": f"O núcleo de um átomo {de} {name} tem {e['z']} próton{'s' if e['z'] > 1 else ''}."},
        ], "extra": [e["fam"]]})
    for u in parts["units"]:
        qty = u["qty"]
        docs.append({"title": u["unit"][0].upper() + u["unit"][1:], "facts": [
            {"q": f"Em que unidade do SI se mede {qty}?",
             "a": f"No Sistema Internacional de Unidades, {qty} é medid{qty[0]} em "
                  f"{u['unit'] if u['unit'] == 'hertz' else u['unit'] + 's'}."},
            {"q": f"Qual é o símbolo do {u['unit']}?", "a": f"O símbolo do {u['unit']} é {u['sym']}."},
            {"q": u["xq"], "a": u["extra"]},
        ]})
    return docs


def build_faquad_nli(root: Path | None = None, seed: int = SEED) -> dict[str, list[dict]]:
    """Question/sentence pairs: for each question, its answer (1) and another sentence of
    the same document (0); element questions also get a paraphrased answer and a second
    wrong sentence, so both labels stay equally frequent. Splits are cut by document."""
    root = root or data_dir()
    parts = _load_yaml(root / "sources" / "faquad_nli" / "facts.yaml")
    rng = random.Random(seed + 2)
    docs = _faquad_documents(parts)
    for index, doc in enumerate(docs):
        doc["index"] = index
    by_split = _assign_groups(docs, rng)
    out: dict[str, list[dict]] = {}
    for split, split_docs in by_split.items():
        rows = []
        for doc in sorted(split_docs, key=lambda d: d["index"]):
            facts = doc["facts"]
            for k, fact in enumerate(facts):
                wrong = [f["a"] for j, f in enumerate(facts) if j != k]
                wrong += [f["alt_a"] for j, f in enumerate(facts) if j != k and "alt_a" in f]
                wrong += doc.get("extra", [])
                base = {"document_index": doc["index"], "document_title": doc["title"], "paragraph_index": 0}
                picks = [(fact["a"], 1)]
                if "alt_a" in fact:
                    picks.append((fact["alt_a"], 1))
                for sentence in rng.sample(wrong, len(picks)):
                    picks.append((sentence, 0))
                rng.shuffle(picks)
                rows += [dict(base, question=fact["q"], answer=a, label=label) for a, label in picks]
        out[split] = rows
    return out


# --------------------------------------------------------------------------- orchestration

BUILDERS = {"assin2": build_assin2, "hatebr": build_hatebr, "faquad_nli": build_faquad_nli}


def build_labelled(name: str, root: Path | None = None) -> dict[str, int]:
    """Build one labelled set into ``data/<name>/<split>.jsonl``; returns counts per split."""
    root = root or data_dir()
    splits = BUILDERS[name](root)
    return {split: atomic_write_jsonl(root / name / f"{split}.jsonl", rows) for split, rows in splits.items()}


def corpus_stats(root: Path | None = None, language: str = "pt") -> dict[str, Any]:
    """Size of the shipped corpus and of the labelled sets (what ``--stats`` prints).

    Words are ``\\w+`` tokens, lower-cased; the type/token ratio is distinct words over
    words (instruction tags excluded).
    """
    root = root or data_dir()
    stats: dict[str, Any] = {}
    corpus = root / corpus_folders(language)[1] / "sample.jsonl"
    if language != "pt":  # the labelled sets are Portuguese only: report the corpus alone
        if not corpus.is_file():
            raise DataError(f"{corpus} is missing; build it with `python tools/build_sample.py --language "
                            f"{language}`")
    if corpus.is_file():
        rows = list(read_table(corpus))
        tokens: list[str] = []
        kinds: Counter = Counter()
        for row in rows:
            tokens += words(_INSTRUCTION_TAGS.sub(" ", row["text"]))
            kinds[json.loads(row["metadata"]).get("kind", "?")] += 1
        stats["corpus"] = {
            "file_bytes": corpus.stat().st_size,
            "text_bytes": sum(len(r["text"].encode("utf-8")) for r in rows),
            "documents": len(rows),
            "words": len(tokens),
            "distinct_words": len(set(tokens)),
            "type_token_ratio": round(len(set(tokens)) / max(1, len(tokens)), 4),
            "documents_per_kind": dict(sorted(kinds.items())),
        }
    label_columns = {"assin2": "entailment_judgment", "hatebr": "offensive_language", "faquad_nli": "label"}
    if language != "pt":
        return stats
    for name, column in label_columns.items():
        entry = {}
        for split in ("train", "validation", "test"):
            path = root / name / f"{split}.jsonl"
            if path.is_file():
                rows = list(read_table(path))
                positive = sum(1 for r in rows if r[column] in (1, True))
                entry[split] = {"rows": len(rows), "positive_share": round(positive / max(1, len(rows)), 3)}
        stats[name] = entry
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_sample.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("corpus", *LABELLED), action="append",
                        help="build only this part (repeatable); default: everything")
    parser.add_argument("--check", action="store_true", help="validate the corpus sources, write nothing")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out documents with problems instead of stopping")
    parser.add_argument("--stats", action="store_true", help="print sizes and counts of the shipped sample")
    parser.add_argument("--language", default="pt", choices=sorted(INSTRUCTION_PREFIXES),
                        help="language of the corpus sample (default pt; another language builds only "
                             "data/corpus-<code>/sample.jsonl from data/sources/corpus-<code>/)")
    args = parser.parse_args(argv)
    try:
        if args.language != "pt" and args.only and args.only != ["corpus"]:
            raise DataError(f"the labelled sets are Portuguese only; --language {args.language} builds the "
                            "corpus alone (drop --only, or use --only corpus)")
        if args.stats:
            print(json.dumps(corpus_stats(language=args.language), ensure_ascii=False, indent=2))
            return 0
        if args.check:
            documents, issues = collect_corpus(skip_bad=True, language=args.language)
            for issue in issues:
                print("problem:", issue)
            print(f"{len(documents)} usable documents, {len(issues)} problem(s)")
            return 1 if issues else 0
        parts = args.only or (("corpus", *LABELLED) if args.language == "pt" else ("corpus",))
        for part in parts:
            if part == "corpus":
                path, count, issues = build_corpus(skip_bad=args.skip_bad, language=args.language)
                for issue in issues:
                    print("skipped:", issue)
                print(f"corpus: {count} documents -> {path}")
            else:
                print(f"{part}: {build_labelled(part)}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
