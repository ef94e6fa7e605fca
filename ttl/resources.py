"""Language resources: everything language-specific that ``ttl`` uses, one folder per language.

``ttl/data/resources/<code>/`` (``code`` is ``data.language`` in the profile) holds

* ``stopwords.txt``   function words (the quality step's stop-word ratio rule);
* ``toxicity.txt``    toxic terms (the toxicity step's word list);
* ``boilerplate.txt`` regular expressions of boilerplate lines (the line_filter step);
* ``pii.yaml``        which personal-data detectors the pii step runs, and their placeholders;
* ``prompts.yaml``    answer words and labels of the few-shot prompts, the model card's widget prompts.

Patterns that need no language (the copyright sign, "cookie") live in
``ttl/data/resources/shared/``. Running the course on another language means adding its
folder; a language without one still runs, with the generic steps only, and
:func:`missing_warning` says which files would complete it.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources as _resources
from typing import Any

import yaml

from ttl.config import ConfigError

FILES = ("stopwords.txt", "toxicity.txt", "boilerplate.txt", "pii.yaml", "prompts.yaml")
SHARED = "shared"
PROMPT_KEYS = ("answer_yes", "answer_no", "question", "answer", "text", "widget")
# What each file is for, in the warning about a missing one.
_USES = {"stopwords.txt": "the quality step's stop-word rule is skipped (or set quality.stopwords_file)",
         "toxicity.txt": "the toxicity word list is empty (or set toxicity.words_file)",
         "boilerplate.txt": "only the shared boilerplate patterns apply (or set line_filter.patterns)",
         "pii.yaml": "only e-mail addresses are masked",
         "prompts.yaml": "the model card has no widget prompts"}


def resources_root():
    """The folder of the shipped resources (``ttl/data/resources``), as an importlib Traversable."""
    return _resources.files("ttl") / "data" / "resources"


def shipped_languages() -> list[str]:
    """Codes of the language folders shipped with the package."""
    return sorted(p.name for p in resources_root().iterdir() if p.is_dir() and p.name != SHARED
                  and not p.name.startswith(("_", ".")))


def read_lines(text: str, lower: bool = True) -> list[str]:
    """Non-blank lines of a list file; ``#`` starts a comment (in word lists anywhere, so a word has none)."""
    out = []
    for line in text.splitlines():
        line = (line.split("#", 1)[0] if lower else ("" if line.lstrip().startswith("#") else line)).strip()
        if line:
            out.append(line.lower() if lower else line)
    return out


def _read_patterns(text: str, source: str) -> list[str]:
    # A regular expression may hold '#' (a character class), so only whole-line comments count.
    patterns = read_lines(text, lower=False)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ConfigError(f"{source}: invalid regular expression {p!r}: {exc}") from exc
    return patterns


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a YAML mapping")
    return raw


@dataclass
class LanguageResources:
    """The lists and rules of one language; None (and a name in ``missing``) for a file it lacks."""

    code: str
    stopwords: list[str] | None = None
    toxicity: list[str] | None = None
    boilerplate: list[str] | None = None          # the language's own patterns, without the shared ones
    pii: dict[str, Any] | None = None             # {"detectors": [...], "placeholders": {...}}
    prompts: dict[str, Any] | None = None
    shared_boilerplate: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def boilerplate_patterns(self) -> list[str]:
        """The line_filter's default patterns: the shared ones, then the language's."""
        return self.shared_boilerplate + (self.boilerplate or [])

    def prompt(self, key: str) -> Any:
        """One entry of ``prompts.yaml``; a clear error when the language has none."""
        if self.prompts is None or key not in self.prompts:
            raise ConfigError(f"language {self.code!r} has no prompt word {key!r}: add it to "
                              f"ttl/data/resources/{self.code}/prompts.yaml (keys: {list(PROMPT_KEYS)})")
        return self.prompts[key]

    def missing_message(self) -> str | None:
        """What this language lacks and how to add it, in one sentence per file; None when complete."""
        if not self.missing:
            return None
        parts = [f"add ttl/data/resources/{self.code}/{name} ({_USES[name]})" for name in self.missing]
        return (f"language {self.code!r} lacks {', '.join(self.missing)}; the generic steps run without them. "
                f"To complete it (copy the layout of ttl/data/resources/pt/): " + "; ".join(parts))


def language_resources(code: str) -> LanguageResources:
    """The resources of language ``code`` read from its folder (a missing folder: all missing)."""
    return copy.deepcopy(_load(code))  # a copy: a caller may edit its lists


@functools.lru_cache(maxsize=None)
def _load(code: str) -> LanguageResources:
    if not isinstance(code, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)?", code):
        raise ConfigError(f"language code must be an ISO 639 code such as 'pt' or 'es', got {code!r}")
    root = resources_root()
    shared = root / SHARED / "boilerplate.txt"
    res = LanguageResources(code, shared_boilerplate=_read_patterns(shared.read_text(encoding="utf-8"),
                                                                    "shared/boilerplate.txt")
                            if shared.is_file() else [])
    folder = root / code
    for name in FILES:
        path = folder / name
        if not path.is_file():
            res.missing.append(name)
            continue
        text, source = path.read_text(encoding="utf-8"), f"ttl/data/resources/{code}/{name}"
        if name == "stopwords.txt":
            res.stopwords = read_lines(text)
        elif name == "toxicity.txt":
            res.toxicity = read_lines(text)
        elif name == "boilerplate.txt":
            res.boilerplate = _read_patterns(text, source)
        elif name == "pii.yaml":
            res.pii = _read_pii(_read_yaml(text, source), source)
        else:
            res.prompts = _read_yaml(text, source)
            unknown = set(res.prompts) - set(PROMPT_KEYS)
            if unknown:
                raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}; known: {list(PROMPT_KEYS)}")
    return res


def _read_pii(raw: dict[str, Any], source: str) -> dict[str, Any]:
    # The detector names are checked by the pii step (ttl.data.curate.pii.DETECTORS), which
    # holds the code; reading them here stays free of the curation modules (tasks use this too).
    detectors = raw.get("detectors") or []
    if not isinstance(detectors, list) or not all(isinstance(d, str) for d in detectors):
        raise ConfigError(f"{source}: 'detectors' must be a list of names, got {detectors!r}")
    placeholders = dict(raw.get("placeholders") or {})
    return {"detectors": list(detectors), "placeholders": placeholders}


def missing_warning(res: LanguageResources, stacklevel: int = 3) -> None:
    """Warn once (for this call) that ``res`` lacks files, listing them and how to add them."""
    message = res.missing_message()
    if message:
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
