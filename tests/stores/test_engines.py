"""rag/stores: the store contract, run against both engines (local folder, Milvus Lite file), what only Milvus
does (a build killed mid-way, several processes on one Milvus Lite server), and the local folder's own ways
(generations, its manifest, what a missing or mismatched index says)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import ChunkSettings, EmbedderSettings, Settings, StoreSettings
from rag.indexing import build_index
from rag.retrieval import Index
from rag.stores import IndexBusyError, IndexMismatchError, IndexMissingError, engine_for, location_key
from rag.stores.local import read_manifest
from rag.types import Scope
from tests.helpers import REPO, FakeEmbedder

ARTICLES = {
    "kremlin.json": {
        "title": "الكرملين",
        "text": "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع المرتقب في ميامي.",
        "date": "2025-12-20",
        "url": "https://www.example.com/kremlin",
        "source": "Example News",
    },
    "negotiator.json": {
        "title": "المفاوضون",
        "text": "أعلن كبير المفاوضين الأوكرانيين رستم أوميروف عن اجتماع في الولايات المتحدة.",
        "date": "2025-12-22",
        "url": "https://other.org/negotiator",
    },
    "weather.json": {"title": "Weather", "text": "The weather in Tunis will be sunny with light winds on Sunday."},
}


def write_articles(seeds: Path, articles: dict[str, dict[str, str]]) -> None:
    seeds.mkdir(exist_ok=True)
    for name, record in articles.items():
        (seeds / name).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def on_milvus_lite(fake_settings, tmp_path: Path, articles: dict[str, dict[str, str]]) -> Settings:
    """Settings for these articles (written to tmp_path/seeds) on a Milvus Lite file, with the fake embedder."""
    write_articles(tmp_path / "seeds", articles)
    return fake_settings(tmp_path / "seeds", tmp_path / "index").model_copy(
        update={"store": StoreSettings(uri=str(tmp_path / "index.db"))}
    )


@pytest.fixture(params=["local", "milvus_lite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for the three articles on either engine, with the fake embedder."""
    write_articles(tmp_path / "seeds", ARTICLES)
    uri = str(tmp_path / "index.db") if request.param == "milvus_lite" else ""
    settings = Settings(
        seeds_dir=tmp_path / "seeds",
        index_dir=tmp_path / "index",
        embedder=EmbedderSettings(model="fake-embedder"),
        chunking=ChunkSettings(max_tokens=50, overlap_tokens=5),
        store=StoreSettings(uri=uri),
    )
    yield settings
    if uri:
        engine_for(settings).drop()  # stops the in-process Milvus Lite server holding the file


def build(settings: Settings, embedder) -> object:
    return build_index(settings, embedder=embedder, show_progress=False)


def test_round_trip_search_returns_hits_with_offsets_and_details(settings, fake_embedder):
    report = build(settings, fake_embedder)
    assert report.built and report.articles == 3 and report.chunks == 3
    index = Index(settings, fake_embedder)
    assert len(index) == 3
    for mode in ("dense", "lexical", "hybrid"):
        [top, *_] = index.search("The weather in Tunis on Sunday", k=3, mode=mode)
        assert top.article_id == "weather.json#1" and top.title == "Weather", mode
        assert index.article_text(top.article_id)[top.start : top.end] == top.text
    [kremlin] = index.search("المتحدث باسم الكرملين", k=1)
    assert (kremlin.date, kremlin.source, kremlin.url) == (
        "2025-12-20",
        "Example News",
        ARTICLES["kremlin.json"]["url"],
    )
    records = {r.id: r for r in index.store.articles()}
    assert set(records) == {f"{name}#1" for name in ARTICLES} and all(r.chunks == 1 for r in records.values())
    manifest = engine_for(settings).manifest()
    assert manifest.embedder == "fake-embedder" and manifest.dimension == fake_embedder.dimension
    assert set(manifest.articles) == {f"{name}#1" for name in ARTICLES}


def test_both_engines_score_alike(settings, fake_embedder, tmp_path):
    """Same cosine and the same BM25 scale (bm25s's) on both engines, and the same idf."""
    build(settings, fake_embedder)
    local = settings.model_copy(update={"store": StoreSettings(), "index_dir": tmp_path / "reference"})
    build(local, fake_embedder)
    here, there = Index(settings, fake_embedder), Index(local, fake_embedder)
    for mode in ("dense", "lexical", "hybrid"):
        ours = [(h.article_id, round(h.score, 4)) for h in here.search("اجتماع الكرملين في ميامي", k=3, mode=mode)]
        theirs = [(h.article_id, round(h.score, 4)) for h in there.search("اجتماع الكرملين في ميامي", k=3, mode=mode)]
        assert ours == theirs, mode
    terms = ["اجتماع", "كرمل", "unseen"]
    assert here.store.idf(terms) == pytest.approx(there.store.idf(terms))


