"""The retrieval API for scripts: `Index.open("index").search("question", k=5)` returns ranked Hits."""

from __future__ import annotations

import threading
from pathlib import Path

from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import chunker_params
from rag.store import IndexMismatchError, Store, current_generation
from rag.types import Hit


class Index:
    """A built index plus the embedder that queries it; follows rebuilds without reopening."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings.models)
        self._lock = threading.Lock()
        self._store = self._open_store()

    @classmethod
    def open(
        cls, path: str | Path = "index", settings: Settings | None = None, embedder: Embedder | None = None
    ) -> Index:
        """Open the index at `path`; raises IndexMissingError or IndexMismatchError with how to fix it."""
        settings = (settings or Settings()).model_copy(update={"index_dir": Path(path)})
        return cls(settings, embedder)

    def _open_store(self) -> Store:
        store = Store(current_generation(self.settings.index_dir))
        reason = store.manifest.mismatch(self.settings.models.embedder, chunker_params(self.settings))
        if reason:
            store.close()
            raise IndexMismatchError(
                f"{reason}. Rebuild it with: rag index --rebuild --index {self.settings.index_dir}"
            )
        return store

    @property
    def store(self) -> Store:
        """The live generation; reopened when a build has switched the index to a new one."""
        with self._lock:
            if current_generation(self.settings.index_dir) != self._store.generation:
                old, self._store = self._store, self._open_store()
                old.close()
            return self._store

    def __len__(self) -> int:
        return self.store.size

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The k chunks most similar to `query`, best first (score: cosine similarity)."""
        if not query.strip():
            raise ValueError("query is empty")
        k = k or self.settings.retrieval.k
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        store = self.store
        return store.hits(store.nearest(self.embedder.encode_query(query), k))

    def article_text(self, article_id: str) -> str:
        """The full cleaned text of an article, for showing a passage in context."""
        return self.store.article_text(article_id)
