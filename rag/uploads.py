"""Article files in and out of the articles folder, for the chat and the HTTP API: safe names, size and record
limits, each file checked as an article before it lands, never written outside the folder."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from rag.articles import SUFFIXES, ArticleError, read_file

MAX_NAME_CHARS = 120
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class UploadRefused(ValueError):
    """A file that is not stored; the message is one line saying why."""


class ArticleNotFound(KeyError):
    """No article file of that id in the articles folder."""


@dataclass
class UploadReport:
    """What an upload did: files stored (their names in the folder) and one line per file refused."""

    saved: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def safe_name(name: str) -> str:
    """The file name an upload is stored under: its last path part, without control or path characters, no
    leading dots, at most MAX_NAME_CHARS (the suffix kept); raises UploadRefused when nothing usable is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    base = UNSAFE.sub("_", base).strip().lstrip(".").strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip("_ "):
        raise UploadRefused(f"{name!r}: not a usable file name")
    suffix = "." + suffix.lower()
    if suffix not in SUFFIXES:
        raise UploadRefused(f"{base}: not an article file ({', '.join(SUFFIXES)})")
    return stem[: MAX_NAME_CHARS - len(suffix)].rstrip() + suffix


def check_size(name: str, size: int, max_bytes: int) -> None:
    """Raise UploadRefused when a file of `size` bytes is over the limit."""
    if size > max_bytes:
        raise UploadRefused(f"{name}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:g} MB limit")


def save_upload(
    folder: Path, name: str, data: bytes, max_bytes: int, max_records: int, replace: bool = False, size: int = 0
) -> str:
    """Store one uploaded file in `folder` after checking it reads as article(s); returns the stored name.
    `size`, when the caller knows it before reading the file, is checked first (the data is then not read).

    The file is written to a hidden temporary file (the loader skips those) and renamed into place, so a build
    never sees half a file. Raises UploadRefused with the reason."""
    stored = safe_name(name)
    check_size(stored, max(size, len(data)), max_bytes)
    target = folder / stored
    if not target.resolve().parent == folder.resolve():
        raise UploadRefused(f"{name!r}: not a usable file name")
    if target.exists() and not replace:
        raise UploadRefused(f"{stored}: an article file of that name exists (replace it, or delete it first)")
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=target.suffix)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            articles = read_file(Path(temporary), stored)
        except (ArticleError, UnicodeDecodeError) as error:
            raise UploadRefused(f"{stored}: {error}") from None
        except Exception as error:  # noqa: BLE001 - a parser's failure on one odd file refuses that file alone
            raise UploadRefused(f"{stored}: unreadable ({type(error).__name__})") from None
        if len(articles) > max_records:
            raise UploadRefused(f"{stored}: {len(articles)} articles in one file, over the limit of {max_records}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return stored


def save_uploads(
    folder: Path, files: list[tuple[str, bytes, int]], max_bytes: int, max_records: int, replace: bool = False
) -> UploadReport:
    """Store each file (name, data, size known beforehand or 0) that passes the checks; the others are refused
    with one line each, in the order given."""
    report = UploadReport()
    for name, data, size in files:
        try:
            report.saved.append(save_upload(folder, name, data, max_bytes, max_records, replace, size))
        except UploadRefused as refused:
            report.refused.append(str(refused))
    return report


def delete_article(folder: Path, article_id: str) -> str:
    """Delete the file of an article (its path in the folder); returns that path. A record of a JSON/JSONL file
    ('file.jsonl#3') cannot be deleted alone: UploadRefused says so."""
    if "#" in article_id:
        path = article_id.split("#", 1)[0]
        raise UploadRefused(f"{article_id} is one record of {path}; delete {path} (all its articles) or edit it")
    root = folder.resolve()
    target = (folder / article_id).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix.lower() not in SUFFIXES:
        raise ArticleNotFound(article_id)
    target.unlink()
    return target.relative_to(root).as_posix()
