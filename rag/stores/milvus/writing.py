"""A build's writing to a Milvus index, in steps that searches can see one at a time (see rag.stores.milvus):
new versions written, articles switched to them in their hash buckets, old versions retired and later purged
together. Each step checks that the build still holds the lease."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.stores.base import Changes, IndexMissingError, Manifest
from rag.stores.milvus.rows import (
    BUCKETS,
    LAYOUT,
    Entry,
    Snapshot,
    Version,
    article_row,
    bucket,
    chunk_id,
    chunk_row,
    version_key,
)
from rag.types import Article, Chunk

if TYPE_CHECKING:
    from rag.stores.milvus.connection import Connection

BATCH_ARTICLES = 64  # articles switched together (one generation step)
PURGE_AT = 128  # stale article versions that wait before one purge deletes them all (their list is a meta row)
log = logging.getLogger(__name__)


class Writer:
    """One build's writes to an engine's index."""

    def __init__(self, engine: Connection) -> None:
        self.engine = engine
        self.names = engine.names

    def write(
        self,
        manifest: Manifest,
        articles: Sequence[Article],
        changes: Changes,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        previous: object | None,
    ) -> int:
        """Write the rewritten articles and retire the gone ones, a batch at a time (see the module doc); articles
        whose chunks are unchanged are not touched, except for changed near-duplicate lists."""
        found = self.engine.meta_values("manifest", "layout")
        head, layout = found.get("manifest"), found.get("layout")
        if head and (layout != LAYOUT or Manifest(**head).mismatch(manifest.embedder, manifest.chunking)):
            log.warning(
                "%s was built with other settings or by an older version: dropping it to rebuild", self.engine.location
            )
            for name in (self.names.chunks, self.names.articles):
                self.engine.client.drop_collection(name)
            stale = ["manifest", "generation", "pending", "stale", "stamp", *(f"hashes/{b}" for b in range(BUCKETS))]
            self.engine.client.delete(self.names.meta, ids=stale)  # (the lease stays)
            self.engine.snapshot = None
        self.engine.create(manifest.dimension)
        base = self._base()
        stale = self._settle()
        head = {f.name: getattr(manifest, f.name) for f in fields(manifest) if f.name not in ("articles", "copies")}
        head["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        stamp = uuid.uuid4().hex
        self.engine.put_meta("manifest", head, layout=LAYOUT, stamp=stamp)  # the stamp before anything switches
        by_article: dict[str, list[int]] = {}
        for position, chunk in enumerate(chunks):
            by_article.setdefault(chunk.article_id, []).append(position)
        indexed = base.entries
        rewritten = changes.rewritten_ids()
        changed = [*changes.rewritten, *changes.relabelled]
        updates: dict[str, Entry | None] = {}
        generation = base.generation or None
        for start in range(0, len(changed), BATCH_ARTICLES):
            batch = changed[start : start + BATCH_ARTICLES]
            counts = {a.id: len(by_article[a.id]) if a.id in rewritten else indexed[a.id][1] for a in batch}
            new = [(a.id, a.content_hash, counts[a.id]) for a in batch if a.id in rewritten]
            old = [(a.id, *indexed[a.id][:2]) for a in batch if a.id in rewritten and a.id in indexed]
            self.engine.put_meta("pending", new + old)  # before any row: a killed build's versions are found
            rows = [
                chunk_row(a, chunks[p], vectors[p])
                for a in batch
                if a.id in rewritten
                for p in by_article.get(a.id, [])
            ]
            for first in range(0, len(rows), 512):
                self._insert_new(self.names.chunks, rows[first : first + 512])
            self._insert_new(self.names.articles, [article_row(a, counts[a.id]) for a in batch if a.id in rewritten])
            if same := [article_row(a, counts[a.id]) for a in batch if a.id not in rewritten]:
                self.engine.client.upsert(self.names.articles, same)  # only their near-duplicate lists changed
            switched = {a.id: (a.content_hash, counts[a.id], tuple(c.id for c in a.copies)) for a in batch}
            stale += [v for v in old if v[1] != switched[v[0]][0]]
            generation = self._switch(switched, stale)
            updates |= switched
            stale = self._purge(stale)
            log.info("switched %d of %d changed articles", start + len(batch), len(changed))
        gone = [article_id for article_id in changes.removed if article_id in indexed]
        if len(indexed) + sum(1 for article_id in updates if article_id not in indexed) - len(gone) != len(articles):
            gone = sorted(set(indexed) - {a.id for a in articles})  # (not told: e.g. --rebuild, which has no previous)
        for start in range(0, len(gone), BATCH_ARTICLES):
            batch = gone[start : start + BATCH_ARTICLES]
            retired = [(a, *indexed[a][:2]) for a in batch]
            self.engine.put_meta("pending", retired)
            stale += retired
            removed: dict[str, Entry | None] = dict.fromkeys(batch)
            generation = self._switch(removed, stale)
            updates |= removed
            stale = self._purge(stale)
        if generation is None:  # an empty first build
            generation = self._put_generation()
        snapshot = self.engine.snapshot = base.changed(
            generation, stamp, head, updates
        )  # the next build reads no bucket
        if not snapshot.entries:  # an empty index keeps nothing
            self._purge(stale, due=1)
        for name in (self.names.chunks, self.names.articles):  # sealed segments are indexed and persisted
            self.engine.client.flush(name)
        return snapshot.chunks

    def _base(self) -> Snapshot:
        """The index a build starts from (an empty one before the first build)."""
        try:
            return self.engine.current()
        except IndexMissingError:
            return Snapshot.of("", "", {"embedder": "", "dimension": 0, "chunking": {}}, {})

    def _put_generation(self, **more: Any) -> str:
        label = uuid.uuid4().hex
        self.engine.put_meta("generation", label, **more)
        return label

    def _switch(self, changes: dict[str, Entry | None], stale: list[Version]) -> str:
        """Switch these articles to their entries (None: removed) in their hash buckets, with a new generation label
        for searches, the versions now stale and none pending, in one write."""
        self.engine.check_lease()  # a build that stalled past its lease stops before it switches anything
        buckets = {bucket(article_id) for article_id in changes}
        contents: dict[int, dict[str, Entry]] = {b: {} for b in buckets}
        for article_id, entry in self.engine.read_buckets(
            buckets
        ).items():  # read and changed: the cost follows the change
            contents[bucket(article_id)][article_id] = entry
        for article_id, entry in changes.items():
            if entry is None:
                contents[bucket(article_id)].pop(article_id, None)
            else:
                contents[bucket(article_id)][article_id] = entry
        return self._put_generation(stale=stale, pending=[], **{f"hashes/{b}": c for b, c in contents.items()})

    def _settle(self) -> list[Version]:
        """Every stale version, with a killed build's pending versions that are not active among them."""
        found = self.engine.meta_values("pending", "stale")
        stale: list[Version] = [tuple(v) for v in found.get("stale") or []]  # type: ignore[misc]
        pending: list[Version] = [tuple(v) for v in found.get("pending") or []]  # type: ignore[misc]
        if pending:
            active = self.engine.active_versions(a for a, _, _ in pending)
            stale += [v for v in pending if active.get(v[0]) != v[1]]
            self.engine.put_meta("stale", stale, pending=[])
        return stale

    def _purge(self, stale: list[Version], due: int | None = None) -> list[Version]:
        """Once `due` (PURGE_AT) stale versions wait, delete their chunks and rows in one go, keeping a version
        active again (an article changed back); returns the versions still waiting."""
        if not stale or len(stale) < (due or PURGE_AT):
            return stale
        active = self.engine.active_versions(a for a, _, _ in stale)
        retired = {v for v in stale if active.get(v[0]) != v[1]}
        ids = [chunk_id(a, version, ordinal) for a, version, count in retired for ordinal in range(count)]
        for first in range(0, len(ids), 16_384):
            self.engine.client.delete(self.names.chunks, ids=ids[first : first + 16_384])
        if retired:
            self.engine.client.delete(self.names.articles, ids=[version_key(a, version) for a, version, _ in retired])
        self.engine.put_meta("stale", [])
        log.info("purged %d stale article versions (%d chunks)", len(retired), len(ids))
        return []

    def _insert_new(self, collection: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows not stored yet (a re-run writes the same ids). Not an upsert: in Milvus Lite that deletes
        first, and a delete costs what the collection holds."""
        if not rows:
            return
        field = "id" if collection == self.names.chunks else "key"
        found = self.engine.client.get(collection, ids=[row[field] for row in rows], output_fields=[field])
        stored = {int(r[field]) for r in found}
        if new := [row for row in rows if row[field] not in stored]:
            self.engine.client.insert(collection, new)