def test_unchanged_rerun_embeds_nothing_and_changes_touch_only_their_article(settings, fake_embedder):
    build(settings, fake_embedder)
    embedded = fake_embedder.documents_encoded
    assert not build(settings, fake_embedder).built and fake_embedder.documents_encoded == embedded
    index = Index(settings, fake_embedder)
    write_articles(settings.seeds_dir, {"weather.json": {"title": "Weather", "text": "Rain is expected in Sfax."}})
    report = build(settings, fake_embedder)
    assert (report.reason, report.updated, report.unchanged, report.embedded) == ("articles changed", 1, 2, 1)
    [top] = index.search("Rain expected in Sfax", k=1)  # the open index follows the build
    assert top.text == "Rain is expected in Sfax."
    assert all("sunny" not in h.text for h in index.search("sunny weather in Tunis", k=3))
    (settings.seeds_dir / "kremlin.json").rename(settings.seeds_dir / "moved.json")  # same content: vectors reused
    (settings.seeds_dir / "negotiator.json").unlink()
    report = build(settings, fake_embedder)
    assert (report.added, report.removed, report.embedded, report.chunks) == (1, 2, 0, 2)
    assert {r.id for r in index.store.articles()} == {"moved.json#1", "weather.json#1"}
    assert {h.article_id for h in index.search("اجتماع", k=5, mode="dense")} == {"moved.json#1", "weather.json#1"}


def test_scope_filters_and_exclusions_inside_both_retrievers(settings, fake_embedder):
    build(settings, fake_embedder)
    index = Index(settings, fake_embedder)
    for mode in ("dense", "lexical", "hybrid"):
        dated = index.search("اجتماع", k=3, mode=mode, scope=Scope(since="2025-12-21"))
        assert [h.article_id for h in dated] == ["negotiator.json#1"], mode
        until = index.search("اجتماع", k=3, mode=mode, scope=Scope(until="2025-12-21"))
        assert [h.article_id for h in until] == ["kremlin.json#1"], mode
        by_site = index.search("اجتماع", k=3, mode=mode, scope=Scope(sources=("WWW.Example.com", "other.org")))
        assert {h.article_id for h in by_site} == {"kremlin.json#1", "negotiator.json#1"}, mode
        by_name = index.search("اجتماع", k=3, mode=mode, scope=Scope(sources=("example news",)))
        assert [h.article_id for h in by_name] == ["kremlin.json#1"], mode
        kept_out = index.search("اجتماع", k=3, mode=mode, exclude=frozenset({"kremlin.json#1"}))
        assert "kremlin.json#1" not in {h.article_id for h in kept_out} and kept_out, mode


def test_other_embedder_is_refused_and_builds_are_serialised(settings, fake_embedder):
    build(settings, fake_embedder)
    other = settings.model_copy(update={"embedder": EmbedderSettings(model="another-model")})
    with pytest.raises(IndexMismatchError, match=r"embedder 'fake-embedder'.*rag index --rebuild"):
        Index(other, embedder=type(fake_embedder)("another-model"))
    engine = engine_for(settings)
    with engine.lock(wait=False):
        assert not build_index(settings, embedder=fake_embedder, show_progress=False, wait=False).built  # (no lock)
        write_articles(settings.seeds_dir, {"extra.json": {"title": "Extra", "text": "A new article about Sousse."}})
        with pytest.raises(IndexBusyError, match="another `rag index`"):
            build_index(settings, embedder=fake_embedder, show_progress=False, wait=False)
    (settings.seeds_dir / "extra.json").unlink()
    report = build_index(other, embedder=type(fake_embedder)("another-model"), show_progress=False)
    assert report.built and report.chunks == 3  # the mismatch rebuilds everything with the new embedder
    assert Index(other, embedder=type(fake_embedder)("another-model")).search("Tunis", k=1)


