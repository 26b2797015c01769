"""Embedding models behind one small interface: sentence-transformers in this process, or an
OpenAI-compatible `/v1/embeddings` server (another `rag serve`, vLLM, llama.cpp's server, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import DEFAULT_MODELS, EmbedderSettings


class EmbedderError(RuntimeError):
    """An embedding server failed: unreachable, too slow, an error status or a malformed answer."""


class EmbeddingModel(Protocol):
    """Turns texts into unit vectors; `name` is what index manifests record."""

    @property
    def name(self) -> str: ...

    @property
    def cache_key(self) -> str:
        """Identifies the vectors this model produces, for the document-vector cache."""
        ...

    @property
    def loaded(self) -> bool: ...

    @property
    def dimension(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Length of `text` in the model's own tokens (without special tokens)."""
        ...

    def encode_documents(self, documents: Sequence[tuple[str, str]]) -> np.ndarray:
        """Unit vectors (float32) of (title, text) pairs, with the model's document prompt."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """One unit vector (float32) with the model's query prompt."""
        ...


def load_embedding_model(settings: EmbedderSettings, models_dir: Path = DEFAULT_MODELS) -> EmbeddingModel:
    """The embedding model the settings name (nothing is loaded or contacted yet)."""
    if settings.is_server:
        from rag.embedders.remote import RemoteEmbeddingModel

        return RemoteEmbeddingModel(settings, models_dir)
    from rag.embedders.local import SentenceTransformerModel

    return SentenceTransformerModel(settings, models_dir)
