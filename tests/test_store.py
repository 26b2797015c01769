"""rag/store.py and rag/indexing.py: round trip, generations, staleness, mismatch errors."""

from pathlib import Path

import pytest

from rag.config import ChunkSettings, ModelSettings, Settings
from rag.indexing import build_index
from rag.retrieval import Index
from rag.stores import IndexMismatchError, IndexMissingError
from rag.stores.local import read_manifest

ARTICLES = {
    "kremlin.txt": "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع المرتقب في ميامي.",
    "negotiator.txt": "أعلن كبير المفاوضين الأوكرانيين رستم أوميروف عن اجتماع في الولايات المتحدة.",
    "weather.txt": "The weather in Tunis will be sunny with light winds on Sunday.",
}


def settings_for(tmp_path: Path, **chunking: int) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    for name, text in ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        models=ModelSettings(embedder="fake-embedder"),
        chunking=ChunkSettings(**({"max_tokens": 50, "overlap_tokens": 5} | chunking)),
    )


def test_round_trip_search_returns_hits_with_offsets(tmp_path, fake_embedder):
    settings = settings_for(tmp_path)
    report = build_index(settings, embedder=fake_embedder, show_progress=False)
    assert report.built and report.articles == 3 and report.chunks == 3
    index = Index.open(settings.index_dir, settings, embedder=fake_embedder)
    [top, *_] = index.search("The weather in Tunis on Sunday", k=3)
    assert top.article_id == "weather.txt" and top.path == "weather.txt"
    assert index.article_text(top.article_id)[top.start : top.end] == top.text
    manifest = read_manifest(settings.index_dir)
    assert manifest.embedder == "fake-embedder" and manifest.dimension == fake_embedder.dimension
    assert set(manifest.articles) == set(ARTICLES)


def test_unchanged_articles_are_not_embedded_again(tmp_path, fake_embedder):
    settings = settings_for(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    embedded = fake_embedder.documents_encoded
    again = build_index(settings, embedder=fake_embedder, show_progress=False)
    assert not again.built and fake_embedder.documents_encoded == embedded
    (settings.seeds_dir / "weather.txt").write_text("Rain is expected in Sfax.", encoding="utf-8")
    assert build_index(settings, embedder=fake_embedder, show_progress=False).reason == "articles changed"


def test_missing_index_says_how_to_build(tmp_path, fake_embedder):
    settings = settings_for(tmp_path)
    with pytest.raises(IndexMissingError, match="rag index --index"):
        Index(settings, embedder=fake_embedder)


def test_other_embedder_or_chunker_is_refused_with_rebuild_advice(tmp_path, fake_embedder):
    settings = settings_for(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    other_model = settings.model_copy(update={"models": ModelSettings(embedder="another-model")})
    with pytest.raises(IndexMismatchError, match=r"embedder 'fake-embedder'.*rag index --rebuild --index"):
        Index(other_model, embedder=type(fake_embedder)("another-model"))
    other_chunks = settings.model_copy(update={"chunking": ChunkSettings(max_tokens=99, overlap_tokens=5)})
    with pytest.raises(IndexMismatchError, match="chunking"):
        Index(other_chunks, embedder=fake_embedder)


def test_open_index_follows_a_rebuild(tmp_path, fake_embedder):
    settings = settings_for(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    index = Index(settings, embedder=fake_embedder)
    (settings.seeds_dir / "new.txt").write_text("Olive harvest starts early in Sfax.", encoding="utf-8")
    build_index(settings, embedder=fake_embedder, show_progress=False)
    assert index.search("Olive harvest in Sfax", k=1)[0].article_id == "new.txt"
    assert len(list(settings.index_dir.glob("gen-*"))) == 2  # the current one and the previous one


def test_chunk_settings_reject_overlap_not_below_budget():
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkSettings(max_tokens=10, overlap_tokens=10)
