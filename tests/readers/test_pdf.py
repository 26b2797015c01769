"""rag/readers/pdf.py: an Arabic PDF in reading order with its metadata; scanned, encrypted and huge ones refused."""

import io
from pathlib import Path

import pytest

from rag.readers import ArticleError, read

DATA = Path(__file__).parents[1] / "data"


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
