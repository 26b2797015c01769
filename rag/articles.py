"""Loading articles from a folder: each file read by its reader (rag.readers), titles, stable ids, hashes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from rag.readers import SUFFIXES, ArticleError, Page, read
from rag.readers.text import decode, markdown_text
from rag.text import detect_language, is_heading
from rag.types import Article

__all__ = ["SUFFIXES", "ArticleError", "LoadResult", "decode", "load_articles", "markdown_text", "read_file"]

TITLE_MAX_CHARS = 200


@dataclass
class LoadResult:
    """Articles read from a folder, and one line per file that was skipped."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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


def _article(page: Page, rel: str, path: Path) -> Article:
    title = page.title or _title_from_text(page.text, path)
    return Article(
        id=rel if page.key is None else f"{rel}#{page.key}",
        title=title,
        text=page.text,
        path=rel,
        content_hash=content_hash(title, page.text),
        date=page.date,
        url=page.url,
        author=page.author,
        source=page.source,
        language=page.language or detect_language(page.text),
    )


def read_file(path: Path, rel: str) -> list[Article]:
    """Articles in one file (JSON / JSONL may hold several); raises ArticleError with the reason."""
    return [_article(page, rel, path) for page in read(path.read_bytes(), path.suffix)]


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
        except Exception as error:  # noqa: BLE001 - a parser's bug on one odd file must not stop the build
            result.problems.append(f"{rel}: skipped, unreadable ({type(error).__name__}: {error})")
    return result
