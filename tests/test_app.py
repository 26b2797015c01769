"""app.py helpers: the sources panel, upload filtering and build summaries (no server started)."""

from pathlib import Path

from app import add_articles, build_summary, sources_html
from rag import Answer, BuildReport, Citation, Hit


def test_sources_panel_highlights_the_cited_span_and_escapes_html():
    hit = Hit(3, 0.9, 0.9, "قال <b>بيسكوف</b> إن الاجتماع مهم. ثم غادر.", "a.txt", "عنوان & خبر", "a.txt", 100, 140)
    answer = Answer("q", "بيسكوف [1]", False, "ar", (Citation(1, hit, 100, 134),), (hit,), (hit,), "generated")
    panel = sources_html(answer)
    assert "<mark>قال &lt;b&gt;بيسكوف&lt;/b&gt; إن الاجتماع مهم.</mark> ثم غادر." in panel
    assert "[1] عنوان &amp; خبر" in panel and "dir='auto'" in panel
    assert "checked against its source" in panel


def test_abstention_shows_no_sources():
    assert "No passage" in sources_html(Answer("q", "no", True, "en", method="abstained"))


def test_add_articles_copies_allowed_files_and_refuses_others(tmp_path: Path):
    upload, seeds = tmp_path / "upload", tmp_path / "seeds"
    upload.mkdir()
    seeds.mkdir()
    (upload / "خبر.txt").write_text("نص", encoding="utf-8")
    (upload / "tool.exe").write_bytes(b"MZ")
    (upload / "big.md").write_bytes(b"x" * (2 * 2**20))
    refused = add_articles([str(p) for p in sorted(upload.iterdir())], seeds, max_mb=1)
    assert [p.name for p in seeds.iterdir()] == ["خبر.txt"]
    assert any(r.startswith("tool.exe: not an article file") for r in refused)
    assert any(r.startswith("big.md: 2.0 MB is over the 1 MB limit") for r in refused)


def test_build_summary_lists_changes_and_skipped_files():
    report = BuildReport(True, "articles changed", 3, 9, 1.5, ["x.txt: skipped, empty file"], 1, 1, 0, 1, 4)
    assert build_summary(report) == (
        "Indexed 3 articles: 1 added, 1 updated, 0 removed, 1 unchanged (1.5s).\n- x.txt: skipped, empty file"
    )
