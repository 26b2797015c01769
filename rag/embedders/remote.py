"""An embedding model behind an OpenAI-compatible `/v1/embeddings` server.

Another `rag serve` applies its model's query / document prompts itself (our `input_type` and `titles`
fields); for other servers (vLLM, llama.cpp's server, Ollama, ...) set `embedder.query_prompt` and
`embedder.document_prompt` and the prompts are put before the texts here. Chunks are measured with the
model's tokenizer, loaded locally (tokenizer files only), so they are cut as a local build cuts them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import DEFAULT_MODELS, EmbedderSettings
from rag.embedders import EmbedderError
from rag.embedders.local import document_inputs
from rag.models import KNOWN, embedder_location

MAX_INPUTS = 256  # texts per request (our own server's limit)


class RemoteEmbeddingModel:
    """The server at `embedder.model` (its base URL, e.g. http://127.0.0.1:8000/v1)."""

    def __init__(self, settings: EmbedderSettings, models_dir: Path = DEFAULT_MODELS) -> None:
        self._settings = settings
        self._models_dir = models_dir
        self._base = settings.model.rstrip("/")
        self._probed: tuple[str, int] | None = None  # (model name, dimension), asked on first use
        self._tokenizer: Any = None
        self._probing = threading.Lock()
        self._loading = threading.Lock()
        self._tokenizing = threading.Lock()  # Hugging Face tokenizers raise "Already borrowed" across threads

    def _probe(self) -> tuple[str, int]:
        if self._probed is None:
            with self._probing:
                if self._probed is None:
                    body = self._embed(["dimension probe"], "query")
                    name = str(body.get("model") or self._settings.server_model or self._base)
                    self._probed = (name, self._parse(body, 1).shape[1])
        return self._probed

    @property
    def name(self) -> str:
        """The model name the server reports: a local model of that name makes compatible vectors."""
        return self._probe()[0]

    @property
    def cache_key(self) -> str:
        return f"{self.name}@{self._base}"

    @property
    def loaded(self) -> bool:
        return True

    @property
    def dimension(self) -> int:
        return self._probe()[1]

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            with self._loading:
                if self._tokenizer is None:
                    self._tokenizer = self._load_tokenizer()
        with self._tokenizing:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _load_tokenizer(self) -> Any:
        name = self._settings.tokenizer or self.name
        if not self._settings.tokenizer and name not in KNOWN:
            raise EmbedderError(
                f"the embedding server at {self._base} serves '{name}', whose tokenizer is unknown here: set "
                "RAG_EMBEDDER__TOKENIZER to its tokenizer (a folder or name) so chunks fit the model"
            )
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(embedder_location(name, self._models_dir))

    def encode_documents(self, documents: Sequence[tuple[str, str]]) -> np.ndarray:
        template = self._settings.document_prompt
        if template:
            texts, titles = document_inputs(template, documents), None
        else:
            texts, titles = [text for _, text in documents], [title for title, _ in documents]
        parts = [
            self._vectors(texts[first : first + MAX_INPUTS], "document", titles and titles[first : first + MAX_INPUTS])
            for first in range(0, len(texts), MAX_INPUTS)
        ]
        return np.vstack(parts) if parts else np.zeros((0, self.dimension), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        prompt = self._settings.query_prompt
        return self._vectors([prompt + text] if prompt else [text], "query")[0]

    def _vectors(self, texts: list[str], kind: str, titles: list[str] | None = None) -> np.ndarray:
        return self._parse(self._embed(texts, kind, titles), len(texts))

    def _parse(self, body: dict[str, Any], count: int) -> np.ndarray:
        """The unit vectors of an answer, in input order."""
        try:
            rows = sorted(body["data"], key=lambda row: row["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise EmbedderError(f"the embedding server at {self._base} sent a malformed answer") from None
        if vectors.ndim != 2 or len(vectors) != count:
            raise EmbedderError(f"the embedding server at {self._base} sent {len(vectors)} vectors for {count} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _embed(self, texts: list[str], kind: str, titles: list[str] | None = None) -> dict[str, Any]:
        import httpx

        request: dict[str, Any] = {"input": texts, "encoding_format": "float"}
        if self._settings.server_model:
            request["model"] = self._settings.server_model
        prompted = self._settings.query_prompt if kind == "query" else self._settings.document_prompt
        if not prompted:  # our own server's fields: it applies its model's prompts
            request["input_type"] = kind
            if titles is not None:
                request["titles"] = titles
        key = self._settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            with httpx.Client(timeout=self._settings.timeout, trust_env=False) as client:
                response = client.post(f"{self._base}/embeddings", json=request, headers=headers)
        except httpx.TimeoutException:
            raise EmbedderError(
                f"the embedding server at {self._base} did not answer within {self._settings.timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise EmbedderError(f"cannot reach the embedding server at {self._base} ({error})") from None
        if response.status_code != 200:
            detail = " ".join(response.text.split())[:200]
            raise EmbedderError(f"the embedding server at {self._base} answered {response.status_code}: {detail}")
        try:
            body = response.json()
        except ValueError:
            raise EmbedderError(
                f"the embedding server at {self._base} answered with something other than JSON"
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
            raise EmbedderError(f"the embedding server at {self._base} sent a malformed answer")
        return body
