"""The embedder the index uses: a model (local or remote, `rag.embedders`) behind a cache of document
vectors, batching by length, progress and a cache of recent queries."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from rag.config import DEFAULT_MODELS, EmbedderSettings
from rag.embedders import EmbeddingModel, load_embedding_model


class EmbeddingCache:
    """Document vectors keyed by the hash of their text, one SQLite file per model and dtype."""

    def __init__(self, folder: Path, model_key: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", model_key)[-80:]
        digest = hashlib.sha256(model_key.encode()).hexdigest()[:8]
        self._db = sqlite3.connect(folder / f"{name}-{digest}.sqlite", check_same_thread=False, timeout=60)
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, wanted: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of the keys that have one."""
        keys = list(set(wanted))
        found: dict[str, np.ndarray] = {}
        for first in range(0, len(keys), 500):
            batch = keys[first : first + 500]
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch
            )
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)],
            )


class Embedder:
    """Encodes queries and documents; `name` and `dimension` identify it in the index manifest."""

    def __init__(
        self,
        settings: EmbedderSettings,
        models_dir: Path = DEFAULT_MODELS,
        model: EmbeddingModel | None = None,
        keep_queries: bool = False,
    ) -> None:
        self._settings = settings
        self.model = model or load_embedding_model(settings, models_dir)
        self._cache: EmbeddingCache | None = None
        self._caching = True  # off inside `uncached()`; no folder in the settings: no cache at all
        # Query vectors go to the cache file too only for evaluation, whose questions recur run after run; a
        # user's questions are never written to disk.
        self.keep_queries = keep_queries
        self.documents_encoded = 0  # texts actually run through the model (cache misses)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (a local one loads on first use)."""
        return self.model.loaded

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def count_tokens(self, text: str) -> int:
        """Length of `text` in the embedder's own tokens (without special tokens)."""
        return self.model.count_tokens(text)

    @property
    def cache(self) -> EmbeddingCache | None:
        """The document-vector cache of this model (opened on first use: a remote model's key asks its server)."""
        folder = self._settings.cache
        if self._cache is None and self._caching and folder is not None:
            self._cache = EmbeddingCache(folder, self.model.cache_key)
        return self._cache

    @contextlib.contextmanager
    def uncached(self) -> Iterator[None]:
        """Within the block, embed everything afresh (to measure cold latency)."""
        saved, self._caching = self._caching, False
        cache, self._cache = self._cache, None
        try:
            yield
        finally:
            self._caching, self._cache = saved, cache

    def encode_documents(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        titles: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Unit vectors (float32, one row per text) with the model's document prompt; cached ones are reused.

        With `titles`, a prompt that has a title slot (EmbeddingGemma: "title: none | text: ") gets
        each text's title, which gives a chunk the context of its article. `batch_size` overrides the
        setting (short texts of one length go faster in larger batches)."""
        documents = list(zip(titles or [""] * len(texts), texts))
        keys = [EmbeddingCache.key(f"{title}\x1f{text}") for title, text in documents]
        cache = self.cache
        cached = cache.get(keys) if cache else {}
        missing = list({k: d for k, d in zip(keys, documents) if k not in cached}.items())
        if progress is not None and len(texts) > len(missing):
            progress(len(texts) - len(missing))
        if missing:
            fresh = self._encode([d for _, d in missing], progress, batch_size or self._settings.batch_size)
            if cache:
                cache.put([k for k, _ in missing], fresh)
            cached.update(zip([k for k, _ in missing], fresh))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([cached[k] for k in keys]).astype(np.float32)

    def _encode(
        self, documents: list[tuple[str, str]], progress: Callable[[int], None] | None, batch: int
    ) -> np.ndarray:
        # Similar lengths in one batch waste less on padding; one batch at a time, so a question asked during
        # a build waits for one batch, not the build.
        order = sorted(range(len(documents)), key=lambda i: len(documents[i][0]) + len(documents[i][1]))
        vectors = np.zeros((len(documents), self.dimension), dtype=np.float32)
        for first in range(0, len(order), batch):
            ids = order[first : first + batch]
            vectors[ids] = self.model.encode_documents([documents[i] for i in ids])
            self.documents_encoded += len(ids)
            if progress is not None:
                progress(len(ids))
        return vectors

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one embedder per process; repeated queries are common
    def encode_query(self, text: str) -> np.ndarray:
        """One unit vector (float32) using the model's query prompt (from the cache file with `keep_queries`)."""
        cache = self.cache if self.keep_queries else None
        if cache is None:
            return self.model.encode_query(text)
        key = EmbeddingCache.key(f"query\x1f{text}")
        if (kept := cache.get([key]).get(key)) is not None:
            return kept.copy()
        vector = self.model.encode_query(text)
        cache.put([key], vector[None, :])
        return vector
