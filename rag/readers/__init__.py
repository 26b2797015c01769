"""Readers: one module per input family, each turning a file's bytes into Pages (text plus what the file says
about itself). `read(data, suffix)` picks the reader by file suffix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class ArticleError(ValueError):
    """A file that cannot be read as an article; the message says why."""


@dataclass(frozen=True)
class Page:
    """One article as a reader found it; empty fields are unknown. `key` tells apart articles of one file."""

    text: str
    title: str = ""
    date: str | None = None  # ISO 8601 (YYYY-MM-DD)
    author: str | None = None
    source: str | None = None  # the publication or site name
    url: str | None = None
    language: str | None = None
    key: str | None = None


Reader = Callable[[bytes], list[Page]]


def _readers() -> dict[str, Reader]:
    from rag.readers import office, pdf, records, text, web

    return {
        ".txt": text.read_text,
        ".md": text.read_markdown,
        ".html": web.read_html,
        ".htm": web.read_html,
        ".pdf": pdf.read_pdf,
        ".docx": office.read_docx,
        ".json": records.read_json,
        ".jsonl": records.read_jsonl,
    }


SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".json", ".jsonl")


def read(data: bytes, suffix: str) -> list[Page]:
    """The articles in a file's bytes; raises ArticleError with the reason when there are none."""
    reader = _readers().get(suffix.lower())
    if reader is None:
        raise ArticleError(f"not an article file ({', '.join(SUFFIXES)})")
    if not data.strip():
        raise ArticleError("empty file")
    pages = reader(data)
    if not pages:
        raise ArticleError("no text after cleaning")
    return pages
