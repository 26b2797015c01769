"""rag/duplicates.py: one story from two sites is indexed once with both sources; other stories stay apart."""

from __future__ import annotations

import json
from pathlib import Path

from rag import duplicates
from rag.duplicates import NearDuplicates, merge_near_duplicates
from rag.indexing import build_index
from rag.retrieval import Index
from rag.types import Article
from tests.helpers import reposted, stories


def article(id: str, text: str, source: str, date: str) -> Article:
    return Article(id, "t", text, id, id, date=date, source=source, url=f"https://{source}.example/{id}")


def test_a_repost_is_merged_into_the_earlier_article_and_other_stories_stay():
    first, second, third = stories(3)
    wire = article("wire.html", first["text"], "wire", "2024-05-01")
    copy = article("site.html", reposted(first["text"]), "site", "2024-05-02")
    others = [article(f"{i}.html", s["text"], "wire", "2024-05-03") for i, s in enumerate((second, third))]
    kept, notes = merge_near_duplicates([copy, *others, wire], 0.8)
    assert [a.id for a in kept] == ["0.html", "1.html", "wire.html"]
    [merged] = [a for a in kept if a.copies]
    assert merged.id == "wire.html" and [c.id for c in merged.copies] == ["site.html"]
    assert merged.copies[0].source == "site" and merged.copies[0].similarity >= 0.8
    assert notes == [
        f"site.html: same story as wire.html ({merged.copies[0].similarity:.0%} alike), indexed once with both sources"
    ]
    assert merge_near_duplicates([copy, wire], 2.0)[0] == [copy, wire]  # off


def test_near_duplicates_kept_between_calls_merge_as_afresh_and_sign_only_changed_articles(monkeypatch):
    first, second, third = stories(3)
    signed = []
    sign = duplicates._signature
    monkeypatch.setattr(duplicates, "_signature", lambda text: signed.append(text) or sign(text))
    wire = article("wire.html", first["text"], "wire", "2024-05-01")
    copy = article("site.html", reposted(first["text"]), "site", "2024-05-02")
    other = article("other.html", second["text"], "wire", "2024-05-03")
    edited = Article("wire.html", "t", third["text"], "wire.html", "edited", date="2024-05-01", source="wire")
    finder = NearDuplicates(0.8)
    steps = [[wire, other], [copy, other, wire], [copy, other, edited], [copy, other], [copy, wire, other]]
    for articles, new in zip(steps, [2, 1, 1, 0, 1], strict=True):  # only the articles added or changed are signed
        before = len(signed)
        kept = finder.merge(articles)
        assert len(signed) - before == new
        assert kept == merge_near_duplicates(articles, 0.8)
    assert len(finder.merge(steps[2])[0]) == 3  # the edited wire story has no copy
    kept, _ = finder.merge(steps[1])
    assert [a.id for a in kept] == ["other.html", "wire.html"] and kept[1].copies[0].id == "site.html"


def test_build_indexes_the_story_once_and_a_later_copy_is_recorded_without_embedding(
    tmp_path: Path, fake_embedder, fake_settings
):
    first, second = stories(2)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "wire.json").write_text(
        json.dumps({"text": first["text"], "source": "Wire", "date": "2024-05-01"}, ensure_ascii=False), "utf-8"
    )
    (seeds / "other.json").write_text(
        json.dumps({"text": second["text"], "source": "Wire"}, ensure_ascii=False), "utf-8"
    )
    settings = fake_settings(seeds, tmp_path / "index", max_tokens=60)
    build_index(settings, embedder=fake_embedder, show_progress=False)
    (seeds / "site.json").write_text(
        json.dumps({"text": reposted(first["text"]), "source": "Site", "date": "2024-05-02"}, ensure_ascii=False),
        "utf-8",
    )
    report = build_index(settings, embedder=fake_embedder, show_progress=False)
    assert report.built and report.reason == "near-duplicates changed" and report.embedded == 0
    assert report.merged and report.merged[0].startswith("site.json#1: same story as wire.json#1")
    records = {r.id: r for r in Index(settings, embedder=fake_embedder).store.articles()}
    assert set(records) == {"wire.json#1", "other.json#1"}
    assert [(c.id, c.source) for c in records["wire.json#1"].copies] == [("site.json#1", "Site")]
    assert not build_index(settings, embedder=fake_embedder, show_progress=False).built
