"""The retrieval API for scripts: `Index.open("index").search("question", k=5)` returns ranked Hits."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder
from rag.fusion import convex_mix
from rag.indexing import chunker_params
from rag.stores import IndexMismatchError, IndexStore, engine_for
from rag.text import crosses_languages
from rag.types import Hit, Scope

MODES = ("dense", "lexical", "hybrid")


class Stopwatch:
    """Seconds per stage: `lap(stage)` ends the stage that started at the previous lap (or creation)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + now - self._last
        self._last = now


class Index:
    """A built index plus the embedder that queries it; follows rebuilds without reopening."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedder, settings.models_dir)
        self.engine = engine_for(settings)
        self._lock = threading.Lock()
        self._store = self._open_store()
        self._pinned = False
        # Seconds spent in each stage of the latest search (embed, dense, lexical, fusion, hits), for benchmarks.
        self.timings: dict[str, float] = {}

    @classmethod
    def open(
        cls, path: str | Path = "index", settings: Settings | None = None, embedder: Embedder | None = None
    ) -> Index:
        """Open the index at `path`; raises IndexMissingError or IndexMismatchError with how to fix it."""
        settings = (settings or Settings()).model_copy(update={"index_dir": Path(path)})
        return cls(settings, embedder)

    def _open_store(self) -> IndexStore:
        store = self.engine.open()
        reason = store.manifest.mismatch(self.embedder.name, chunker_params(self.settings))
        if reason:
            store.close()
            raise IndexMismatchError(f"{reason}. Rebuild it with: rag index --rebuild{self._location_option()}")
        return store

    def _location_option(self) -> str:
        uri = self.settings.store.uri
        return f" --store {uri}" if uri else f" --index {self.settings.index_dir}"

    def pinned(self) -> Index:
        """This index held at the generation it serves now: its searches and article texts keep to that generation
        whatever builds land meanwhile (one answer reads one generation: hits and the texts around them)."""
        view = copy.copy(self)
        view._store, view._pinned, view._lock = self.store, True, threading.Lock()
        return view

    @property
    def store(self) -> IndexStore:
        """The live view; reopened when a build has changed the index (unless pinned)."""
        if self._pinned:
            return self._store
        with self._lock:
            if self.engine.generation() != self._store.generation:
                # The old view is not closed here: a search in another thread may still be reading it.
                # It closes when the last reference goes.
                self._store = self._open_store()
            return self._store

    def __len__(self) -> int:
        return self.store.size

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        exclude: frozenset[str] = frozenset(),
        scope: Scope | None = None,
    ) -> list[Hit]:
        """The k best chunks for `query`, best first; mode dense, lexical or hybrid (default: settings).

        `scope` keeps to articles of some dates and sources (filtered inside both retrievers, so k hits come
        back whenever k chunks qualify); chunks of the `exclude` articles are left out as if not indexed."""
        if not query.strip():
            raise ValueError("query is empty")
        k = k or self.settings.retrieval.k
        mode = mode or self.settings.retrieval.mode
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        scope = scope or Scope()
        exclude = exclude | scope.exclude
        store = self.store
        watch = Stopwatch()
        lap = watch.lap
        vector = self.embedder.encode_query(query)
        lap("embed")
        scope = replace(scope, exclude=exclude)
        if mode == "dense":
            ranked = store.dense(vector, k, scope)
            lap("dense")
        elif mode == "lexical":
            ranked = store.lexical(query, k, scope)
            lap("lexical")
        else:
            ranked = self._hybrid(store, query, vector, k, scope, lap)
        hits = store.hits(ranked, store.similarities(vector, [i for i, _ in ranked]))
        lap("hits")
        self.timings = watch.laps
        return hits

    def _hybrid(
        self, store: IndexStore, query: str, vector: np.ndarray, k: int, scope: Scope, lap: Callable[[str], None]
    ) -> list[tuple[int, float]]:
        """Exact cosine and BM25 over both retrievers' candidates, fused by a convex mix."""
        settings = self.settings.retrieval
        n = max(k, settings.candidates)
        dense_top = store.dense(vector, n, scope)
        lap("dense")
        lexical_top = [i for i, _ in store.lexical(query, n, scope)]
        lap("lexical")
        ids = list(dict.fromkeys([i for i, _ in dense_top] + lexical_top))
        top_texts = [h.text for h in store.hits(dense_top[:3], dict(dense_top[:3]))]
        cross = crosses_languages(query, top_texts)
        weight = settings.cross_lingual_lexical_weight if cross else settings.lexical_weight
        fused = convex_mix(store.similarities(vector, ids), store.lexical_scores(query, ids), weight)[:k]
        lap("fusion")
        return fused

    def article_text(self, article_id: str) -> str:
        """The full cleaned text of an article, for showing a passage in context."""
        return self.store.article_text(article_id)
