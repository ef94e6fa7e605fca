"""Word lists shipped with the package (``ttl/data/resources/``): stop words and toxic terms per language."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ttl.config import ConfigError


def _resource_path(filename: str):
    return resources.files("ttl") / "data" / "resources" / filename


def read_word_list(kind: str, language: str, path: str | Path | None = None) -> list[str]:
    """Lines of ``<kind>-<language>.txt`` (or of ``path``), without comments (#) and blanks, lowercased."""
    if path is not None:
        source = Path(path).expanduser()
        if not source.is_file():
            raise ConfigError(f"{kind} list {source} does not exist")
        text = source.read_text(encoding="utf-8")
    else:
        source = _resource_path(f"{kind}-{language}.txt")
        if not source.is_file():
            shipped = sorted(p.name for p in (resources.files("ttl") / "data" / "resources").iterdir()
                             if p.name.startswith(kind + "-"))
            raise ConfigError(f"no {kind} list for language {language!r} in the package (shipped: {shipped}); "
                              f"give one with the step's '{kind}_file' key, or switch the check off in the config")
        text = source.read_text(encoding="utf-8")
    words = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            words.append(line)
    return words


def default_config_path() -> Path:
    """The default curation pipeline (``curation.yaml``) shipped with the package."""
    return Path(str(_resource_path("curation.yaml")))
