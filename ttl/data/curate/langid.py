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
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ttl.config import ConfigError

from .base import Step

_MODELS: dict[Any, Any] = {}  # loaded once per process, shared by every LanguageFilter
_NEVER = np.iinfo(np.int32).max  # "not seen yet" in FastLangid's scratch of first positions
# Bytes of text whose features are computed in one pass by FastLangid.classify_many: large
# enough to spread numpy's per-call cost, small enough to stay in memory and in cache.
_BATCH_BYTES = 1 << 20


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
        self._scratch = threading.local()  # see _scratch_arrays
        pairs = identifier._alias_pairs
        heads, dupes = [i for i, _ in pairs], [j for _, j in pairs]
        # Disjoint alias pairs fold in one vectorized step, the same additions as py3langid's loop.
        disjoint = len(set(heads + dupes)) == 2 * len(pairs)
        self._alias = ((np.array(heads, dtype=np.intp), np.array(dupes, dtype=np.intp))
                       if disjoint else None)

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

    def features_many(self, datas: list[bytes]) -> list[np.ndarray]:
        """:meth:`features` of each of ``datas``, computed in one pass over them all.

        The state after a byte depends only on the last ``depth`` bytes, so over the bytes
        joined the state at each position past the first ``depth - 1`` of a text is its own;
        those first few are walked again from the start state, for all the texts at once.
        One pass keeps the automaton's tables in cache and pays numpy's per-call cost once.
        """
        joined = b"".join(datas)
        emitted = self.features(joined) if joined else np.empty(0, dtype=np.int32)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
        bounds = np.zeros(len(datas) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        starts = bounds[:-1]
        b = np.frombuffer(joined, dtype=np.uint8)
        rows = np.full(len(datas), self.start_row, dtype=np.uint32)
        for i in range(self.depth - 1):  # the i-th byte of every text still that long
            live = np.flatnonzero(lengths > i)
            if not live.size:
                break
            rows = rows[live] if live.size < rows.size else rows
            starts, lengths = starts[live], lengths[live]
            index = rows + b[starts + i]
            emitted[starts + i] = self.next_feature[index]
            rows = self.next_row[index]
        return [emitted[a:z] for a, z in zip(bounds[:-1].tolist(), bounds[1:].tolist())]

    def _scratch_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per thread, reused from text to text: the first position of each feature (all
        ``_NEVER`` between texts), its count (read only where just written), and 0..n-1."""
        local = self._scratch
        if not hasattr(local, "first_at"):
            local.first_at = np.full(len(self.weights), _NEVER, dtype=np.int32)
            local.count_of = np.zeros(len(self.weights), dtype=np.int32)
            local.positions = np.arange(0, dtype=np.int32)
        if local.positions.size < n:
            local.positions = np.arange(max(n, 2 * local.positions.size), dtype=np.int32)
        return local.first_at, local.count_of, local.positions[:n]

    def _scores(self, data: bytes, found: np.ndarray) -> np.ndarray:
        """py3langid's normalized scores for a text's encoded bytes and their emitted features."""
        ident = self.identifier
        found = found[found >= 0]
        n = found.size
        if n:
            # Features in order of first appearance with their counts: py3langid's Counter order,
            # so the float32 dot product adds the same numbers in the same order. Found without
            # the stable argsort np.unique needs for first positions (the slow part): the first
            # positions by a minimum into a scratch array, the counts by a plain sort's runs.
            first_at, count_of, positions = self._scratch_arrays(n)
            np.minimum.at(first_at, found, positions)
            in_order = found[first_at[found] == positions]
            first_at[in_order] = _NEVER
            ordered = np.sort(found)
            change = np.ones(n + 1, dtype=bool)  # where a run of equal features starts, and the end
            np.not_equal(ordered[1:], ordered[:-1], out=change[1:n])
            bounds = change.nonzero()[0]
            count_of[ordered[bounds[:-1]]] = bounds[1:] - bounds[:-1]
            counts = count_of[in_order]
            rows = np.take(self.weights, in_order, axis=0)
            scores = np.log1p(counts.astype(np.float32)) @ rows + ident.nb_pc
        else:
            scores = np.zeros(len(ident.nb_classes), dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        if self._alias is not None:
            heads, dupes = self._alias
            scores[heads] += scores[dupes]
            scores[dupes] = 0.0
        else:
            for i, j in ident._alias_pairs:
                scores[i] += scores[j]
                scores[j] = 0.0
        return scores

    def _label(self, scores: np.ndarray) -> tuple[str, float]:
        best = int(scores.argmax())
        return self.identifier.nb_classes[best], float(scores[best])

    @staticmethod
    def _encode(text: str) -> bytes:
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")

    def classify(self, text: str) -> tuple[str, float]:
        if not self.exact:
            return self.identifier.classify(text)
        data = self._encode(text)
        return self._label(self._scores(data, self.features(data)))

    def classify_many(self, texts: list[str]) -> list[tuple[str, float]]:
        """:meth:`classify` of each of ``texts`` (the same results), features found in batches."""
        if not self.exact:
            return [self.identifier.classify(text) for text in texts]
        results: list[tuple[str, float]] = []
        datas = [self._encode(text) for text in texts]
        i = 0
        while i < len(datas):
            j, size = i, 0
            while j < len(datas) and (j == i or size + len(datas[j]) <= _BATCH_BYTES):
                size += len(datas[j])
                j += 1
            batch = datas[i:j]
            results += [self._label(self._scores(data, found))
                        for data, found in zip(batch, self.features_many(batch))]
            i = j
        return results


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
        self._predicted: dict[int, tuple[str, tuple[str, float]]] = {}  # id(doc) -> (text, result)

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
        state["_predicted"] = {}
        return state

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely language code and its probability."""
        kind, model = self._load()
        sample = text[: self.max_chars]
        if kind == "fasttext":
            labels, probs = model.predict(sample.replace("\n", " "), k=1)
            return labels[0].replace("__label__", ""), float(probs[0])
        return model.classify(sample)

    def prepare(self, docs: list[dict[str, Any]]) -> None:
        """Classify a batch in one go before :meth:`process` sees its documents (the pipeline
        calls it): py3langid's features are found for all the texts in one pass, faster than
        text by text, with the same results."""
        kind, model = self._load()
        self._predicted = {}
        if kind != "langid" or not docs:
            return
        texts = [doc["text"] for doc in docs]
        results = model.classify_many([text[: self.max_chars] for text in texts])
        # Keyed by the document, and kept only while it holds the very text classified.
        self._predicted = {id(doc): (text, result)
                           for doc, text, result in zip(docs, texts, results)}

    def process(self, doc: dict[str, Any]) -> str | None:
        ready = self._predicted.pop(id(doc), None) if self._predicted else None
        if ready is not None and ready[0] is doc["text"]:
            lang, prob = ready[1]
        else:
            lang, prob = self.predict(doc["text"])
        if lang != self.language:
            return f"lang_{lang}"
        if prob < self.min_prob:
            return "low_lang_confidence"
        return None
