"""rag/readers: web pages (Arabic, RTL, UTF-8 and Windows-1256), PDF, Word, Markdown, records; bad input."""

import io
import json
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.extraction import page_scores
from rag.readers import ArticleError, read
from rag.readers.web import saved_page
from tests.helpers import corpus_records, news_page

DATA = Path(__file__).parents[1] / "data"
NOISE = ("الرئيسية", "أخبار ذات صلة", "تعليقات القراء", "جميع الحقوق محفوظة", "اشترك في النشرة")


@pytest.mark.parametrize("charset", ["utf-8", "windows-1256"])
@pytest.mark.parametrize("layout", [0, 1, 2])
def test_arabic_news_pages_come_out_clean(charset, layout):
    article = corpus_records(3)[layout]
    [page] = read(news_page(article, charset, layout), ".html")
    precision, recall = page_scores(page.text, article["text"])
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, page.text[:300])
    assert not any(noise in page.text for noise in NOISE)
    assert page.title == article["title"]
    assert page.source == article["source"] and unquote(page.url) == article["url"]
    assert page.date == "2017-01-05"
    assert page.language == "ar"


def test_fetched_page_keeps_its_address_and_pages_claim_only_web_links():
    html = (
        b"<html><head><link rel='canonical' href='javascript:alert(1)'></head><body><article>"
        + (b"<p>A long enough paragraph of article text for the extractor to keep it as the main body.</p>" * 5)
        + b"</article></body></html>"
    )
    [page] = read(saved_page(html, "https://news.example/a/1"), ".html")
    assert page.url == "https://news.example/a/1"


def test_page_that_is_all_script_has_no_text():
    with pytest.raises(ArticleError, match="no text"):
        read(b"<html><body><script>" + b"var a = 1;" * 1000 + b"</script></body></html>", ".html")


def test_arabic_pdf_in_reading_order_with_metadata():
    [page] = read((DATA / "arabic.pdf").read_bytes(), ".pdf")
    assert "تنطلق الدورة الحادية والعشرون لعيد الورد بأريانة" in page.text
    assert "ومسابقات للأطفال" in page.text
    assert page.title == "مهرجان الورد في أريانة" and page.author == "وكالة تونس أفريقيا للأنباء"
    assert page.date == "2017-05-02" and page.language == "ar"


def test_scanned_encrypted_and_huge_pdfs_are_refused_with_their_reason():
    from pypdf import PdfWriter

    with pytest.raises(ArticleError, match=r"no text layer \(scanned PDF\?\)"):
        read((DATA / "scanned.pdf").read_bytes(), ".pdf")
    locked = PdfWriter(clone_from=io.BytesIO((DATA / "arabic.pdf").read_bytes()))
    locked.encrypt(user_password="secret", owner_password="owner")
    with pytest.raises(ArticleError, match="encrypted PDF"):
        read(_bytes(locked), ".pdf")
    bomb = PdfWriter()
    for _ in range(10_000):
        bomb.add_blank_page(10, 10)
    with pytest.raises(ArticleError, match="10000 pages is over the 2000-page limit"):
        read(_bytes(bomb), ".pdf")
    with pytest.raises(ArticleError, match="unreadable PDF"):
        read(b"%PDF-1.7\n this is not a pdf at all", ".pdf")


def _bytes(writer) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_docx_paragraphs_tables_and_properties():
    import datetime

    import docx

    document = docx.Document()
    document.add_heading("نتائج الانتخابات البلدية", level=1)
    document.add_paragraph("فازت القائمة المستقلة بأغلبية المقاعد في المجلس البلدي.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "القائمة", "المقاعد"
    table.cell(1, 0).text, table.cell(1, 1).text = "المستقلة", "12"
    document.core_properties.title = "الانتخابات البلدية"
    document.core_properties.author = "مراسلنا"
    document.core_properties.created = datetime.datetime(2024, 3, 12, 9, 0)
    buffer = io.BytesIO()
    document.save(buffer)
    [page] = read(buffer.getvalue(), ".docx")
    assert page.text.splitlines()[0] == "نتائج الانتخابات البلدية"
    assert "فازت القائمة المستقلة" in page.text and "المستقلة | 12" in page.text
    assert (page.title, page.author, page.date) == ("الانتخابات البلدية", "مراسلنا", "2024-03-12")


def test_docx_zip_bomb_and_plain_zip_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (300 * 2**20))
    with pytest.raises(ArticleError, match="over the 200 MB limit"):
        read(buffer.getvalue(), ".docx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (50 * 2**20))
    with pytest.raises(ArticleError, match="zip bomb"):
        read(buffer.getvalue(), ".docx")
    with pytest.raises(ArticleError, match="not a Word document"):
        read(b"PK\x03\x04 not really a zip", ".docx")


def test_markdown_headings_and_link_text_kept_urls_and_images_dropped():
    [page] = read(b"# Title\n\nSee [the report](http://x.example/r) ![chart](http://x.example/c.png) now.", ".md")
    assert page.text == "Title\n\nSee the report now."


def test_records_keep_metadata_with_dates_normalised():
    record = {"id": 7, "text": "نص الخبر.", "title": "عنوان", "date": "٢٩ نوفمبر ٢٠٢٥", "source": "Jawhara FM"}
    [page] = read(json.dumps(record, ensure_ascii=False).encode(), ".jsonl")
    assert (page.key, page.date, page.source, page.title) == ("7", "2025-11-29", "Jawhara FM", "عنوان")