def test_a_rebuild_drops_the_articles_deleted_since(settings, fake_embedder):
    """`--rebuild` has no previous index to tell the store what was removed: the store finds it."""
    build(settings, fake_embedder)
    (settings.seeds_dir / "kremlin.json").unlink()
    report = build_index(settings, embedder=fake_embedder, force=True, show_progress=False)
    assert report.built and report.articles == 2
    index = Index(settings, embedder=fake_embedder)
    assert sorted(r.id for r in index.store.articles()) == ["negotiator.json#1", "weather.json#1"]
    assert all(h.article_id != "kremlin.json#1" for h in index.search("الكرملين بيسكوف", k=3, mode="lexical"))


def test_location_key_names_the_store():
    assert location_key(Settings(store=StoreSettings(uri="http://127.0.0.1:19530", collection="a"))).endswith("#a")
    folder = Settings(store=StoreSettings(uri="/tmp/some-index"))
    assert folder.index_dir == Path("/tmp/some-index") and location_key(folder) == "/tmp/some-index"


# -- Milvus only ---------------------------------------------------------------------------------------------

BUILDER = """
import logging, sys
sys.path.insert(0, {repo!r})
from tests.helpers import FakeEmbedder
from rag.config import Settings
from rag.indexing import build_index
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
build_index(Settings.model_validate_json(sys.argv[1]), embedder=FakeEmbedder(), show_progress=False)
"""


def corpus(version: str, count: int) -> dict[str, dict[str, str]]:
    """`count` articles of several sentences; `version` marks every sentence of its text."""
    return {
        f"a{i:03d}.json": {
            "title": f"article {i}",
            "text": " ".join(f"Sentence {j} of article {i} says {version} about topic {i * 7 + j}." for j in range(12)),
        }
        for i in range(count)
    }


KILLED_BUILD_ARTICLES = 150  # three batches of switches (64 articles each): killed after the first, two to go


def test_build_killed_mid_way_leaves_each_article_old_or_new_and_the_rerun_completes(tmp_path, fake_settings, caplog):
    """SIGKILL a Milvus Lite build once it has switched some articles: each article is then wholly at its old
    or its new version (none missing), and the re-run finishes the rest and lists every stale chunk for removal."""
    seeds = tmp_path / "seeds"
    settings = on_milvus_lite(fake_settings, tmp_path, corpus("old", KILLED_BUILD_ARTICLES))
    settings.store.lease_seconds = 5.0  # the rerun waits out the killed build's lease: 5 s, not 30
    script = BUILDER.format(repo=str(REPO))
    run = [sys.executable, "-c", script, settings.model_dump_json()]
    subprocess.run(run, check=True, capture_output=True, cwd=REPO, timeout=600)
    write_articles(seeds, corpus("new", KILLED_BUILD_ARTICLES))
    builder = subprocess.Popen(run, cwd=REPO, stderr=subprocess.PIPE, text=True)
    for line in builder.stderr:  # the engine logs each batch of articles it switches
        if line.startswith("switched") and int(line.split()[1]) >= 64:
            break
    assert builder.poll() is None, "the build finished before it could be killed"
    builder.send_signal(signal.SIGKILL)
    builder.wait()

    embedder = FakeEmbedder()
    index = Index(settings, embedder)
    versions = []
    for record in index.store.articles():
        chunks, _ = index.store.chunks_with_vectors([record.id])
        text = " ".join(c.text for c in chunks)
        assert len(chunks) == record.chunks > 0, record.id
        assert ("old" in text) != ("new" in text), f"{record.id} mixes versions"
        versions.append("new" if "new" in text else "old")
    assert len(versions) == KILLED_BUILD_ARTICLES and 0 < versions.count("new") < KILLED_BUILD_ARTICLES
    with caplog.at_level("WARNING", logger="rag.stores.milvus"):
        report = build_index(settings, embedder=embedder, show_progress=False)
    assert "another `rag index` is building" in caplog.text  # the killed build's lease, waited out
    assert (report.updated, report.unchanged) == (versions.count("old"), versions.count("new"))
    engine = engine_for(settings)
    store = engine.open()
    stored = engine.client.query(engine.names.chunks, filter="", output_fields=["count(*)"])[0]["count(*)"]
    waiting = sum(count for _, _, count in engine.meta_value("stale"))  # retired versions, deleted together later
    assert stored == store.size + waiting and store.size == sum(r.chunks for r in store.articles())
    assert all(
        "old" not in c.text
        for c in store.chunks_with_vectors([f"a{i:03d}.json#1" for i in range(KILLED_BUILD_ARTICLES)])[0]
    )
    engine.drop()


