"""rag/indexing.py: incremental builds, the build lock, and bad input that never costs good data."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from filelock import FileLock

from rag.config import ChunkSettings, EmbedderSettings, Settings
from rag.indexing import build_index
from rag.retrieval import Index
from rag.stores import IndexBusyError
from rag.stores.local import read_manifest

ARTICLES = {
    f"article-{i}.txt": f"الخبر رقم {i} عن مدينة {city}. يتحدث هذا الخبر عن {topic} في {city} بالتفصيل."
    for i, (city, topic) in enumerate(
        [("تونس", "الزيتون"), ("صفاقس", "الموانئ"), ("سوسة", "السياحة"), ("بنزرت", "الصيد"), ("قابس", "الواحات")]
    )
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, text in ARTICLES.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return Settings(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        embedder=EmbedderSettings(model="fake-embedder"),
        chunking=ChunkSettings(max_tokens=12, overlap_tokens=3),
    )


def build(settings: Settings, embedder, **options):
    return build_index(settings, embedder=embedder, show_progress=False, **options)


def test_changing_one_article_embeds_only_its_chunks(settings, fake_embedder):
    first = build(settings, fake_embedder)
    assert (first.added, first.embedded) == (5, first.chunks) and fake_embedder.documents_encoded == first.chunks
    (settings.seeds_dir / "article-2.txt").write_text("خبر جديد تماما عن مهرجان قرطاج الدولي.", encoding="utf-8")
    before = fake_embedder.documents_encoded
    second = build(settings, fake_embedder)
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 1, 0, 4)
    assert fake_embedder.documents_encoded - before == second.embedded == 1  # the one short chunk of article-2
    index = Index(settings, embedder=fake_embedder)
    assert index.search("مهرجان قرطاج الدولي", k=1, mode="lexical")[0].article_id == "article-2.txt"
    assert not any(h.article_id == "article-2.txt" for h in index.search("السياحة في سوسة", k=10, mode="lexical"))


def test_unchanged_run_embeds_nothing(settings, fake_embedder):
    build(settings, fake_embedder)
    before = fake_embedder.documents_encoded
    report = build(settings, fake_embedder)
    assert not report.built and report.unchanged == 5 and fake_embedder.documents_encoded == before


def test_two_records_with_one_id_index_the_first_and_a_rerun_is_up_to_date(settings, fake_embedder):
    records = [{"id": "7", "text": "خبر أول عن ميناء طرطوس."}, {"id": "7", "text": "خبر ثان عن سد النهضة."}]
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    (settings.seeds_dir / "feed.jsonl").write_text(lines, encoding="utf-8")
    first = build(settings, fake_embedder)
    assert first.problems == ["feed.jsonl#7: skipped, an earlier article has the same id"]
    [hit] = Index(settings, embedder=fake_embedder).search("ميناء طرطوس", k=1, mode="lexical")
    assert hit.article_id == "feed.jsonl#7" and "سد النهضة" not in hit.text
    assert not build(settings, fake_embedder).built


def test_deleted_article_cannot_be_retrieved(settings, fake_embedder):
    build(settings, fake_embedder)
    (settings.seeds_dir / "article-4.txt").unlink()
    report = build(settings, fake_embedder)
    assert (report.removed, report.unchanged, report.embedded) == (1, 4, 0)
    index = Index(settings, embedder=fake_embedder)
    assert "article-4.txt" not in read_manifest(settings.index_dir).articles
    for mode in ("dense", "lexical", "hybrid"):
        assert all(h.article_id != "article-4.txt" for h in index.search("الواحات في قابس", k=20, mode=mode))


def test_deleting_articles_does_not_call_the_embedder(settings, fake_embedder, monkeypatch):
    build(settings, fake_embedder)

    def refuse(*args, **kwargs):
        raise AssertionError("a deletion-only build must not embed (or load the model)")

    monkeypatch.setattr(fake_embedder, "encode_documents", refuse)
    (settings.seeds_dir / "article-4.txt").unlink()
    assert build(settings, fake_embedder).removed == 1
    for name in list(ARTICLES)[:4]:
        (settings.seeds_dir / name).unlink()
    report = build(settings, fake_embedder)
    assert (report.removed, report.articles, report.chunks) == (4, 0, 0)
    assert read_manifest(settings.index_dir).dimension == fake_embedder.dimension
    for mode in ("dense", "lexical", "hybrid"):  # an empty index answers with nothing
        assert Index(settings, embedder=fake_embedder).search("الزيتون في تونس", k=5, mode=mode) == []


def test_a_moved_article_keeps_its_chunks_and_vectors(settings, fake_embedder):
    first = build(settings, fake_embedder)
    (settings.seeds_dir / "2025").mkdir()
    (settings.seeds_dir / "article-4.txt").rename(settings.seeds_dir / "2025" / "article-4.txt")  # same title
    before = fake_embedder.documents_encoded
    report = build(settings, fake_embedder)
    assert (report.added, report.removed, report.unchanged, report.embedded) == (1, 1, 4, 0)
    assert report.chunks == first.chunks and fake_embedder.documents_encoded == before
    hits = Index(settings, embedder=fake_embedder).search("الواحات في قابس", k=3, mode="lexical")
    assert hits[0].article_id == "2025/article-4.txt"


def test_rebuild_embeds_everything_again(settings, fake_embedder):
    first = build(settings, fake_embedder)
    again = build(settings, fake_embedder, force=True)
    assert again.built and again.embedded == first.chunks


def test_two_builds_at_once_end_with_one_consistent_index(settings, fake_embedder):
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(build(settings, fake_embedder))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.built for r in reports) == [False, True]  # the second found the first's index current
    assert set(read_manifest(settings.index_dir).articles) == set(ARTICLES)
    assert len(Index(settings, embedder=fake_embedder)) == max(r.chunks for r in reports)


def test_no_wait_refuses_while_another_build_holds_the_lock(settings, fake_embedder):
    settings.index_dir.mkdir()
    with FileLock(str(settings.index_dir / ".lock")), pytest.raises(IndexBusyError, match="another `rag index`"):
        build(settings, fake_embedder, wait=False)


def test_bad_inputs_are_reported_and_good_articles_indexed(settings, fake_embedder, tmp_path):
    seeds = settings.seeds_dir
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (seeds / "undecodable.txt").write_bytes(bytes(range(0x80, 0x100)) * 8)
    (seeds / "huge.txt").write_bytes(b"a" * (11 * 2**20))
    (seeds / "scripts.html").write_text(
        "<html><script>"
        + "var x = 1;" * 500
        + "</script><style>p{}</style><body><p>خبر عن مهرجان الزيتون.</p></body></html>",
        encoding="utf-8",
    )
    (seeds / "copy of article-1.txt").write_text(ARTICLES["article-1.txt"], encoding="utf-8")
    (seeds / "خبر عربي.txt").write_text("اسم ملف عربي فيه مسافة عن قطار الجنوب.", encoding="utf-8")
    (seeds / "broken.jsonl").write_text('{"title": "أ", "text": "نص"}\n{not json\n', encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("سر خارج المجلد", encoding="utf-8")
    os.symlink(outside, seeds / "link.txt")
    os.symlink(seeds / "missing.txt", seeds / "gone.txt")  # a broken link
    report = build(settings, fake_embedder)
    problems = "\n".join(report.problems)
    for expected in (
        "empty.txt: skipped, empty file",
        "binary.txt: skipped, binary file",
        "undecodable.txt: skipped, undecodable bytes",
        "huge.txt: skipped, 11.0 MB is over the 10 MB limit",
        "copy of article-1.txt: skipped, same content as article-1.txt",
        "broken.jsonl: skipped, line 2 is not JSON",
        "link.txt: skipped, links outside",
        "gone.txt: skipped, No such file or directory",
    ):
        assert expected in problems
    assert len(report.problems) == 8 and all("\n" not in p for p in report.problems)
    indexed = set(read_manifest(settings.index_dir).articles)
    assert indexed == set(ARTICLES) | {"scripts.html", "خبر عربي.txt"}
    index = Index(settings, embedder=fake_embedder)
    [hit] = index.search("مهرجان الزيتون", k=1, mode="lexical")
    assert hit.article_id == "scripts.html" and "var x" not in hit.text
    assert index.search("قطار الجنوب", k=1, mode="lexical")[0].article_id == "خبر عربي.txt"
