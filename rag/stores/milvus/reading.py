"""A view of a Milvus index: the articles' active versions as one generation left them, searched in Milvus
(dense, BM25, filters inside both), with the rows its searches brought back kept for the hits that follow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.lexical import analyze
from rag.stores.base import source_keys
from rag.stores.milvus.rows import PASSAGE_FIELDS, Snapshot, listed, quote, version_key
from rag.stores.milvus.schema import BM25
from rag.types import Chunk, Hit, Scope

if TYPE_CHECKING:
    from rag.schemas import ArticleRecord
    from rag.stores.milvus.connection import Connection

MAX_KEPT = 4096  # chunk rows a view keeps from its searches, for the hits that follow (then it starts afresh)
MAX_COUNTED = 16_384  # Milvus's largest search limit: the most chunks idf counts for a term


def score(found: dict[str, Any], field: str) -> float:
    """Inner product, or BM25 on bm25s's scale (as the local store): Milvus Lite reports BM25 negated, and with
    the (k1 + 1) factor that Lucene's BM25 leaves out."""
    distance = float(found["distance"])
    return distance if field == "vector" else abs(distance) / (1 + BM25["bm25_k1"])


class MilvusStore:
    """One view of a Milvus index: the articles' active versions as of `generation`, searched in Milvus.

    Article details are fetched for the articles that hits come from (and kept); the cosines and BM25 scores a
    search returns are kept for the fusion and the hits of the same query, saving round trips."""

    def __init__(self, engine: Connection, snapshot: Snapshot) -> None:
        self.engine = engine
        self.client = engine.client
        self.generation = snapshot.generation
        self.manifest = snapshot.manifest
        self._entries = snapshot.entries
        self.size = snapshot.chunks  # chunks searched (a view does not change)
        self._passages: dict[int, dict[str, Any]] = {}  # chunk rows searches brought back (a chunk id never changes)
        self._cosines: tuple[bytes, dict[int, float]] = (b"", {})  # the latest query vector's dense scores
        self._bm25: tuple[str, dict[int, float]] = ("", {})  # the latest query's BM25 scores
        self._idf: dict[str, float] = {}

    def _active(self, article_id: str, version: str) -> bool:
        entry = self._entries.get(article_id)
        return entry is not None and entry[0] == version

    def _filter(self, scope: Scope) -> str:
        conditions = []
        if scope.since:
            conditions.append(f"date >= {quote(scope.since)}")
        if scope.until:
            conditions.append(f'date != "" and date <= {quote(scope.until)}')
        if scope.sources:
            names = listed(source_keys(scope.sources))
            conditions.append(f"(source in {names} or host in {names})")
        if scope.exclude:
            conditions.append(f"article_id not in {listed(sorted(scope.exclude))}")
        return " and ".join(conditions)

    def _search(self, data: list[Any], field: str, k: int, expr: str) -> list[tuple[int, float]]:
        """Up to k active chunks, best first; chunks of other versions (a build under way) are skipped. Their
        text and offsets come back too (kept for `hits`: no second round trip)."""
        limit = k + 8
        while True:
            found = self.client.search(
                self.engine.names.chunks,
                data=data,
                anns_field=field,
                limit=limit,
                filter=expr,
                output_fields=PASSAGE_FIELDS,
                search_params={"params": {"ef": max(128, limit)} if field == "vector" else {}},
            )[0]
            active = []
            for hit in found:
                row = hit["entity"]
                if self._active(row["article_id"], row["version"]):
                    active.append((int(hit["id"]), score(hit, field)))
                    self._keep(int(hit["id"]), row)
            if len(active) >= k or len(found) < limit:
                return active[:k]
            limit *= 4

    def _keep(self, chunk: int, row: dict[str, Any]) -> None:
        if len(self._passages) >= MAX_KEPT:
            self._passages.clear()
        self._passages[chunk] = row

    def dense(self, vector: np.ndarray, k: int, scope: Scope) -> list[tuple[int, float]]:
        query = np.asarray(vector, dtype=np.float32)
        found = self._search([query.tolist()], "vector", k, self._filter(scope))
        self._cosines = (query.tobytes(), dict(found))
        return found

    def lexical(self, query: str, k: int, scope: Scope) -> list[tuple[int, float]]:
        terms = " ".join(analyze(query))
        found = self._search([terms], "sparse", k, self._filter(scope)) if terms else []
        self._bm25 = (query, dict(found))
        return found

    def lexical_scores(self, query: str, chunk_ids: Sequence[int]) -> dict[int, float]:
        known = self._bm25[1] if self._bm25[0] == query else {}
        scores = {int(i): known.get(int(i), 0.0) for i in chunk_ids}
        missing = [i for i in scores if i not in known]
        terms = " ".join(analyze(query))
        if terms and missing:
            found = self.client.search(
                self.engine.names.chunks,
                data=[terms],
                anns_field="sparse",
                limit=len(missing),
                filter=f"id in {missing}",
                output_fields=["id"],
            )[0]
            scores.update({int(h["id"]): score(h, "sparse") for h in found})
        return scores

    def idf(self, terms: Sequence[str]) -> list[float]:
        """BM25 idf from each term's chunk count, cached per view. The count is the number of chunks a BM25 search
        for the term alone finds (those holding it), so it is exact up to MAX_COUNTED chunks and MAX_COUNTED above
        (an idf at most log(1 + size / MAX_COUNTED) too high, for terms in more than that many chunks)."""
        documents = max(self.size, 1)
        for t in set(terms) - set(self._idf):
            found = self.client.search(
                self.engine.names.chunks,
                data=[t],
                anns_field="sparse",
                limit=min(documents, MAX_COUNTED),
                output_fields=[],
            )[0]
            frequency = len(found)
            self._idf[t] = float(np.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))) if frequency else 0.0
        unseen = float(np.log(1 + (documents - 0.5) / 1.5))  # the idf of a term in one chunk, as the local store
        return [self._idf[t] or unseen for t in terms]

    def _chunk_rows(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        rows = self.client.query(
            self.engine.names.chunks, filter=expr, output_fields=["article_id", "version", *fields]
        )
        return [r for r in rows if self._active(r["article_id"], r["version"])]

    def similarities(self, vector: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """Cosines from the latest dense search; the other chunks' from a dense search restricted to them (one round
        trip, no vectors sent back), and from their vectors for any such a search missed."""
        query = np.asarray(vector, dtype=np.float32)
        known = self._cosines[1] if self._cosines[0] == query.tobytes() else {}
        scores = {int(i): known[int(i)] for i in chunk_ids if int(i) in known}
        missing = [int(i) for i in chunk_ids if int(i) not in known]
        if missing:
            found = self.client.search(
                self.engine.names.chunks,
                data=[query.tolist()],
                anns_field="vector",
                limit=len(missing),
                filter=f"id in {missing}",
                output_fields=PASSAGE_FIELDS,
                search_params={"params": {"ef": max(128, len(missing))}},
            )[0]
            fetched = {int(hit["id"]): float(hit["distance"]) for hit in found}
            for hit in found:
                self._keep(int(hit["id"]), hit["entity"])
            if unfound := [i for i in missing if i not in fetched]:
                rows = self.client.get(self.engine.names.chunks, ids=unfound, output_fields=["vector"])
                fetched |= {int(r["id"]): float(np.asarray(r["vector"], dtype=np.float32) @ query) for r in rows}
            scores.update(fetched)
            known.update(fetched)  # the final hits ask again
        return {int(i): scores[int(i)] for i in chunk_ids if int(i) in scores}

    def _key(self, article_id: str) -> int:
        return version_key(article_id, self._entries[article_id][0])

    def hits(self, scored: Sequence[tuple[int, float]], similarity: dict[int, float]) -> list[Hit]:
        if not scored:
            return []
        rows = {i: self._passages[i] for i, _ in scored if i in self._passages}
        if missing := [i for i, _ in scored if i not in rows]:
            fetched = self.client.get(self.engine.names.chunks, ids=missing, output_fields=PASSAGE_FIELDS)
            rows |= {int(r["id"]): r for r in fetched}
        hits = []
        for i, score in scored:
            if (row := rows.get(i)) is None:
                continue
            extra = {"date": row["date"] or None, "source": row["byline"] or None}
            extra |= {"url": row["url"] or None, "author": row["author"] or None}
            hits.append(
                Hit(
                    i, score, similarity[i], row["text"], row["article_id"], row["title"], row["path"],
                    int(row["start"]), int(row["end"]), **extra,
                )
            )  # fmt: skip
        return hits

    def chunks_with_vectors(self, article_ids: Sequence[str]) -> tuple[list[Chunk], np.ndarray]:
        chunks: list[Chunk] = []
        vectors: list[list[float]] = []
        for article_id in article_ids:
            rows = self._chunk_rows(f"article_id == {quote(article_id)}", ["ordinal", "start", "end", "text", "vector"])
            for r in sorted(rows, key=lambda r: r["ordinal"]):
                chunks.append(Chunk(article_id, int(r["ordinal"]), int(r["start"]), int(r["end"]), r["text"]))
                vectors.append(r["vector"])
        if not vectors:
            return chunks, np.zeros((0, self.manifest.dimension), dtype=np.float32)
        return chunks, np.asarray(vectors, dtype=np.float32)

    def article_text(self, article_id: str) -> str:
        if article_id not in self._entries:
            raise KeyError(article_id)
        rows = self.client.get(self.engine.names.articles, ids=[self._key(article_id)], output_fields=["text"])
        if not rows:
            raise KeyError(article_id)
        return "".join(rows[0]["text"])

    def articles(self) -> list[ArticleRecord]:
        """Every article (a scan of the article rows: for the article list, not for searches)."""
        from rag.schemas import ArticleRecord

        fields = ("title", "path", "date", "url", "author", "source", "language")
        records = [
            ArticleRecord(
                id=r["id"],
                **{f: r[f] or None for f in fields} | {"title": r["title"], "path": r["path"]},
                chunks=self._entries[r["id"]][1],
                copies=json.loads(r["copies"]),
            )
            for r in self.engine.article_rows(("id", "version", *fields, "copies"))
            if self._active(r["id"], r["version"])
        ]
        return sorted(records, key=lambda r: (r.path, r.id))

    def close(self) -> None:
        """Nothing to release: the client belongs to the engine."""