def test_two_processes_share_one_milvus_server(tmp_path, fake_settings, fake_embedder, milvus_server):
    """A build in another process is seen by this process's open index at its next search, without reopening."""
    seeds = tmp_path / "seeds"
    write_articles(seeds, ARTICLES)
    settings = fake_settings(seeds, tmp_path / "index").model_copy(
        update={"store": StoreSettings(uri=milvus_server, collection="shared")}
    )
    run = [sys.executable, "-c", BUILDER.format(repo=str(REPO)), settings.model_dump_json()]
    first = subprocess.run(run, check=True, capture_output=True, text=True, cwd=REPO, timeout=300, env=dict(os.environ))
    assert "ERROR" not in first.stderr  # Lite refusing HNSW (the store falls back to FLAT) is not an error
    index = Index(settings, fake_embedder)
    assert "olive" not in index.search("olive harvest", k=1)[0].text
    write_articles(seeds, {"olive.json": {"title": "Olives", "text": "The olive harvest starts early in Sfax."}})
    subprocess.run(run, check=True, capture_output=True, cwd=REPO, timeout=300)
    assert index.search("olive harvest", k=1)[0].article_id == "olive.json#1"


def assert_carried_view_is_the_stored_one(settings) -> None:
    """The view a Milvus build carries over for its process's next (changed by what the build changed) is the one a
    new process reads from the index."""
    engine = engine_for(settings)
    carried = engine.current()
    engine.snapshot = None
    stored = engine.current()
    for view in (carried, stored):
        assert view.chunks == sum(entry[1] for entry in view.entries.values())
    assert carried.manifest.articles == stored.manifest.articles and carried.manifest.copies == stored.manifest.copies
    assert carried.chunks == stored.chunks and set(carried.entries) == set(stored.entries)


def test_old_versions_wait_unseen_and_are_purged_together(tmp_path, fake_settings, fake_embedder, monkeypatch):
    """A change deletes nothing itself (a Milvus Lite delete costs what the collection holds): the old version
    is retired, never seen by searches or the article list, and retired versions are deleted together."""
    from rag.stores.milvus import writing

    monkeypatch.setattr(writing, "PURGE_AT", 2)
    seeds = tmp_path / "seeds"
    settings = on_milvus_lite(fake_settings, tmp_path, ARTICLES)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    engine = engine_for(settings)

    def stored() -> int:
        return engine.client.query(engine.names.chunks, filter="", output_fields=["count(*)"])[0]["count(*)"]

    rain = {"title": "Weather", "text": "Rain and hail are expected in Tunis on Monday, with strong winds."}
    write_articles(seeds, {"weather.json": rain})
    build_index(settings, embedder=fake_embedder, show_progress=False)
    index = Index(settings, fake_embedder)
    assert stored() > index.store.size  # the old version waits
    assert_carried_view_is_the_stored_one(settings)
    for mode in ("dense", "lexical", "hybrid"):
        assert all("sunny" not in h.text for h in index.search("weather in Tunis sunny light winds", k=3, mode=mode))
    assert index.article_text("weather.json#1").startswith("Rain and hail")
    assert [r.id for r in index.store.articles()] == sorted(r.id for r in index.store.articles())
    assert len(index.store.articles()) == 3
    write_articles(seeds, {"weather.json": ARTICLES["weather.json"]})  # back to the first version
    build_index(settings, embedder=fake_embedder, show_progress=False)
    assert stored() == engine.open().size  # two retired versions, purged together, but the active one kept
    assert "sunny" in index.search("weather in Tunis sunny", k=1)[0].text
    write_articles(seeds, {"weather.json": rain})  # the purged version again: written anew
    build_index(settings, embedder=fake_embedder, show_progress=False)
    assert "Rain and hail" in index.search("rain and hail in Tunis", k=1)[0].text
    assert len(index.store.chunks_with_vectors(["weather.json#1"])[0]) > 0
    engine.drop()


