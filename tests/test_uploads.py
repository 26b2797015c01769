"""rag/uploads.py: safe names, checks before a file lands, nothing written outside the articles folder."""

import json
from pathlib import Path

import pytest

from rag.uploads import ArticleNotFound, UploadRefused, delete_article, safe_name, save_upload, save_uploads

TEXT = "قال المتحدث إن الاجتماع كان مثمرا.".encode()


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../x.md", "x.md"),
        ("/etc/x.md", "x.md"),
        ("..\\..\\x.md", "x.md"),
        ("a\x00b.txt", "a_b.txt"),
        (".hidden.txt", "hidden.txt"),
        ("خبر عاجل.TXT", "خبر عاجل.txt"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_safe_name_keeps_uploads_inside_the_folder(name: str, stored: str):
    assert safe_name(name) == stored


@pytest.mark.parametrize("name", ["", "..", "../", "noext", "x.exe", "....txt", "/"])
def test_unusable_names_are_refused_with_one_line(name: str):
    with pytest.raises(UploadRefused) as refused:
        safe_name(name)
    assert "\n" not in str(refused.value)


def test_every_hostile_name_lands_inside_the_folder(tmp_path: Path):
    folder = tmp_path / "seeds"
    names = ["../../x.md", "/etc/y.md", "..\\z.md", "n\x00ul.txt", "x" * 300 + ".txt"]
    report = save_uploads(folder, [(n, TEXT, 0) for n in names], 2**20, 10)
    assert len(report.saved) == 5 and not report.refused
    assert sorted(p.name for p in folder.iterdir()) == sorted(report.saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seeds"]


def test_existing_name_is_refused_unless_replaced(tmp_path: Path):
    save_upload(tmp_path, "a.txt", TEXT, 2**20, 10)
    with pytest.raises(UploadRefused, match="exists"):
        save_upload(tmp_path, "a.txt", b"other", 2**20, 10)
    save_upload(tmp_path, "a.txt", "نص جديد".encode(), 2**20, 10, replace=True)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "نص جديد"


def test_files_that_are_not_articles_leave_nothing_behind(tmp_path: Path):
    too_many = "\n".join(json.dumps({"text": f"نص {i}"}) for i in range(5)).encode()
    report = save_uploads(
        tmp_path,
        [("big.txt", b"x" * 2000, 0), ("empty.txt", b" ", 0), ("many.jsonl", too_many, 0), ("bad.json", b"{", 0)],
        1000,
        3,
    )
    assert not report.saved
    assert [r.split(":")[0] for r in report.refused] == ["big.txt", "empty.txt", "many.jsonl", "bad.json"]
    assert "over the limit of 3" in report.refused[2]
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_delete_article_removes_its_file_only_inside_the_folder(tmp_path: Path):
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.txt").write_bytes(TEXT)
    (tmp_path / "outside.txt").write_bytes(TEXT)
    assert delete_article(folder, "a.txt") == "a.txt"
    assert not (folder / "a.txt").exists()
    for missing in ("a.txt", "../outside.txt", str(tmp_path / "outside.txt"), ""):
        with pytest.raises(ArticleNotFound):
            delete_article(folder, missing)
    assert (tmp_path / "outside.txt").exists()
    with pytest.raises(UploadRefused, match="one record of b.jsonl"):
        delete_article(folder, "b.jsonl#3")


def test_a_file_that_crashes_its_parser_is_refused_and_the_rest_of_the_batch_is_saved(tmp_path: Path):
    """100,000 nested JSON lists make the JSON reader raise RecursionError (not an ArticleError): that file is
    refused with one line, the files before and after it are saved, and no temporary file is left."""
    folder = tmp_path / "seeds"
    files = [("a.md", TEXT, 0), ("deep.json", b"[" * 100_000, 0), ("b.md", TEXT, 0)]
    report = save_uploads(folder, files, 2**20, 10)
    assert report.saved == ["a.md", "b.md"]
    assert len(report.refused) == 1 and report.refused[0].startswith("deep.json: ") and "\n" not in report.refused[0]
    assert sorted(p.name for p in folder.iterdir()) == ["a.md", "b.md"]
