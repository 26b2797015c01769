"""The index on disk: FAISS vectors with chunk ids, chunks and articles in SQLite, and a manifest.

Layout: `index_dir/CURRENT` names the live generation folder `index_dir/gen-*/` holding
`manifest.json`, `vectors.faiss` and `chunks.sqlite`. A build writes a new generation and then
replaces CURRENT atomically, so readers never see a half-written index.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.lexical import LexicalIndex
from rag.types import Article, Chunk, Hit, Scope

if TYPE_CHECKING:
    from rag.schemas import ArticleRecord

FORMAT_VERSION = 2  # 2: article author, source, language, host, near-duplicate copies
# HNSW graph parameters for large indexes: neighbours per node, and candidate lists when building / searching.
HNSW_NEIGHBOURS, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128
CURRENT = "CURRENT"
SCHEMA = """
CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL, path TEXT NOT NULL, text TEXT NOT NULL,
                       content_hash TEXT NOT NULL, date TEXT, url TEXT, author TEXT, source TEXT,
                       language TEXT, host TEXT, copies TEXT);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
                     ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX chunks_by_article ON chunks(article_id);
"""


class IndexProblem(RuntimeError):
    """Base class for index problems."""


class IndexMissingError(IndexProblem):
    """No index has been built at the path."""


class IndexMismatchError(IndexProblem):
    """The index was built with another embedder, chunker or format."""


@dataclass
class Manifest:
    """What an index was built with, and the content hash of every article in it."""

    embedder: str
    dimension: int
    chunking: dict[str, Any]
    articles: dict[str, str] = field(default_factory=dict)  # article id -> content hash
    copies: dict[str, list[str]] = field(default_factory=dict)  # article id -> ids of its near-duplicates
    format_version: int = FORMAT_VERSION
    built_at: str = ""

    def mismatch(self, embedder: str, chunking: dict[str, Any]) -> str | None:
        """Why this index cannot serve the given settings, or None when it can."""
        if self.format_version != FORMAT_VERSION:
            return f"index format {self.format_version}, this version reads format {FORMAT_VERSION}"
        if self.embedder != embedder:
            return f"index built with embedder '{self.embedder}' ({self.dimension}-d), settings ask for '{embedder}'"
        if self.chunking != chunking:
            return f"index built with chunking {self.chunking}, settings ask for {chunking}"
        return None


def current_generation(index_dir: Path) -> Path:
    """The live generation folder, or IndexMissingError."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexMissingError(f"no index at {index_dir}: build one with `rag index --index {index_dir}`")
    return index_dir / pointer.read_text().strip()


def read_manifest(index_dir: Path) -> Manifest:
    """The manifest of the live generation."""
    data = json.loads((current_generation(index_dir) / "manifest.json").read_text())
    return Manifest(**data)


def copies_of(articles: Sequence[Article]) -> dict[str, list[str]]:
    """Article id -> the ids of its near-duplicates, for the articles that have any."""
    return {a.id: [c.id for c in a.copies] for a in articles if a.copies}


def host(url: str | None) -> str | None:
    """The site of a URL without 'www.', lower case ('https://www.Example.com/a' -> 'example.com')."""
    if not url:
        return None
    from urllib.parse import urlsplit

    name = (urlsplit(url).hostname or "").lower()
    return name.removeprefix("www.") or None


def vector_search(dimension: int, count: int, hnsw_from: int):
    """Exact inner-product search for `count` vectors, or an HNSW graph (approximate) from `hnsw_from` on.

    At 100k chunks exact search took 20 ms a query here, the graph under 2 ms (bench/search_latency.py)."""
    import faiss

    if count < hnsw_from:
        return faiss.IndexFlatIP(dimension)
    graph = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    return graph


