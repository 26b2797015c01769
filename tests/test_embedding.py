"""The embedder's vector cache: documents always, query vectors only for evaluation runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.config import EmbedderSettings
from rag.embedding import Embedder


class CountingModel:
    """A tiny embedding model that counts the queries it encodes."""

    name = cache_key = "counting-model"
    loaded = True
    dimension = 4

    def __init__(self) -> None:
        self.queries = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode_documents(self, documents: Sequence[tuple[str, str]]) -> np.ndarray:
        return np.stack([self.encode_query(text) for _, text in documents])

    def encode_query(self, text: str) -> np.ndarray:
        self.queries += 1
        vector = np.array([len(text), text.count(" "), 1.0, 0.0], dtype=np.float32)
        return vector / np.linalg.norm(vector)


def embedder(folder: Path, keep_queries: bool) -> tuple[Embedder, CountingModel]:
    model = CountingModel()
    return Embedder(EmbedderSettings(cache=folder), model=model, keep_queries=keep_queries), model


def test_an_evaluation_embedder_reads_its_query_vectors_back_from_the_cache_file(tmp_path: Path):
    first, model = embedder(tmp_path, keep_queries=True)
    vector = first.encode_query("من هو المتحدث؟")
    again, model_again = embedder(tmp_path, keep_queries=True)  # a later run, a new process
    np.testing.assert_array_equal(again.encode_query("من هو المتحدث؟"), vector)
    assert (model.queries, model_again.queries) == (1, 0)
    with again.uncached():  # cold timings embed afresh
        again.encode_query("Who is the spokesman?")
        assert model_again.queries == 1


def test_a_users_questions_are_not_written_to_the_cache_file(tmp_path: Path):
    user, _ = embedder(tmp_path, keep_queries=False)
    user.encode_query("a private question")
    later, model = embedder(tmp_path, keep_queries=True)
    later.encode_query("a private question")
    assert model.queries == 1
