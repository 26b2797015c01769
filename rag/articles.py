"""Loading articles from a folder: each file read by its reader (rag.readers), titles, stable ids, hashes."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from rag.readers import SUFFIXES, ArticleError, Page, read
from rag.readers.text import decode, markdown_text
from rag.text import detect_language, is_heading
from rag.types import Article

__all__ = [
    "SUFFIXES",
    "ArticleError",
    "FileReads",
    "LoadResult",
    "decode",
    "load_articles",
    "markdown_text",
    "read_file",
]

TITLE_MAX_CHARS = 200
# The sizes every store keeps, in UTF-8 bytes (Milvus's VARCHAR fields): an article's id, its title, URL, author
# and path, and its source (which scope filters match).
MAX_ID_BYTES, MAX_FIELD_BYTES, MAX_SOURCE_BYTES = 1024, 4096, 512


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


def fitted(value: str | None, limit: int) -> str | None:
    """`value` cut to at most `limit` UTF-8 bytes (ending in '…' when cut), at a character boundary."""
    if value is None or len(value.encode()) <= limit:
        return value
    return value.encode()[: limit - 3].decode(errors="ignore") + "…"


def article_id(rel: str, key: str | None) -> str:
    """The id of a file's article (`rel`) or of one of its records (`rel#key`); one too long for a store is the
    file and a digest of the key, as stable."""
    if key is None or len(f"{rel}#{key}".encode()) <= MAX_ID_BYTES:
        return rel if key is None else f"{rel}#{key}"
    return f"{rel}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _article(page: Page, rel: str, path: Path) -> Article:
    """An article as every store can keep it: its details cut to the stores' field sizes (a title of 5,000
    characters would make every later Milvus build fail), its URL left out when longer than a store takes."""
    title = fitted(page.title or _title_from_text(page.text, path), MAX_FIELD_BYTES)
    url = page.url if page.url is None or len(page.url.encode()) <= MAX_FIELD_BYTES else None
    return Article(
        id=article_id(rel, page.key),
        title=title,
        text=page.text,
        path=rel,
        content_hash=content_hash(title, page.text),
        date=page.date,
        url=url,
        author=fitted(page.author, MAX_FIELD_BYTES),
        source=fitted(page.source, MAX_SOURCE_BYTES),
        language=page.language or detect_language(page.text),
    )


def read_file(path: Path, rel: str) -> list[Article]:
    """Articles in one file (JSON / JSONL may hold several); raises ArticleError with the reason."""
    return [_article(page, rel, path) for page in read(path.read_bytes(), path.suffix)]


class FileReads:
    """What reading each file of a folder gave, kept while the file is unchanged (same size, inode, modification
    and change times), so a process that builds again after a change reads only the changed files. A file changed
    less than RACY_SECONDS before it was read is read again next time: a write within the same clock tick would
    leave its times as they were."""

    RACY_SECONDS = 2.0

    def __init__(self) -> None:
        self._reads: dict[str, tuple[tuple[int, int, int, int], list[Article]]] = {}

    def read(self, path: Path, rel: str, stat: os.stat_result, started: float) -> list[Article]:
        key = (stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)
        kept = self._reads.get(rel)
        if kept is not None and kept[0] == key:
            return kept[1]
        articles = read_file(path, rel)
        if max(stat.st_mtime_ns, stat.st_ctime_ns) < (started - self.RACY_SECONDS) * 1e9:
            self._reads[rel] = (key, articles)
        else:
            self._reads.pop(rel, None)
        return articles

    def keep_only(self, rels: set[str]) -> None:
        """Forget the files no longer in the folder."""
        for rel in self._reads.keys() - rels:
            del self._reads[rel]


FOLDER_ID = ".rag-folder"  # in the articles folder: which folder it is, wherever it is mounted or copied


def folder_identity(folder: Path) -> str:
    """Which articles folder this is: "<id> <host>:<path>". The id is kept in a hidden file of the folder (made at
    its first build), so replicas that share one folder (a network mount) agree and a moved or copied folder
    stays itself; a folder that cannot be written to is known by its host and path."""
    where = f"{socket.gethostname()}:{folder.resolve()}"
    marker = folder / FOLDER_ID
    try:
        if not marker.exists():
            with marker.open("x", encoding="utf-8") as file:  # (two builds at once: the second finds it)
                file.write(uuid.uuid4().hex + "\n")
        return f"{marker.read_text(encoding='utf-8').strip()} {where}"
    except FileExistsError:
        return f"{marker.read_text(encoding='utf-8').strip()} {where}"
    except OSError:
        return f"{where} {where}"


def same_folder(recorded: str, identity: str) -> bool:
    """Whether a recorded folder identity names this folder (an index built before folders were recorded: yes)."""
    return not recorded or recorded.split(" ", 1)[0] == identity.split(" ", 1)[0]


def load_articles(folder: Path, max_bytes: int = 10 * 2**20, reads: FileReads | None = None) -> LoadResult:
    """Every article under `folder` (sorted by path); files that fail are reported, not fatal. With `reads`, files
    unchanged since that object read them are not read again."""
    result = LoadResult()
    started, seen = time.time(), set()
    root = folder.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"articles folder not found: {folder}")
    for path in sorted(folder.rglob("*")):  # (linked folders are not entered: only a file can link outside)
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts) or path.suffix.lower() not in SUFFIXES:
            continue
        rel = "/".join(parts)
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            result.problems.append(f"{rel}: skipped, links outside {folder}")
            continue
        try:
            info = path.stat()
        except OSError as error:  # a broken link
            result.problems.append(f"{rel}: skipped, {error.strerror or error}")
            continue
        if not S_ISREG(info.st_mode):
            continue
        if info.st_size > max_bytes:
            result.problems.append(
                f"{rel}: skipped, {info.st_size / 2**20:.1f} MB is over the {max_bytes / 2**20:g} MB limit"
            )
            continue
        seen.add(rel)
        try:
            result.articles.extend(reads.read(path, rel, info, started) if reads else read_file(path, rel))
        except (ArticleError, UnicodeDecodeError, OSError) as error:
            result.problems.append(f"{rel}: skipped, {error}")
        except Exception as error:  # noqa: BLE001 - a parser's bug on one odd file must not stop the build
            result.problems.append(f"{rel}: skipped, unreadable ({type(error).__name__}: {error})")
    if reads:
        reads.keep_only(seen)
    return result
