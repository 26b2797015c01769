"""The local engine, the default: FAISS vectors with chunk ids, chunks and articles in SQLite, and a manifest.

Layout: `index_dir/CURRENT` names the live generation folder `index_dir/gen-*/` holding
`manifest.json`, `vectors.faiss` and `chunks.sqlite`. A build writes a new generation and then
replaces CURRENT atomically, so readers never see a half-written index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.lexical import LexicalIndex
from rag.stores.base import Changes, IndexBusyError, IndexMissingError, Manifest, copies_of, host, source_keys
from rag.types import Article, Chunk, Hit, Scope

if TYPE_CHECKING:
    from rag.schemas import ArticleRecord

# HNSW graph parameters for large indexes: neighbours per node, and candidate lists when building / searching.
HNSW_NEIGHBOURS, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128
CURRENT = "CURRENT"
log = logging.getLogger(__name__)
SCHEMA = """
CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL, path TEXT NOT NULL, text TEXT NOT NULL,
                       content_hash TEXT NOT NULL, date TEXT, url TEXT, author TEXT, source TEXT,
                       language TEXT, host TEXT, copies TEXT);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
                     ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX chunks_by_article ON chunks(article_id);
"""


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

        self.folder = generation
        self.generation = generation.name
        self.manifest = Manifest(**json.loads((generation / "manifest.json").read_text()))
        self.vectors = faiss.read_index(str(generation / "vectors.faiss"))
        self._lexical = LexicalIndex.load(generation)
        self._last_scope: tuple[Scope, tuple[set[int], np.ndarray | None]] | None = None
        # Read-only and shareable across the UI's worker threads.
        self.db = sqlite3.connect(f"file:{generation / 'chunks.sqlite'}?mode=ro", uri=True, check_same_thread=False)

    @property
    def size(self) -> int:
        return int(self.vectors.ntotal)

    def dense(self, vector: np.ndarray, k: int, scope: Scope) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the k nearest chunks in the scope, best first."""
        hidden, allowed = self._visible(scope)
        return [(i, s) for i, s in self.nearest(vector, k + len(hidden), allowed) if i not in hidden][:k]

    def lexical(self, query: str, k: int, scope: Scope) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of up to k chunks in the scope sharing a term with the query, best first."""
        hidden, allowed = self._visible(scope)
        return [(i, s) for i, s in self._lexical.search(query, k + len(hidden), allowed) if i not in hidden][:k]

    def lexical_scores(self, query: str, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 score of the query for each given chunk (0 when it shares no term)."""
        return self._lexical.scores(query, chunk_ids)

    def idf(self, terms: Sequence[str]) -> list[float]:
        """BM25 idf of each analysed term; a term no chunk holds gets the highest idf."""
        return self._lexical.idf(terms)

    def _visible(self, scope: Scope) -> tuple[set[int], np.ndarray | None]:
        """The excluded articles' chunk ids (left out after the search), and the chunk ids a date or source
        condition allows (searched within; None: all), exclusions taken out of them. The latest scope's are
        kept: a hybrid search asks for them twice."""
        last = self._last_scope
        if last is not None and last[0] == scope:
            return last[1]
        visible = self._find_visible(scope)
        self._last_scope = (scope, visible)
        return visible

    def _find_visible(self, scope: Scope) -> tuple[set[int], np.ndarray | None]:
        hidden = self.chunks_of(scope.exclude)
        if not scope.filters:
            return hidden, None
        allowed = self.chunks_in(scope)
        if hidden:
            allowed = np.setdiff1d(allowed, np.fromiter(hidden, dtype=np.int64))
        return set(), allowed

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
            # One JSON array, not a variable per source: SQLite takes a few thousand variables at most.
            names = json.dumps(source_keys(scope.sources))
            conditions.append(
                "(lower(a.source) IN (SELECT value FROM json_each(?)) OR a.host IN (SELECT value FROM json_each(?)))"
            )
            values += [names, names]
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


class LocalEngine:
    """The index in a folder on this machine (generations switched atomically, a lock file for builds)."""

    def __init__(self, index_dir: Path, hnsw_from: int = 50_000) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self.hnsw_from = hnsw_from

    def generation(self) -> str:
        return current_generation(self.index_dir).name

    def manifest(self) -> Manifest:
        return read_manifest(self.index_dir)

    def open(self) -> Store:
        return Store(current_generation(self.index_dir))

    @contextmanager
    def lock(self, wait: bool) -> Iterator[None]:
        """A lock file beside the generations: one build at a time on this machine."""
        from filelock import FileLock, Timeout

        self.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.index_dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                raise IndexBusyError(f"another `rag index` is building {self.index_dir}") from None
            log.warning("another `rag index` is building %s; waiting for it to finish", self.index_dir)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def drop(self) -> None:
        shutil.rmtree(self.index_dir, ignore_errors=True)

    def write(
        self,
        manifest: Manifest,
        articles: Sequence[Article],
        changes: Changes,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        previous: Store | None,
    ) -> int:
        """A new generation holding the kept articles' chunks and vectors from `previous`, then the new ones."""
        rewritten = changes.rewritten_ids()
        kept = [a.id for a in articles if a.id not in rewritten]
        if kept and previous is None:
            raise ValueError(f"{len(kept)} articles to keep but no previous index to keep them from")
        kept_chunks, kept_vectors = previous.chunks_with_vectors(kept) if previous and kept else ([], None)
        if kept_vectors is not None and len(kept_chunks):
            chunks = [*kept_chunks, *chunks]
            vectors = np.vstack([kept_vectors, vectors]) if len(vectors) else kept_vectors
        write_index(self.index_dir, manifest, articles, chunks, vectors, self.hnsw_from)
        return len(chunks)
