"""Word files (.docx, python-docx): paragraphs and table cells in document order, with the core properties."""

from __future__ import annotations

import io
import zipfile

from rag.dates import iso_date
from rag.readers import ArticleError, Page
from rag.text import clean_whitespace, detect_language

MAX_UNPACKED_BYTES = 200 * 2**20  # a .docx is a zip: refuse what would unpack past this (zip bombs)
MAX_RATIO = 200  # and members compressed more than this (text compresses ~5-10x)


def read_docx(data: bytes) -> list[Page]:
    """A .docx file's text (headings, paragraphs, tables), title, author and creation date."""
    _check_zip(data)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ArticleError(f"not a Word document ({type(error).__name__}: {error})") from None
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            for row in block.rows:
                cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells))  # merged cells repeat
                blocks.append(" | ".join(c for c in cells if c))
        else:
            blocks.append(block.text)
    text = clean_whitespace("\n\n".join(b for b in blocks if b.strip()))
    if not text:
        return []
    properties = document.core_properties
    return [
        Page(
            text=text,
            title=" ".join((properties.title or "").split()),
            author=" ".join((properties.author or "").split()) or None,
            date=iso_date(properties.created),
            language=properties.language or detect_language(text),
        )
    ]


def _check_zip(data: bytes) -> None:
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except zipfile.BadZipFile:
        raise ArticleError("not a Word document (not a zip file)") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ArticleError(f"unpacks to {unpacked / 2**20:.0f} MB, over the {MAX_UNPACKED_BYTES // 2**20} MB limit")
    for member in members:
        if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise ArticleError(
                f"{member.filename} is compressed {member.file_size // max(member.compress_size, 1)}x: a zip bomb?"
            )