@pytest.mark.parametrize("store", ["local", "milvus_lite"])
def test_near_duplicates_that_come_and_go_update_their_article(tmp_path, fake_settings, fake_embedder, store):
    """Only the near-duplicate list of an article changes (no new chunks): both engines show it, and drop it."""
    from tests.helpers import reposted, stories

    first, second = stories(2)
    seeds = tmp_path / "seeds"
    wire = {"text": first["text"], "date": "2024-05-01"}  # (the earlier story is the one kept)
    write_articles(seeds, {"wire.json": wire, "other.json": {"text": second["text"]}})
    settings = fake_settings(seeds, tmp_path / "index", max_tokens=60)
    if store == "milvus_lite":
        settings = settings.model_copy(update={"store": StoreSettings(uri=str(tmp_path / "index.db"))})
    build_index(settings, embedder=fake_embedder, show_progress=False)
    write_articles(seeds, {"site.json": {"text": reposted(first["text"]), "source": "Site", "date": "2024-05-02"}})
    assert build_index(settings, embedder=fake_embedder, show_progress=False).embedded == 0
    if store == "milvus_lite":
        assert_carried_view_is_the_stored_one(settings)
    index = Index(settings, fake_embedder)
    records = {r.id: r for r in index.store.articles()}
    assert [c.id for c in records["wire.json#1"].copies] == ["site.json#1"] and not records["other.json#1"].copies
    (seeds / "site.json").unlink()
    build_index(settings, embedder=fake_embedder, show_progress=False)
    assert all(not r.copies for r in Index(settings, fake_embedder).store.articles())
    if store == "milvus_lite":
        assert_carried_view_is_the_stored_one(settings)
        engine_for(settings).drop()


def test_a_milvus_index_laid_out_by_an_older_version_asks_for_a_rebuild(tmp_path, fake_settings, fake_embedder):
    """An index written by an older rag-news (articles keyed by id, layout 1) is not misread: opening it says to
    rebuild, and `rag index --rebuild` drops and rebuilds it."""
    settings = on_milvus_lite(fake_settings, tmp_path, ARTICLES)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    engine = engine_for(settings)
    engine.put_meta("layout", 1)
    engine.snapshot = None  # (as in a new process)
    with pytest.raises(IndexMismatchError, match=r"older rag-news.*rag index --rebuild"):
        Index(settings, fake_embedder)
    build_index(settings, embedder=fake_embedder, force=True, show_progress=False)
    assert Index(settings, fake_embedder).search("الكرملين", k=1)[0].article_id == "kremlin.json#1"
    engine_for(settings).drop()


# The local folder (plain-text articles).

PLAIN_ARTICLES = {
    "kremlin.txt": "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع المرتقب في ميامي.",
    "negotiator.txt": "أعلن كبير المفاوضين الأوكرانيين رستم أوميروف عن اجتماع في الولايات المتحدة.",
    "weather.txt": "The weather in Tunis will be sunny with light winds on Sunday.",
}


def plain_text_settings(tmp_path: Path, **chunking: int) -> Settings:
    """Three plain-text articles on the local store, with the fake embedder."""
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    for name, text in PLAIN_ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        embedder=EmbedderSettings(model="fake-embedder"),
        chunking=ChunkSettings(**({"max_tokens": 50, "overlap_tokens": 5} | chunking)),
    )


def test_round_trip_search_returns_hits_with_offsets(tmp_path, fake_embedder):
    settings = plain_text_settings(tmp_path)
    report = build_index(settings, embedder=fake_embedder, show_progress=False)
    assert report.built and report.articles == 3 and report.chunks == 3
    index = Index.open(settings.index_dir, settings, embedder=fake_embedder)
    [top, *_] = index.search("The weather in Tunis on Sunday", k=3)
    assert top.article_id == "weather.txt" and top.path == "weather.txt"
    assert index.article_text(top.article_id)[top.start : top.end] == top.text
    manifest = read_manifest(settings.index_dir)
    assert manifest.embedder == "fake-embedder" and manifest.dimension == fake_embedder.dimension
    assert set(manifest.articles) == set(PLAIN_ARTICLES)


