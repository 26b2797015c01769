"""rag/readers/office.py: Word documents in document order with their properties; zip bombs refused."""

import io
import zipfile

import pytest

from rag.readers import ArticleError, read


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
