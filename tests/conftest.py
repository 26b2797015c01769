"""Shared fixtures: a tiny fake embedder for unit tests; real models only in the e2e tests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


class FakeEmbedder:
    """Bag-of-words hashing embedder: deterministic, fast, and similar texts get similar vectors."""

    def __init__(self, name: str = "fake-embedder", dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.documents_encoded = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in text.split():
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode_documents(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        titles: Sequence[str] | None = None,
    ) -> np.ndarray:
        self.documents_encoded += len(texts)
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_settings() -> Callable[..., object]:
    """Settings for an articles folder and an index folder, with the fake embedder and small chunks."""
    from rag.config import ChunkSettings, ModelSettings, Settings

    def make(seeds: Path, index: Path, max_tokens: int = 40) -> Settings:
        return Settings(
            seeds_dir=seeds,
            index_dir=index,
            models=ModelSettings(embedder="fake-embedder"),
            chunking=ChunkSettings(max_tokens=max_tokens, overlap_tokens=5),
        )

    return make
