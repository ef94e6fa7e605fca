"""Language identification: keep documents in the target language.

The default model is py3langid (a fast numpy port of langid.py, whose model
ships inside the package, so nothing is downloaded). Point ``fasttext_model``
at a local ``lid.176.bin`` to use fastText instead, as many web corpora do; the
``fasttext`` package is then imported only when needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttl.config import ConfigError

from .base import Step


@dataclass
class LanguageFilter(Step):
    """Remove documents whose predicted language is not ``language`` with probability >= ``min_prob``."""

    language: str = "pt"
    min_prob: float = 0.65
    # Classify only the first characters: the language of a page is settled long before its end.
    max_chars: int = 3000
    fasttext_model: str | None = None

    name = "language"

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_prob <= 1.0:
            raise ConfigError(f"language.min_prob must be between 0 and 1, got {self.min_prob}")
        self._model = None

    # The model is built lazily so the step pickles cheaply to worker processes.
    def _load(self):
        if self._model is not None:
            return self._model
        if self.fasttext_model:
            path = Path(self.fasttext_model).expanduser()
            if not path.is_file():
                raise ConfigError(f"language.fasttext_model: {path} does not exist; download lid.176.bin "
                                  "or remove the key to use py3langid")
            try:
                import fasttext  # optional dependency
            except ImportError as exc:
                raise ConfigError("language.fasttext_model is set but the 'fasttext' package is not "
                                  "installed: pip install fasttext-wheel (or remove the key)") from exc
            self._model = ("fasttext", fasttext.load_model(str(path)))
        else:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
            self._model = ("langid", LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return self._model

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely language code and its probability."""
        kind, model = self._load()
        sample = text[: self.max_chars]
        if kind == "fasttext":
            labels, probs = model.predict(sample.replace("\n", " "), k=1)
            return labels[0].replace("__label__", ""), float(probs[0])
        lang, prob = model.classify(sample)
        return lang, float(prob)

    def process(self, doc: dict[str, Any]) -> str | None:
        lang, prob = self.predict(doc["text"])
        if lang != self.language:
            return f"lang_{lang}"
        if prob < self.min_prob:
            return "low_lang_confidence"
        return None
