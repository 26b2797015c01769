"""Saved web pages: the article body and its metadata by trafilatura, our own reader where it finds nothing.

Measured on ../shared/eval/article_extraction (bench/extraction.py): trafilatura with comments left out and
precision favoured reaches F1 0.975, its defaults 0.962, our reader alone 0.821."""

from __future__ import annotations

import re
from typing import Any

from rag.dates import iso_date
from rag.readers import Page
from rag.readers.text import decode
from rag.text import clean_whitespace, detect_language

# Elements that never hold article text (our reader).
HTML_NOISE = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button")
# Text a reader never sees must not reach the model either (a page can hide instructions in it).
HIDDEN = (
    "//*[@hidden or @aria-hidden='true' or contains(translate(@style, ' ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), 'display:none') or contains(translate(@style, ' ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
    "'abcdefghijklmnopqrstuvwxyz'), 'visibility:hidden')]"
)
# How a browser (and `rag add`) marks a saved page with the address it came from.
SAVED_FROM = re.compile(rb"<!-- saved from url=\(\d+\)(https?://[^\s>]+) -->")
CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def html_text(data: bytes) -> str:
    """A page's bytes as text: its declared charset first (e.g. windows-1256), else detected."""
    if declared := CHARSET.search(data[:4096]):
        try:
            return data.decode(declared[1].decode("ascii").lower(), errors="replace")
        except LookupError:
            pass  # an unknown charset name: detect instead
    return decode(data)


def read_html(data: bytes) -> list[Page]:
    """A web page: main text, title, date, author, site name, canonical URL and language."""
    import lxml.etree
    import lxml.html
    import trafilatura

    html = html_text(data)
    try:
        tree = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):  # a page that is not HTML at all
        return []
    for hidden in tree.xpath(HIDDEN):
        if hidden.getparent() is not None:
            hidden.drop_tree()
    _unwrap_layout_tables(tree)
    found = trafilatura.bare_extraction(
        tree, include_comments=False, favor_precision=True, with_metadata=True, include_tables=True
    )
    text = clean_whitespace(found.text or "") if found is not None else ""
    if not text:
        return _fallback(html)
    return [
        Page(
            text=text,
            title=_one_line(found.title),
            date=iso_date(found.date),
            author=_one_line(found.author) or None,
            source=_one_line(found.sitename) or None,
            url=web_url(found.url) or saved_from(data),
            language=found.language or detect_language(text),
        )
    ]


def _unwrap_layout_tables(tree: Any) -> None:
    """Tables that lay out a page (cells holding paragraphs or headings, as many older Arabic news sites have)
    become plain blocks, so the article is read as paragraphs, not as one table row."""
    for table in tree.xpath("//table[./tr/td//p or ./tbody/tr/td//p or ./tr/td//h1 or ./tbody/tr/td//h1]"):
        for part in [table, *table.xpath("./tbody | ./tr | ./tbody/tr | ./tr/td | ./tbody/tr/td")]:
            part.tag = "div"


def saved_from(data: bytes) -> str | None:
    """The address a saved page came from, when it was marked with one."""
    found = SAVED_FROM.search(data[:2048])
    return found[1].decode("utf-8", errors="replace") if found else None


def saved_page(html: bytes, url: str) -> bytes:
    """A fetched page marked with its address (read back by `saved_from`)."""
    mark = f"<!-- saved from url=({len(url):04d}){url} -->\n".encode()
    return mark + html


def web_url(value: str | None) -> str | None:
    """An http(s) address, or None: a page may claim any URL (javascript:, data:), a reader gets a link."""
    value = (value or "").strip()
    return value if value.lower().startswith(("http://", "https://")) and " " not in value else None


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


def _fallback(html: str) -> list[Page]:
    """Our reader: the page without navigation, headers, footers and hidden parts; article or main or body."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(HTML_NOISE):
        tag.decompose()
    for tag in soup.find_all(is_hidden):
        tag.decompose()
    heading = soup.find("h1")
    meta = soup.find("meta", attrs={"property": "og:title"})
    title = (
        (heading.get_text(" ", strip=True) if heading else "")
        or (str(meta.get("content", "")).strip() if meta else "")
        or (soup.title.get_text(" ", strip=True) if soup.title else "")
    )
    body = soup.find("article") or soup.find("main") or soup.body or soup
    text = clean_whitespace(body.get_text("\n"))
    page = Page(text=text, title=title, language=detect_language(text), url=saved_from(html.encode()))
    return [page] if text else []


def is_hidden(tag: Any) -> bool:
    """An HTML element the browser does not show (hidden, aria-hidden, display:none, visibility:hidden)."""
    if getattr(tag, "attrs", None) is None:
        return False
    style = str(tag.get("style", "")).replace(" ", "").lower()
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden", "")).lower() == "true"
        or "display:none" in style
        or "visibility:hidden" in style
    )