def write_index(
    index_dir: Path,
    manifest: Manifest,
    articles: Sequence[Article],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    hnsw_from: int = 50_000,
) -> Path:
    """Write a complete new generation, then switch CURRENT to it; generations before the previous one go.

    Vectors are searched exactly (flat) below `hnsw_from` chunks, through an HNSW graph from there on."""
    import faiss

    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = index_dir / f".{name}.tmp"
    staging.mkdir()
    manifest.built_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest.articles = {a.id: a.content_hash for a in articles}
    manifest.copies = copies_of(articles)

    ids = np.arange(len(chunks), dtype=np.int64)
    vector_index = faiss.IndexIDMap2(vector_search(manifest.dimension, len(chunks), hnsw_from))
    if len(chunks):
        vector_index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    faiss.write_index(vector_index, str(staging / "vectors.faiss"))
    LexicalIndex.build(ids.tolist(), [c.text for c in chunks]).save(staging)

    db = sqlite3.connect(staging / "chunks.sqlite")
    with db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [_article_row(a) for a in articles]
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            [(int(i), c.article_id, c.ordinal, c.start, c.end, c.text) for i, c in zip(ids, chunks)],
        )
    db.close()
    (staging / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=1))
    for file in staging.rglob("*"):
        if file.is_file():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
    staging.rename(index_dir / name)
    pointer = index_dir / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n")
    with pointer.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer, index_dir / CURRENT)
    # Keep the previous generation: a reader that has just read the old CURRENT may still open it.
    for old in sorted(index_dir.glob("gen-*"), key=lambda p: p.stat().st_mtime)[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in index_dir.glob(".gen-*.tmp"):
        if stale != staging:
            shutil.rmtree(stale, ignore_errors=True)  # left by a build that was killed
    return index_dir / name


def _article_row(a: Article) -> tuple[Any, ...]:
    copies = json.dumps([asdict(c) for c in a.copies], ensure_ascii=False) if a.copies else None
    fields = (a.id, a.title, a.path, a.text, a.content_hash, a.date, a.url, a.author, a.source, a.language)
    return (*fields, host(a.url), copies)


class Store:
    """Read access to one generation: vector search and chunk / article look-ups."""

    def __init__(self, generation: Path) -> None:
        import faiss

        self.generation = generation
        self.manifest = Manifest(**json.loads((generation / "manifest.json").read_text()))
        self.vectors = faiss.read_index(str(generation / "vectors.faiss"))
        self.lexical = LexicalIndex.load(generation)
        # Read-only and shareable across the UI's worker threads.
        self.db = sqlite3.connect(f"file:{generation / 'chunks.sqlite'}?mode=ro", uri=True, check_same_thread=False)

    @property
    def size(self) -> int:
        return int(self.vectors.ntotal)

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the k nearest chunks, best first; only `allowed` chunk ids when given
        (filtered inside the search, so k allowed chunks come back whenever there are k)."""
        import faiss

        query = vector.reshape(1, -1).astype(np.float32)
        if allowed is None:
            if self.size == 0:
                return []
            scores, ids = self.vectors.search(query, min(k, self.size))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if len(allowed) == 0:
            return []
        # Chunk ids are the vectors' positions (write_index adds them as 0..n-1), so the inner index is searched
        # with the selector directly (the id map would pass its own parameters, losing HNSW's) and its positions
        # are the chunk ids.
        inner = faiss.downcast_index(self.vectors.index)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        if isinstance(inner, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, positions = inner.search(query, min(k, len(allowed)), params=params)
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0]) if p >= 0]

    def chunks_in(self, scope: Scope) -> np.ndarray:
        """Ids of the chunks whose article is in the scope's dates and sources (exclusions not applied)."""
        conditions: list[str] = []
        values: list[str] = []
        if scope.since:
            conditions.append("a.date >= ?")
            values.append(scope.since)
        if scope.until:
            conditions.append("a.date <= ?")
            values.append(scope.until)
        if scope.sources:
            names = [s.strip().lower().removeprefix("www.") for s in scope.sources]
            marks = ",".join("?" * len(names))
            conditions.append(f"(lower(a.source) IN ({marks}) OR a.host IN ({marks}))")
            values += names + names
        where = " AND ".join(conditions) or "1"
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}", values
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def similarities(self, vector: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """Exact inner product of the query vector with the given chunks' vectors."""
        if not chunk_ids:
            return {}
        stored = np.stack([self.vectors.reconstruct(int(i)) for i in chunk_ids])
        return dict(zip(map(int, chunk_ids), (stored @ vector.astype(np.float32)).tolist()))

    def hits(self, scored: Sequence[tuple[int, float]], similarity: dict[int, float]) -> list[Hit]:
        """Hits for (chunk id, ranking score) pairs, in the given order, with their cosine similarity."""
        if not scored:
            return []
        marks = ",".join("?" * len(scored))
        rows = self.db.execute(
            f'SELECT c.id, c.text, c.article_id, a.title, a.path, c.start, c."end", a.date, a.source, a.url, a.author '
            f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
            [i for i, _ in scored],
        ).fetchall()
        by_id = {row[0]: row for row in rows}
        return [
            Hit(i, s, similarity[i], r[1], r[2], r[3], r[4], r[5], r[6], date=r[7], source=r[8], url=r[9], author=r[10])
            for i, s in scored
            if (r := by_id.get(i)) is not None
        ]

    def chunks_of(self, article_ids: frozenset[str]) -> set[int]:
        """Chunk ids of the given articles."""
        if not article_ids:
            return set()
        marks = ",".join("?" * len(article_ids))
        rows = self.db.execute(f"SELECT id FROM chunks WHERE article_id IN ({marks})", sorted(article_ids))
        return {int(row[0]) for row in rows}

    def chunks_with_vectors(self, article_ids: Sequence[str]) -> tuple[list[Chunk], np.ndarray]:
        """The stored chunks of the given articles, in article order, with their vectors (for reuse)."""
        chunks: list[Chunk] = []
        ids: list[int] = []
        for article_id in article_ids:
            rows = self.db.execute(
                'SELECT id, ordinal, start, "end", text FROM chunks WHERE article_id = ? ORDER BY ordinal',
                (article_id,),
            )
            for chunk_id, ordinal, start, end, text in rows:
                chunks.append(Chunk(article_id, ordinal, start, end, text))
                ids.append(int(chunk_id))
        vectors = (
            np.stack([self.vectors.reconstruct(i) for i in ids]) if ids else np.zeros((0, self.manifest.dimension))
        )
        return chunks, vectors.astype(np.float32)

    def article_text(self, article_id: str) -> str:
        """The cleaned article text that chunk offsets point into."""
        row = self.db.execute("SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            raise KeyError(article_id)
        return str(row[0])

    def articles(self) -> list[ArticleRecord]:
        """Every indexed article with its chunk count, by path."""
        from rag.schemas import ArticleRecord

        rows = self.db.execute(
            "SELECT a.id, a.title, a.path, a.date, a.url, a.author, a.source, a.language, COUNT(c.id), a.copies "
            "FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.path, a.id"
        )
        fields = ("id", "title", "path", "date", "url", "author", "source", "language", "chunks")
        return [ArticleRecord(**dict(zip(fields, row)), copies=json.loads(row[-1] or "[]")) for row in rows]

    def close(self) -> None:
        self.db.close()
