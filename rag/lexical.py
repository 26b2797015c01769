"""BM25 over Arabic-aware tokens (normalised, Snowball-stemmed), persisted beside the vectors."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.text import ARABIC_LETTER, TOKEN, fold, normalize

LEXICAL_DIR = "bm25"
# Snowball leaves a leading و / ف (and, so) before the article: "والمفاوضات" -> "والمفاوضا".
CONJUNCTION = re.compile(r"^[وف](?=(?:ال|بال|كال|لل)..)")


@functools.cache
def _stemmer(language: str):  # noqa: ANN202 - PyStemmer has no type hints
    import Stemmer

    return Stemmer.Stemmer(language)


def analyze(text: str) -> list[str]:
    """Index / query terms: folded words, Arabic ones Arabic-stemmed, the others English-stemmed.

    The stemmer sees ة / ى as written, with a final ه read as ة so both spellings share a stem, and
    without a conjunction glued to the article. On XQuAD-ar (BM25 alone, whole passages) recall@1 /
    @5: raw words 0.817 / 0.936, normalised then stemmed 0.858 / 0.963, this 0.875 / 0.969."""
    words = TOKEN.findall(fold(text))
    arabic = [w for w in words if ARABIC_LETTER.search(w)]
    spelled = [CONJUNCTION.sub("", w[:-1] + "ة" if len(w) > 3 and w.endswith("ه") else w) for w in arabic]
    stems = dict(zip(arabic, _stemmer("arabic").stemWords(spelled)))
    other = [w for w in words if w not in stems]
    stems.update(zip(other, _stemmer("english").stemWords(other)))
    # Stemming may bring back letter variants (e.g. a final ة); fold them again.
    return [normalize(stems[w]) for w in words]


class LexicalIndex:
    """BM25 (bm25s) over chunk texts, answering with chunk ids."""

    def __init__(self, model, chunk_ids: np.ndarray) -> None:  # noqa: ANN001 - bm25s.BM25
        self._model = model
        self._chunk_ids = chunk_ids
        self._position: dict[int, int] | None = None

    @classmethod
    def build(cls, chunk_ids: Sequence[int], texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        model = bm25s.BM25()
        model.index([analyze(t) for t in texts], show_progress=False)
        return cls(model, np.asarray(chunk_ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        target = folder / LEXICAL_DIR
        self._model.save(str(target), show_progress=False)
        (target / "chunk_ids.json").write_text(json.dumps(self._chunk_ids.tolist()))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        source = folder / LEXICAL_DIR
        model = bm25s.BM25.load(str(source), show_progress=False)
        return cls(model, np.asarray(json.loads((source / "chunk_ids.json").read_text()), dtype=np.int64))

    def scores(self, query: str, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 score of the query for each given chunk (0 when it shares no term)."""
        terms = [t for t in analyze(query) if t in self._model.vocab_dict]
        if not terms or not chunk_ids:
            return {int(i): 0.0 for i in chunk_ids}
        every = self._model.get_scores(terms)
        position = self._positions()
        return {int(i): float(every[position[int(i)]]) for i in chunk_ids}

    def _positions(self) -> dict[int, int]:
        if self._position is None:
            self._position = {int(c): p for p, c in enumerate(self._chunk_ids)}
        return self._position

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of up to k chunks sharing a term with the query, best first."""
        terms = [t for t in analyze(query) if t in self._model.vocab_dict]
        size = len(self._chunk_ids)
        if not terms or size == 0:
            return []
        documents, scores = self._model.retrieve([terms], k=min(k, size), show_progress=False)
        return [(int(self._chunk_ids[d]), float(s)) for d, s in zip(documents[0], scores[0]) if s > 0]
