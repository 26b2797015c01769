"""JSON and JSONL files of article records: {"text", "title"?, "id"?, "date"?, "url"?, "author"?, "source"?}."""

from __future__ import annotations

import json
from typing import Any

from rag.dates import iso_date
from rag.readers import ArticleError, Page
from rag.readers.text import decode
from rag.text import clean_whitespace


def read_json(data: bytes) -> list[Page]:
    """A JSON object or a list of them."""
    try:
        loaded = json.loads(decode(data))
    except json.JSONDecodeError as error:
        raise ArticleError(f"not JSON ({error.msg} at line {error.lineno})") from None
    records = loaded if isinstance(loaded, list) else [loaded]
    return [_page(record, position) for position, record in enumerate(records, start=1)]


def read_jsonl(data: bytes) -> list[Page]:
    """One JSON object per line."""
    pages: list[Page] = []
    for number, line in enumerate(decode(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ArticleError(f"line {number} is not JSON ({error.msg})") from None
        pages.append(_page(record, number))
    return pages


def _page(record: Any, position: int) -> Page:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ArticleError(f"record {position} has no 'text' string")
    text = clean_whitespace(record["text"])
    if not text:
        raise ArticleError(f"record {position} has empty text")
    record_id = record.get("id")

    def field(name: str) -> str | None:
        value = record.get(name)
        return " ".join(str(value).split()) or None if value is not None else None

    return Page(
        text=text,
        title=field("title") or "",
        date=iso_date(field("date")),
        author=field("author"),
        source=field("source"),
        url=field("url"),
        language=field("language"),
        key=str(record_id if record_id not in (None, "") else position),
    )
