"""Sentence-transformers embedder with the model's own query / document prompts, normalised vectors."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import EmbedDtype, ModelSettings
from rag.models import embedder_location

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


def load_sentence_transformer(location: str, dtype: EmbedDtype) -> SentenceTransformer:
    """The model on CPU in `dtype`; "int8" loads float32 and swaps its transformer's linear layers for int8 ones."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    weights = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    model = SentenceTransformer(location, device="cpu", model_kwargs={"dtype": weights})
    if dtype == "int8":
        from rag.quantization import quantize_linears

        quantize_linears(model[0].auto_model)
    return model


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

    def __init__(self, settings: ModelSettings) -> None:
        self.name = settings.embedder
        self._settings = settings
        self._model: SentenceTransformer | None = None
        self._loading = threading.Lock()  # the app loads the model in the background while it starts
        # One caller at a time runs the model or its tokenizer (Hugging Face tokenizers raise "Already borrowed"
        # when two threads use one); the HTTP API, the chat and a build share this embedder.
        self._use = threading.Lock()
        self._tokenizer = None
        self._cache = (
            EmbeddingCache(settings.embedding_cache, f"{settings.embedder}-{settings.embed_dtype}")
            if settings.embedding_cache
            else None
        )
        self.documents_encoded = 0  # texts actually run through the model (cache misses)

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._loading:
                if self._model is None:
                    location = embedder_location(self.name, self._settings.cache_dir)
                    log.info("loading embedder %s (%s)", location, self._settings.embed_dtype)
                    self._model = load_sentence_transformer(str(location), self._settings.embed_dtype)
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (it loads on first use)."""
        return self._model is not None

    @contextlib.contextmanager
    def uncached(self) -> Iterator[None]:
        """Within the block, embed everything afresh (to measure cold latency)."""
        saved, self._cache = self._cache, None
        try:
            yield
        finally:
            self._cache = saved

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        assert dimension is not None
        return int(dimension)

    def count_tokens(self, text: str) -> int:
        """Length of `text` in the embedder's own tokens (without special tokens)."""
        if self._tokenizer is None:
            self._tokenizer = self.model.tokenizer
        with self._use:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

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
        cached = self._cache.get(keys) if self._cache else {}
        missing = list({k: d for k, d in zip(keys, documents) if k not in cached}.items())
        if progress is not None and len(texts) > len(missing):
            progress(len(texts) - len(missing))
        if missing:
            fresh = self._encode([d for _, d in missing], progress, batch_size or self._settings.embed_batch_size)
            if self._cache:
                self._cache.put([k for k, _ in missing], fresh)
            cached.update(zip([k for k, _ in missing], fresh))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([cached[k] for k in keys]).astype(np.float32)

    def inputs(self, documents: Sequence[tuple[str, str]]) -> list[str]:
        """Model inputs: the document prompt (with the title where it has a slot) and the text."""
        template = self.model.prompts.get("document", "")
        if "title: none" in template:
            return [template.replace("title: none", f"title: {title or 'none'}") + text for title, text in documents]
        return [template + text for _, text in documents]

    def _encode(
        self, documents: list[tuple[str, str]], progress: Callable[[int], None] | None, batch: int
    ) -> np.ndarray:
        inputs = self.inputs(documents)
        # Similar lengths in one batch waste less on padding.
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        vectors = np.zeros((len(inputs), self.dimension), dtype=np.float32)
        for first in range(0, len(order), batch):
            ids = order[first : first + batch]
            model = self.model
            with self._use:  # per batch: a question asked during a build waits for one batch, not the build
                encoded = model.encode_document(
                    [inputs[i] for i in ids],
                    prompt="",
                    batch_size=batch,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                )
            vectors[ids] = np.asarray(encoded, dtype=np.float32)
            self.documents_encoded += len(ids)
            if progress is not None:
                progress(len(ids))
        return vectors

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one embedder per process; repeated queries are common
    def encode_query(self, text: str) -> np.ndarray:
        """One unit vector (float32) using the model's query prompt."""
        model = self.model
        with self._use:
            encoded = model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(encoded, dtype=np.float32)[0]
