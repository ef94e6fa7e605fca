"""Word lists of the curation steps, read from the language folders (``ttl/data/resources/<code>/``).

The meaning of the folders lives in :mod:`ttl.resources`; this module keeps the curation
steps' way of asking for one list (with a file of the user's own instead, if given).
"""

from __future__ import annotations

from pathlib import Path

from ttl.config import ConfigError
from ttl.resources import language_resources, read_lines, resources_root


def read_word_list(kind: str, language: str, path: str | Path | None = None) -> list[str] | None:
    """Lines of ``<language>/<kind>.txt`` (or of ``path``), without comments (#) and blanks, lowercased.

    None when the language has no such list (the caller skips what needs it; the pipeline
    warns once about everything a language lacks).
    """
    if path is not None:
        source = Path(path).expanduser()
        if not source.is_file():
            raise ConfigError(f"{kind} list {source} does not exist")
        return read_lines(source.read_text(encoding="utf-8"))
    if kind not in ("stopwords", "toxicity"):
        raise ValueError(f"unknown word list {kind!r}: 'stopwords' or 'toxicity'")
    return getattr(language_resources(language), kind)


def default_config_path() -> Path:
    """The default curation pipeline (``curation.yaml``) shipped with the package."""
    return Path(str(resources_root() / "curation.yaml"))
