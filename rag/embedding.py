"""Sentence-transformers embedder with the model's own query / document prompts, normalised vectors."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.config import ModelSettings
from rag.models import embedder_location

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


class Embedder:
    """Encodes queries and documents; `name` and `dimension` identify it in the index manifest."""

    def __init__(self, settings: ModelSettings) -> None:
        self.name = settings.embedder
        self._settings = settings
        self._model: SentenceTransformer | None = None
        self._tokenizer = None

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            dtype = torch.bfloat16 if self._settings.embed_dtype == "bfloat16" else torch.float32
            location = embedder_location(self.name, self._settings.cache_dir)
            log.info("loading embedder %s (%s)", location, self._settings.embed_dtype)
            self._model = SentenceTransformer(location, device="cpu", model_kwargs={"dtype": dtype})
        return self._model

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        assert dimension is not None
        return int(dimension)

    def count_tokens(self, text: str) -> int:
        """Length of `text` in the embedder's own tokens (without special tokens)."""
        if self._tokenizer is None:
            self._tokenizer = self.model.tokenizer
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit vectors (float32, one row per text) using the model's document prompt."""
        batch = self._settings.embed_batch_size
        # Similar lengths in one batch waste less on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(order), batch):
            ids = order[first : first + batch]
            encoded = self.model.encode_document(
                [texts[i] for i in ids], batch_size=batch, normalize_embeddings=True, convert_to_numpy=True
            )
            vectors[ids] = np.asarray(encoded, dtype=np.float32)
            if progress is not None:
                progress(len(ids))
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """One unit vector (float32) using the model's query prompt."""
        encoded = self.model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(encoded, dtype=np.float32)[0]
