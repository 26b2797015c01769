"""rag/retrieval.py: search modes, and the per-stage timings benchmarks read."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.indexing import build_index
from rag.retrieval import Index, Stopwatch
from rag.types import Scope

ARTICLES = {
    "olives.txt": "موسم الزيتون في تونس بدأ مبكرا هذا العام بسبب الحرارة.",
    "ports.txt": "ميناء صفاقس يستقبل سفنا جديدة لنقل الحبوب.",
}


@pytest.fixture
def index(tmp_path: Path, fake_embedder, fake_settings) -> Index:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    settings = fake_settings(seeds, tmp_path / "index")
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


@pytest.fixture
def archive(tmp_path: Path, fake_embedder, fake_settings) -> Settings:
    """60 articles about the port from one site, 2 from another and a dated, undated mix."""
    seeds = tmp_path / "archive"
    seeds.mkdir()
    records = [
        {
            "id": i,
            "text": f"ميناء صفاقس يستقبل سفنا جديدة لنقل الحبوب رقم {i}.",
            "source": "Wire",
            "date": f"2024-01-{1 + i % 28:02d}",
            "url": f"https://www.wire.example/{i}",
        }
        for i in range(60)
    ]
    records += [
        {"id": "a", "text": "الميناء يستقبل سفينة قمح.", "source": "Local News", "date": "2025-03-02"},
        {"id": "b", "text": "سفينة جديدة في صفاقس.", "url": "https://local.example/b"},
    ]
    (seeds / "news.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    settings = fake_settings(seeds, tmp_path / "archive-index")
    build_index(settings, embedder=fake_embedder, show_progress=False)
    return settings


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("hnsw", [False, True])
def test_scope_filters_inside_retrieval_not_after_top_k(archive: Settings, fake_embedder, mode, hnsw):
    if hnsw:
        archive.retrieval.hnsw_from = 1
        build_index(archive, embedder=fake_embedder, force=True, show_progress=False)
    index = Index(archive, embedder=fake_embedder)
    query = "ميناء صفاقس يستقبل سفنا جديدة لنقل الحبوب"
    # The two other articles rank below the 60 wire ones; a filter after the top 5 would return nothing.
    by_name = index.search(query, k=5, mode=mode, scope=Scope(sources=("local news",)))
    assert [h.article_id for h in by_name] == ["news.jsonl#a"] or mode == "lexical" and not by_name
    by_host = index.search(query, k=5, mode=mode, scope=Scope(sources=("local.example", "LOCAL NEWS")))
    assert {h.article_id for h in by_host} <= {"news.jsonl#a", "news.jsonl#b"}
    if mode != "lexical":  # BM25 returns only chunks that share a term
        assert {h.article_id for h in by_host} == {"news.jsonl#a", "news.jsonl#b"}
    dated = index.search(query, k=5, mode=mode, scope=Scope(since="2024-01-10", until="2024-01-12"))
    assert len(dated) == 5 and all("2024-01-10" <= h.date <= "2024-01-12" for h in dated)
    assert all(h.source == "Wire" and h.url.startswith("https://www.wire.example/") for h in dated)
    later = index.search(query, k=5, mode=mode, scope=Scope(since="2025-01-01"))
    assert [h.article_id for h in later] in (["news.jsonl#a"], [])
    none = index.search(query, k=5, mode=mode, scope=Scope(since="2030-01-01"))
    assert none == []
    hidden = index.search(
        query, k=5, mode=mode, scope=Scope(sources=("wire.example",), exclude=frozenset({"news.jsonl#1"}))
    )
    assert len(hidden) == 5 and "news.jsonl#1" not in {h.article_id for h in hidden}
