"""Language identification: keep documents in the target language.

The default model is py3langid (a fast numpy port of langid.py, whose model
ships inside the package, so nothing is downloaded). Point ``fasttext_model``
at a local ``lid.176.bin`` to use fastText instead, as many web corpora do; the
``fasttext`` package is then imported only when needed.

Speed. py3langid reads the text byte by byte through a finite automaton (one Python
loop step per byte) to count its byte n-gram features, and that loop was the slowest
part of the whole pipeline. :class:`FastLangid` counts the same features with a few
numpy operations and gives exactly py3langid's language and probability (the tests
compare the two). It rests on one property of the model's automaton: it is *6-definite*,
i.e. the state it is in after a byte depends only on the last 6 bytes read, never on
what came before them (checked once, exhaustively, by following the sets of states
every possible byte string leads to until all became single states: see
``FastLangid.DEFINITE``). So the state after each byte can be computed for all bytes at
once, as 6 table lookups over the whole array. For a model not known to have the
property (another py3langid version), py3langid's own loop is used.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ttl.config import ConfigError

from .base import Step

_MODELS: dict[Any, Any] = {}  # loaded once per process, shared by every LanguageFilter


class FastLangid:
    """py3langid's ``classify`` (with ``norm_probs=True``), vectorized, with the same results."""

    #: crc32 of a model's transition table -> the depth after which its state forgets the past.
    DEFINITE = {655525188: 6}  # py3langid 0.4's data/model.npz.xz

    def __init__(self, identifier):
        self.identifier = identifier
        nextmove = np.frombuffer(identifier.tk_nextmove, dtype=f"u{identifier.tk_nextmove.itemsize}")
        self.depth = self.DEFINITE.get(zlib.crc32(memoryview(identifier.tk_nextmove).cast("B")))
        if self.depth is None or not identifier._norm_probs:
            return
        rowbase = np.frombuffer(identifier.tk_row, dtype=f"u{identifier.tk_row.itemsize}").astype(np.uint32) << 8
        out = np.asarray(identifier.tk_output, dtype=np.int32)
        # Tables indexed by (row of the current state) * 256 + byte: the row of the next state,
        # and the feature the next state emits (-1 for none).
        self.next_row = rowbase[nextmove]
        self.next_feature = out[nextmove]
        first = self.next_row[rowbase[0] + np.arange(256, dtype=np.uint32)]
        self.two_bytes = self.next_row[(first[:, None] + np.arange(256, dtype=np.uint32)).ravel()]
        self.start_row = int(rowbase[0])
        # float32 copy of the float16 weights: the same values py3langid multiplies (it converts
        # the rows it uses each time), converted once.
        self.weights = np.asarray(identifier.nb_ptc, dtype=np.float32)

    @property
    def exact(self) -> bool:
        return self.depth is not None and hasattr(self, "weights")

    def features(self, data: bytes) -> np.ndarray:
        """The feature emitted after each byte of ``data`` (-1 where none), as py3langid's walk."""
        n, d = len(data), self.depth
        head = min(n, d - 1)
        emitted = np.empty(n, dtype=np.int32)
        row = self.start_row
        for i in range(head):  # the first bytes: the automaton still remembers the start
            index = row + data[i]
            emitted[i] = self.next_feature[index]
            row = int(self.next_row[index])
        if n >= d:
            b = np.frombuffer(data, dtype=np.uint8).astype(np.uint32)
            k = n - d + 1
            rows = self.two_bytes[(b[:k] << 8) | b[1:k + 1]]
            for j in range(2, d - 1):
                rows = self.next_row[rows + b[j:k + j]]
            emitted[d - 1:] = self.next_feature[rows + b[d - 1:]]
        return emitted

    def classify(self, text: str) -> tuple[str, float]:
        ident = self.identifier
        if not self.exact:
            return ident.classify(text)
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        found = self.features(data)
        found = found[found >= 0]
        if found.size:
            # Features in order of first appearance with their counts: py3langid's Counter order,
            # so the float32 dot product adds the same numbers in the same order.
            uniq, first, counts = np.unique(found, return_index=True, return_counts=True)
            order = np.argsort(first)
            scores = np.log1p(counts[order].astype(np.float32)) @ self.weights[uniq[order]] + ident.nb_pc
        else:
            scores = np.zeros(len(ident.nb_classes), dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in ident._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return ident.nb_classes[best], float(scores[best])


def _py3langid() -> FastLangid:
    if "py3langid" not in _MODELS:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _MODELS["py3langid"] = FastLangid(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _MODELS["py3langid"]


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

    # The model is loaded lazily (so the step pickles cheaply to worker processes) and once per process.
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
            key = ("fasttext", str(path.resolve()))
            if key not in _MODELS:
                _MODELS[key] = fasttext.load_model(str(path))
            self._model = ("fasttext", _MODELS[key])
        else:
            self._model = ("langid", _py3langid())
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
        return model.classify(sample)

    def process(self, doc: dict[str, Any]) -> str | None:
        lang, prob = self.predict(doc["text"])
        if lang != self.language:
            return f"lang_{lang}"
        if prob < self.min_prob:
            return "low_lang_confidence"
        return None