def test_unchanged_articles_are_not_embedded_again(tmp_path, fake_embedder):
    settings = plain_text_settings(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    embedded = fake_embedder.documents_encoded
    again = build_index(settings, embedder=fake_embedder, show_progress=False)
    assert not again.built and fake_embedder.documents_encoded == embedded
    (settings.seeds_dir / "weather.txt").write_text("Rain is expected in Sfax.", encoding="utf-8")
    assert build_index(settings, embedder=fake_embedder, show_progress=False).reason == "articles changed"


def test_missing_index_says_how_to_build(tmp_path, fake_embedder):
    settings = plain_text_settings(tmp_path)
    with pytest.raises(IndexMissingError, match="rag index --index"):
        Index(settings, embedder=fake_embedder)


def test_other_embedder_or_chunker_is_refused_with_rebuild_advice(tmp_path, fake_embedder):
    settings = plain_text_settings(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    other_model = settings.model_copy(update={"embedder": EmbedderSettings(model="another-model")})
    with pytest.raises(IndexMismatchError, match=r"embedder 'fake-embedder'.*rag index --rebuild --index"):
        Index(other_model, embedder=type(fake_embedder)("another-model"))
    other_chunks = settings.model_copy(update={"chunking": ChunkSettings(max_tokens=99, overlap_tokens=5)})
    with pytest.raises(IndexMismatchError, match="chunking"):
        Index(other_chunks, embedder=fake_embedder)


def test_open_index_follows_a_rebuild(tmp_path, fake_embedder):
    settings = plain_text_settings(tmp_path)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    index = Index(settings, embedder=fake_embedder)
    (settings.seeds_dir / "new.txt").write_text("Olive harvest starts early in Sfax.", encoding="utf-8")
    build_index(settings, embedder=fake_embedder, show_progress=False)
    assert index.search("Olive harvest in Sfax", k=1)[0].article_id == "new.txt"
    assert len(list(settings.index_dir.glob("gen-*"))) == 2  # the current one and the previous one


def test_chunk_settings_reject_overlap_not_below_budget():
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkSettings(max_tokens=10, overlap_tokens=10)


def test_milvus_lite_is_not_served_off_loopback_unless_asked(tmp_path):
    from rag.stores.milvus.lite import exposure_problem

    assert exposure_problem("127.0.0.1", unprotected=False) is None
    assert exposure_problem("0.0.0.0", unprotected=True) is None
    refused = subprocess.run(
        [sys.executable, "-m", "rag.cli", "milvus-lite", str(tmp_path / "m.db"), "--host", "0.0.0.0", "--port", "9"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "refusing to serve Milvus Lite on 0.0.0.0" in refused.stderr and not (tmp_path / "m.db").exists()


def test_a_replica_with_a_folder_of_its_own_is_refused_and_deletes_nothing(settings, fake_embedder, tmp_path):
    """Two replicas on one index, each with its own articles folder: the second one's build would delete the first
    one's articles, so it is refused with what to do; a copy of the folder is the same folder; --rebuild takes over."""
    import shutil

    from rag.stores import ForeignFolderError

    build(settings, fake_embedder)
    other = tmp_path / "other-seeds"
    write_articles(other, {"olive.json": {"title": "Olives", "text": "The olive harvest starts early in Sfax."}})
    replica = settings.model_copy(update={"seeds_dir": other})
    with pytest.raises(ForeignFolderError, match=r"built from the articles folder .*rag index --rebuild"):
        build(replica, fake_embedder)
    assert {r.id for r in Index(settings, fake_embedder).store.articles()} == set(ids_of(ARTICLES))
    copy = tmp_path / "copied-seeds"
    shutil.copytree(settings.seeds_dir, copy)  # its folder id comes along
    assert not build(settings.model_copy(update={"seeds_dir": copy}), fake_embedder).built
    report = build_index(replica, embedder=fake_embedder, show_progress=False, force=True)
    assert report.built and {r.id for r in Index(replica, fake_embedder).store.articles()} == {"olive.json#1"}
    build(replica, fake_embedder)  # now its folder


def ids_of(articles: dict[str, dict[str, str]]) -> list[str]:
    return [f"{name}#1" for name in articles]


def test_an_article_with_details_too_long_for_a_store_is_cut_and_the_next_build_passes(settings, fake_embedder):
    """A 5,000-character Arabic title (10,000 bytes) and an over-long id and URL: cut at ingestion to what every
    store keeps, so this build and the next pass."""
    long = {
        "id": "x" * 2000,
        "title": "عنوان " * 1000,
        "text": "خبر قصير عن الطقس في صفاقس.",
        "url": "https://example.com/" + "a" * 5000,
        "source": "مصدر " * 200,
    }
    write_articles(settings.seeds_dir, {"long.json": long})
    build(settings, fake_embedder)
    [record] = [r for r in Index(settings, fake_embedder).store.articles() if r.path == "long.json"]
    assert len(record.id.encode()) <= 1024 and len(record.title.encode()) <= 4096 and record.title.endswith("…")
    assert record.url is None and len((record.source or "").encode()) <= 512
    write_articles(settings.seeds_dir, {"more.json": {"title": "More", "text": "Another short article."}})
    assert build(settings, fake_embedder).built
