"""Sentence-transformers in this process, with the model's own query / document prompts."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from rag.config import DEFAULT_MODELS, EmbedderSettings, EmbedDtype
from rag.models import embedder_location

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
T = TypeVar("T")


def load_sentence_transformer(location: str, dtype: EmbedDtype) -> SentenceTransformer:
    """The model on CPU in `dtype`; "int8" loads float32 and swaps its transformer's linear layers for int8 ones."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar on a command's stderr

    weights = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    model = SentenceTransformer(location, device="cpu", model_kwargs={"dtype": weights})
    if dtype == "int8":
        from rag.quantization import quantize_linears

        quantize_linears(model[0].auto_model)
    return model


class SentenceTransformerModel:
    """A sentence-transformers model, loaded on first use (the app loads it in the background while it starts)."""

    def __init__(self, settings: EmbedderSettings, models_dir: Path = DEFAULT_MODELS) -> None:
        self._settings = settings
        self._models_dir = models_dir
        self._model: SentenceTransformer | None = None
        self._loading = threading.Lock()
        # One thread runs the model and its tokenizer for every caller (the HTTP API, the chat, a build):
        # Hugging Face tokenizers raise "Already borrowed" when two threads use one, and torch gives each calling
        # thread its own OpenMP team, whose idle workers spin on the cores the next caller's team needs (an HTTP
        # search ran 25% slower than the same search in a script while the server's search threads took turns).
        self._runner = ThreadPoolExecutor(1, thread_name_prefix="embedder")

    def _run(self, work: Callable[[], T]) -> T:
        return self._runner.submit(work).result()

    @property
    def name(self) -> str:
        return self._settings.model

    @property
    def cache_key(self) -> str:
        return f"{self._settings.model}-{self._settings.dtype}"

    @property
    def transformer(self) -> SentenceTransformer:
        """The loaded model (loading it now if needed)."""
        if self._model is None:
            with self._loading:
                if self._model is None:
                    location = embedder_location(self._settings.model, self._models_dir)
                    log.info("loading embedder %s (%s)", location, self._settings.dtype)
                    self._model = load_sentence_transformer(str(location), self._settings.dtype)
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dimension(self) -> int:
        dimension = self.transformer.get_embedding_dimension()
        assert dimension is not None
        return int(dimension)

    def count_tokens(self, text: str) -> int:
        tokenizer = self.transformer.tokenizer
        return self._run(lambda: len(tokenizer(text, add_special_tokens=False)["input_ids"]))

    def inputs(self, documents: Sequence[tuple[str, str]]) -> list[str]:
        """Model inputs: the document prompt (with the title where it has a slot) and the text."""
        return document_inputs(self.transformer.prompts.get("document", ""), documents)

    def encode_documents(self, documents: Sequence[tuple[str, str]]) -> np.ndarray:
        inputs = self.inputs(documents)
        model = self.transformer
        encoded = self._run(
            lambda: model.encode_document(
                inputs, prompt="", batch_size=len(inputs), normalize_embeddings=True, convert_to_numpy=True
            )
        )
        return np.asarray(encoded, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        model = self.transformer
        encoded = self._run(lambda: model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True))
        return np.asarray(encoded, dtype=np.float32)[0]


def document_inputs(template: str, documents: Sequence[tuple[str, str]]) -> list[str]:
    """`template` before each text, with the title in its slot ("title: none | text: ") where it has one."""
    if "title: none" in template:
        return [template.replace("title: none", f"title: {title or 'none'}") + text for title, text in documents]
    return [template + text for _, text in documents]
