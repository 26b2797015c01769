"""Loading articles from a folder: formats, encodings, titles, stable ids and content hashes."""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.text import clean_whitespace, is_heading
from rag.types import Article

SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
# Elements that never hold article text.
HTML_NOISE = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button")
TITLE_MAX_CHARS = 200


class ArticleError(ValueError):
    """A file that cannot be read as an article; the message says why."""


@dataclass
class LoadResult:
    """Articles read from a folder, and one line per file that was skipped."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def decode(data: bytes) -> str:
    """Bytes to text: BOMs, then UTF-16 without BOM, then UTF-8, then the best guess (e.g. Windows-1256)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if any(byte < 0x09 for byte in data[:4096]):
        # Control bytes never occur in text files, but UTF-16 without a BOM is full of them.
        for encoding in ("utf-16-le", "utf-16-be"):
            text = data.decode(encoding, errors="replace")
            if _plausible(text):
                return text
        raise ArticleError("binary file (control bytes, not UTF-16 text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ArticleError("undecodable bytes: not UTF-8, UTF-16 or a known single-byte encoding")
    return str(best)


def _plausible(text: str) -> bool:
    """Mostly Arabic / Latin letters, digits, spaces and punctuation: what a decoded article looks like."""
    sample = text[:2000]
    usual = sum(1 for ch in sample if ch.isspace() or ch.isascii() and ch.isprintable() or "\u0600" <= ch <= "\u06ff")
    return bool(sample) and usual >= 0.95 * len(sample)


def content_hash(title: str, text: str) -> str:
    """Hash of what is indexed, so unchanged articles can be recognised."""
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


def title_from_name(path: Path) -> str:
    """A readable title from a file name: 'miami-talks_ar.txt' -> 'miami talks ar'."""
    return " ".join(path.stem.replace("_", " ").replace("-", " ").split()) or path.name


def _title_from_text(text: str, path: Path) -> str:
    first = text.split("\n", 1)[0].strip()
    if first and len(first) <= TITLE_MAX_CHARS and is_heading(first + "\n"):
        return first.lstrip("#").strip()
    return title_from_name(path)


def _html_article(html: str, path: Path) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(HTML_NOISE):
        tag.decompose()
    # Text a reader never sees must not reach the model either (a page can hide instructions in it).
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
    return title or _title_from_text(text, path), text


def markdown_text(markdown: str) -> str:
    """Markdown as the plain text a reader sees: headings and link text kept, URLs, images and HTML dropped
    (article text is data: no markup of it may reach an index, a quote or a reader's browser)."""
    from markdown_it import MarkdownIt

    blocks: list[str] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "inline":
            pieces = []
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    pieces.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    pieces.append("\n")
            blocks.append("".join(pieces))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
    return clean_whitespace("\n\n".join(b for b in blocks if b.strip()))


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


def _record_article(record: Any, rel: str, position: int, path: Path) -> Article:
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ArticleError(f"record {position} has no 'text' string")
    text = clean_whitespace(record["text"])
    if not text:
        raise ArticleError(f"record {position} has empty text")
    title = str(record.get("title") or "").strip() or _title_from_text(text, path)
    record_id = record.get("id")
    article_id = f"{rel}#{record_id if record_id not in (None, '') else position}"
    date = record.get("date")
    url = record.get("url")
    return Article(
        id=article_id,
        title=title,
        text=text,
        path=rel,
        content_hash=content_hash(title, text),
        date=str(date) if date else None,
        url=str(url) if url else None,
    )


def read_file(path: Path, rel: str) -> list[Article]:
    """Articles in one file (JSON / JSONL may hold several); raises ArticleError with the reason."""
    data = path.read_bytes()
    if not data.strip():
        raise ArticleError("empty file")
    raw = decode(data)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        articles: list[Article] = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ArticleError(f"line {number} is not JSON ({error.msg})") from None
            articles.append(_record_article(record, rel, number, path))
        return articles
    if suffix == ".json":
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ArticleError(f"not JSON ({error.msg} at line {error.lineno})") from None
        records = loaded if isinstance(loaded, list) else [loaded]
        return [_record_article(r, rel, i, path) for i, r in enumerate(records, start=1)]
    if suffix in (".html", ".htm"):
        title, text = _html_article(raw, path)
    elif suffix == ".md":
        text = markdown_text(raw)
        title = _title_from_text(text, path)
    else:
        text = clean_whitespace(raw)
        title = _title_from_text(text, path)
    if not text:
        raise ArticleError("no text after cleaning")
    return [Article(id=rel, title=title, text=text, path=rel, content_hash=content_hash(title, text))]


def load_articles(folder: Path, max_bytes: int = 10 * 2**20) -> LoadResult:
    """Every article under `folder` (sorted by path); files that fail are reported, not fatal."""
    result = LoadResult()
    root = folder.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"articles folder not found: {folder}")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_dir() or path.suffix.lower() not in SUFFIXES:
            continue
        if not path.resolve().is_relative_to(root):
            result.problems.append(f"{rel}: skipped, links outside {folder}")
            continue
        size = path.stat().st_size
        if size > max_bytes:
            result.problems.append(f"{rel}: skipped, {size / 2**20:.1f} MB is over the {max_bytes / 2**20:g} MB limit")
            continue
        try:
            result.articles.extend(read_file(path, rel))
        except (ArticleError, UnicodeDecodeError, OSError) as error:
            result.problems.append(f"{rel}: skipped, {error}")
    return result
