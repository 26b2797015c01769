"""What a Milvus index stores: stable ids, the chunk and article rows a build writes, and the snapshot of every
article's entry that a build or a view reads back from the meta rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from immutables import Map

from rag.lexical import analyze
from rag.stores.base import Manifest, host, source_keys
from rag.types import Article, Chunk

TEXT_PART = 16_000  # characters per stored part of an article's text (at most 4 bytes each: under 64 KiB)
MAX_PARTS = 4096  # Milvus's largest array: articles up to 65M characters
BUCKETS = 1024  # meta rows holding every article's content hash (about 500 articles each fit in one row)
ARTICLE_FIELDS = ("id", "version", "title", "path", "date", "url", "author", "source", "language")
ARTICLE_FIELDS += ("copies", "chunks")
LAYOUT = 2  # how the collections are laid out (1: article rows keyed by article id; 2: by article version)
# What a search brings back of each chunk: all a hit shows (no second round trip for the article's details).
PASSAGE_FIELDS = ["article_id", "version", "text", "start", "end", "title", "path", "date", "url", "author", "byline"]


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def listed(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


Entry = tuple[str, int, tuple[str, ...]]  # an article's version (content hash), chunk count, near-duplicate ids


def bucket(article_id: str) -> int:
    """The hash bucket (meta row) that holds an article's entry."""
    return int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=4).digest(), "big") % BUCKETS


def stable_id(*parts: str) -> int:
    """A stable 53-bit id (exact in JavaScript): a re-run writes the same rows again."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 11


def chunk_id(article_id: str, version: str, ordinal: int) -> int:
    return stable_id(article_id, version, str(ordinal))


def version_key(article_id: str, version: str) -> int:
    """The id of an article version's row."""
    return stable_id(article_id, version)


Version = tuple[str, str, int]  # an article version: article id, content hash, chunk count


@dataclass(frozen=True)
class Snapshot:
    """The index as a generation left it: every article's entry, the manifest they make and the chunks they hold.
    Read from the meta rows once per generation and build stamp; a build carries it over for its process's next."""

    generation: str
    stamp: str
    entries: Map[str, Entry]  # persistent maps: a changed snapshot shares what did not change with this one
    manifest: Manifest  # its articles: a Map too
    chunks: int

    @classmethod
    def of(cls, generation: str, stamp: str, head: dict[str, Any], entries: dict[str, Entry]) -> Snapshot:
        versions = Map({article_id: entry[0] for article_id, entry in entries.items()})  # the version: content hash
        copies = {article_id: list(entry[2]) for article_id, entry in entries.items() if entry[2]}
        manifest = Manifest(**{**head, "articles": versions, "copies": copies})
        return cls(generation, stamp, Map(entries), manifest, sum(entry[1] for entry in entries.values()))

    def changed(self, generation: str, stamp: str, head: dict[str, Any], updates: dict[str, Entry | None]) -> Snapshot:
        """This snapshot with these articles' entries replaced (None: removed), in time that follows the change."""
        copies, chunks = dict(self.manifest.copies), self.chunks  # (copies: the few articles that have any)
        with self.entries.mutate() as entries, self.manifest.articles.mutate() as versions:  # type: ignore[attr-defined]
            for article_id, entry in updates.items():
                if (old := entries.pop(article_id, None)) is not None:
                    chunks -= old[1]
                versions.pop(article_id, None)
                copies.pop(article_id, None)
                if entry is not None:
                    entries[article_id], versions[article_id], chunks = entry, entry[0], chunks + entry[1]
                    if entry[2]:
                        copies[article_id] = list(entry[2])
            manifest = Manifest(**{**head, "articles": versions.finish(), "copies": copies})
            return Snapshot(generation, stamp, entries.finish(), manifest, chunks)


def chunk_row(article: Article, chunk: Chunk, vector: np.ndarray) -> dict[str, Any]:
    """A chunk's row: its text, offsets, vector and terms, with the article details its hits show."""
    return {
        "id": chunk_id(article.id, article.content_hash, chunk.ordinal),
        "article_id": article.id,
        "version": article.content_hash,
        "ordinal": chunk.ordinal,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        "terms": " ".join(analyze(chunk.text)) or "_",
        "vector": np.asarray(vector, dtype=np.float32).tolist(),
        "title": article.title,
        "path": article.path,
        "date": article.date or "",
        "source": source_keys([article.source])[0] if article.source else "",  # (for filters)
        "host": host(article.url) or "",
        "url": article.url or "",
        "author": article.author or "",
        "byline": article.source or "",  # the source as the article names it
    }


def article_row(article: Article, chunks: int) -> dict[str, Any]:
    """The article version's row: details, chunk count and full text (in parts)."""
    parts = [article.text[i : i + TEXT_PART] for i in range(0, len(article.text), TEXT_PART)]
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{article.id}: {len(article.text)} characters, more than Milvus can store")
    return {
        "key": version_key(article.id, article.content_hash),
        "id": article.id,
        "version": article.content_hash,
        "title": article.title,
        "path": article.path,
        "date": article.date or "",
        "url": article.url or "",
        "author": article.author or "",
        "source": article.source or "",
        "language": article.language or "",
        "copies": copies_json(article),
        "chunks": chunks,
        "text": parts,
        "dummy": [0, 0],
    }


def copies_json(article: Article) -> str:
    return json.dumps([asdict(c) for c in article.copies], ensure_ascii=False)
