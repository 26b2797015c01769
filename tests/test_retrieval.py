"""rag/retrieval.py: search modes, and the per-stage timings benchmarks read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.config import ChunkSettings, ModelSettings, Settings
from rag.indexing import build_index
from rag.retrieval import Index, Stopwatch

ARTICLES = {
    "olives.txt": "موسم الزيتون في تونس بدأ مبكرا هذا العام بسبب الحرارة.",
    "ports.txt": "ميناء صفاقس يستقبل سفنا جديدة لنقل الحبوب.",
}


@pytest.fixture
def index(tmp_path: Path, fake_embedder) -> Index:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    settings = Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        models=ModelSettings(embedder="fake-embedder"),
        chunking=ChunkSettings(max_tokens=40, overlap_tokens=5),
    )
    build_index(settings, embedder=fake_embedder, show_progress=False)
    return Index(settings, embedder=fake_embedder)


def test_stopwatch_adds_up_laps_of_the_same_stage():
    watch = Stopwatch()
    time.sleep(0.01)
    watch.lap("a")
    watch.lap("b")
    time.sleep(0.01)
    watch.lap("a")
    assert set(watch.laps) == {"a", "b"} and watch.laps["a"] >= 0.02 > watch.laps["b"]


def test_hybrid_search_times_every_stage(index: Index):
    hits = index.search("ميناء صفاقس", k=1)
    assert hits[0].article_id == "ports.txt"
    assert set(index.timings) == {"embed", "dense", "lexical", "fusion", "hits"}
    assert all(seconds >= 0 for seconds in index.timings.values())


def test_dense_search_times_only_its_stages(index: Index):
    index.search("الزيتون", k=1, mode="dense")
    assert set(index.timings) == {"embed", "dense", "hits"}


def test_an_hnsw_index_answers_like_the_exact_one(index: Index, fake_embedder):
    exact = [h.article_id for h in index.search("ميناء صفاقس", k=2)]
    settings = index.settings.model_copy(deep=True)
    settings.retrieval.hnsw_from = 1  # a graph even for two chunks
    build_index(settings, embedder=fake_embedder, force=True, show_progress=False)
    graph = Index(settings, embedder=fake_embedder)
    import faiss

    assert isinstance(faiss.downcast_index(graph.store.vectors.index), faiss.IndexHNSWFlat)
    assert [h.article_id for h in graph.search("ميناء صفاقس", k=2)] == exact
