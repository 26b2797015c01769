"""The Milvus engine: the whole index in Milvus (Milvus Lite's file or server, Standalone, Distributed).

Three collections, named `<prefix>_chunks`, `<prefix>_articles` and `<prefix>_meta`:
- chunks: text and offsets, article id and version (the article's content hash), the dense vector, our Arabic
  analyser's terms (joined by spaces) with Milvus's BM25 function over them, the date / source / host that
  scope filters read, and the article's title, path, url, author and byline that hits show;
- articles: one row per article version with its details, its chunk count and its full text;
- meta: the manifest (embedder, chunking, format), every article's active version, chunk count and
  near-duplicates in BUCKETS rows (read whole by a build or a new view, instead of scanning the articles), a
  generation label that changes with every build step searches can see, the build lease, the versions a build
  step is writing or replacing (pending), and the versions no longer active (stale).

An article changes in three steps: the new version's chunks and row are written, the hash bucket switches the
article to it, the old version is listed as stale. Searches keep only chunks of their article's active version,
so a build killed at any point leaves every article at its old or its new version; the next build lists what the
killed one left. Stale versions are removed together once PURGE_AT of them wait: a delete in Milvus Lite costs
what the collection holds (13 ms at 10k chunks, 110 ms at 100k), so a change deletes nothing itself and its cost
follows the change, not the archive.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from immutables import Map

from rag.lexical import analyze
from rag.stores import Changes, IndexBusyError, IndexMismatchError, IndexMissingError, Manifest, host, source_keys
from rag.types import Article, Chunk, Hit, Scope

if TYPE_CHECKING:
    from rag.schemas import ArticleRecord

log = logging.getLogger(__name__)


class _ExpectedRefusal(logging.Filter):
    """pymilvus logs every refused call as an ERROR with its traceback before raising it. Milvus Lite served over
    gRPC refusing an HNSW index is expected (the store falls back to FLAT), so that record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "local mode only support" not in record.getMessage()


logging.getLogger("pymilvus.decorators").addFilter(_ExpectedRefusal())
# Milvus Lite 2.5 reads its version with pkg_resources, which warns at every import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

TEXT_PART = 16_000  # characters per stored part of an article's text (at most 4 bytes each: under 64 KiB)
MAX_PARTS = 4096  # Milvus's largest array: articles up to 65M characters
BATCH_ARTICLES = 64  # articles switched together (one generation step)
BUCKETS = 1024  # meta rows holding every article's content hash (about 500 articles each fit in one row)
LEASE_SECONDS = 30.0  # the default of store.lease_seconds: a build's lease, renewed every third of it
SETTLE_SECONDS = 0.5  # wait after taking the lease, then read it back: two builds that raced see one winner
ARTICLE_FIELDS = ("id", "version", "title", "path", "date", "url", "author", "source", "language")
ARTICLE_FIELDS += ("copies", "chunks")
LAYOUT = 2  # how the collections are laid out (1: article rows keyed by article id; 2: by article version)
PURGE_AT = 128  # stale article versions that wait before one purge deletes them all (their list is a meta row)
# What a search brings back of each chunk: all a hit shows (no second round trip for the article's details).
PASSAGE_FIELDS = ["article_id", "version", "text", "start", "end", "title", "path", "date", "url", "author", "byline"]
MAX_KEPT = 4096  # chunk rows a view keeps from its searches, for the hits that follow (then it starts afresh)
MAX_COUNTED = 16_384  # Milvus's largest search limit: the most chunks idf counts for a term
BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s's defaults, as the local store uses


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def listed(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


Entry = tuple[str, int, tuple[str, ...]]  # an article's version (content hash), chunk count, near-duplicate ids


def bucket(article_id: str) -> int:
    """The hash bucket (meta row) that holds an article's entry."""
    return int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=4).digest(), "big") % BUCKETS


def _id53(*parts: str) -> int:
    """A stable 53-bit id (exact in JavaScript): a re-run writes the same rows again."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 11


def chunk_id(article_id: str, version: str, ordinal: int) -> int:
    return _id53(article_id, version, str(ordinal))


def version_key(article_id: str, version: str) -> int:
    """The id of an article version's row."""
    return _id53(article_id, version)


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


def serve_lite(path: Path, address: str) -> None:
    """Milvus Lite's server mode: its engine (a process of its own) serves the file on `address` (host:port) to
    any number of processes, until this one is stopped (Ctrl-C, SIGTERM)."""
    from milvus_lite.server import Server

    server = Server(str(path), address)
    if not server.start():
        raise RuntimeError(f"Milvus Lite could not serve {path}: is it open in another process?")
    try:
        threading.Event().wait()
    finally:
        server.stop()


_engines: dict[tuple[str, str, str], MilvusEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(
    uri: str, token: str = "", prefix: str = "rag_news", lease_seconds: float = LEASE_SECONDS
) -> MilvusEngine:
    """The process's engine for this index: one client, and the entries its last build left (read once)."""
    with _engines_lock:
        engine = _engines.get((uri, token, prefix))
        if engine is None:
            engine = _engines[(uri, token, prefix)] = MilvusEngine(uri, token, prefix)
        engine.lease_seconds = lease_seconds  # builds of one process take the lease one after the other
        return engine


def forget(engine: MilvusEngine) -> None:
    with _engines_lock:
        for key in [k for k, v in _engines.items() if v is engine]:
            del _engines[key]


class MilvusEngine:
    """An index in Milvus, shared by every process that points at the same URI and collection prefix."""

    def __init__(self, uri: str, token: str = "", prefix: str = "rag_news") -> None:
        from pymilvus import MilvusClient

        # Milvus Lite gives iterators no server timestamp: pymilvus uses its own clock then, and warns at each read.
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
        self.uri = uri
        self.location = f"{uri} ({prefix})"
        self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        self.chunks, self.articles_, self.meta = f"{prefix}_chunks", f"{prefix}_articles", f"{prefix}_meta"
        self._snapshot: Snapshot | None = None  # read once per generation and build stamp
        self.lease_seconds = LEASE_SECONDS
        for name in (self.meta, self.articles_, self.chunks):  # collections are searched once loaded
            if self.client.has_collection(name):
                self.client.load_collection(name)

    # -- reading -----------------------------------------------------------------------------------------------

    def _meta(self, key: str) -> Any:
        return self._metas(key).get(key)

    def _metas(self, *keys: str) -> dict[str, Any]:
        """These meta rows' values, in one call (the keys missing are left out)."""
        if not self.client.has_collection(self.meta):
            return {}
        rows = self.client.get(self.meta, ids=list(keys), output_fields=["value"])
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def generation(self) -> str:
        label = self._meta("generation")
        if label is None:
            raise IndexMissingError(f"no index at {self.location}: build one with `rag index --store URI`")
        return str(label)

    def manifest(self) -> Manifest:
        return self._current().manifest

    def _current(self) -> Snapshot:
        """The index as its generation left it, every article's entry read from the BUCKETS meta rows once per
        generation and build stamp (a build killed between switching articles and labelling a generation leaves
        the stamp it wrote first): a build compares content hashes without scanning the articles, and a running
        process's next build reads nothing its last one wrote."""
        found = self._metas("generation", "stamp", "manifest", "layout")
        if "generation" not in found or "manifest" not in found:
            raise IndexMissingError(f"no index at {self.location}: build one with `rag index --store URI`")
        if (layout := found.get("layout")) != LAYOUT:
            raise IndexMismatchError(
                f"{self.location} was built by an older rag-news (layout {layout}, this one reads {LAYOUT}): "
                "rebuild it with `rag index --rebuild --store URI`"
            )
        generation, stamp = str(found["generation"]), found.get("stamp", "")
        cached = self._snapshot
        if cached is None or (cached.generation, cached.stamp) != (generation, stamp):
            entries = self._read_buckets(range(BUCKETS))
            cached = self._snapshot = Snapshot.of(generation, stamp, found["manifest"], entries)
        return cached

    def _read_buckets(self, buckets: Iterable[int]) -> dict[str, Entry]:
        entries: dict[str, Entry] = {}
        keys = [f"hashes/{b}" for b in sorted(set(buckets))]
        for first in range(0, len(keys), 256):
            for row in self.client.get(self.meta, ids=keys[first : first + 256], output_fields=["value"]):
                # (ids interned, as Article's: a build's look-ups compare the same string objects)
                entries.update({sys.intern(k): tuple(v) for k, v in json.loads(row["value"]).items()})  # type: ignore[misc]
        return entries

    def _active_versions(self, article_ids: Iterable[str]) -> dict[str, str]:
        """The active version of each of these articles, read afresh from their buckets."""
        ids = set(article_ids)
        return {a: entry[0] for a, entry in self._read_buckets(bucket(a) for a in ids).items() if a in ids}

    def _article_rows(self, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every article row (a scan: for the article list only)."""
        rows: list[dict[str, Any]] = []
        iterator = self.client.query_iterator(self.articles_, batch_size=1000, filter="", output_fields=list(fields))
        while batch := iterator.next():
            rows.extend(batch)
        iterator.close()
        return rows

    def open(self) -> MilvusStore:
        return MilvusStore(self, self._current())

    def drop(self) -> None:
        for name in (self.chunks, self.articles_, self.meta):
            self.client.drop_collection(name)
        self.close()

    def close(self) -> None:
        """Forget this engine (engine_for makes a new one) and stop the Milvus Lite process holding its file."""
        forget(self)
        if self.uri.endswith(".db"):
            from milvus_lite.server_manager import server_manager_instance

            self.client.close()
            server_manager_instance.release_server(self.uri)

    # -- building ----------------------------------------------------------------------------------------------

    @contextmanager
    def lock(self, wait: bool) -> Iterator[None]:
        """A lease row in the meta collection: held by one build at a time across machines, renewed while the
        build runs, and free again `lease_seconds` after a build was killed."""
        self._create(dimension=None)
        holder = uuid.uuid4().hex
        warned = False
        while not self._take_lease(holder):
            if not wait:
                raise IndexBusyError(f"another `rag index` is building {self.location}")
            if not warned:
                log.warning("another `rag index` is building %s; waiting for it to finish", self.location)
                warned = True
            time.sleep(1.0)
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease_seconds / 3):
                self._put("lease", {"holder": holder, "until": time.time() + self.lease_seconds})

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            if (self._meta("lease") or {}).get("holder") == holder:
                self.client.delete(self.meta, ids=["lease"])

    def _take_lease(self, holder: str) -> bool:
        lease = self._meta("lease")
        if lease and lease["holder"] != holder and lease["until"] > time.time():
            return False
        self._put("lease", {"holder": holder, "until": time.time() + self.lease_seconds})
        time.sleep(SETTLE_SECONDS)
        return (self._meta("lease") or {}).get("holder") == holder

    def _put(self, key: str, value: Any, **more: Any) -> None:
        """Write meta rows (several in one call: they land together)."""
        rows = []
        for k, v in {key: value, **more}.items():
            text = json.dumps(v, ensure_ascii=False)
            if (size := len(text.encode())) > 65_535:
                raise ValueError(
                    f"{self.location}: meta row {k!r} would hold {size} bytes, more than Milvus's 65,535 "
                    "(too many articles in one hash bucket, or article ids too long)"
                )
            rows.append({"key": k, "value": text, "dummy": [0, 0]})
        self.client.upsert(self.meta, rows)

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
        found = self._metas("manifest", "layout")
        head, layout = found.get("manifest"), found.get("layout")
        if head and (layout != LAYOUT or Manifest(**head).mismatch(manifest.embedder, manifest.chunking)):
            log.warning(
                "%s was built with other settings or by an older version: dropping it to rebuild", self.location
            )
            for name in (self.chunks, self.articles_):
                self.client.drop_collection(name)
            stale = ["manifest", "generation", "pending", "stale", "stamp", *(f"hashes/{b}" for b in range(BUCKETS))]
            self.client.delete(self.meta, ids=stale)  # (the lease stays)
            self._snapshot = None
        self._create(manifest.dimension)
        base = self._base()
        stale = self._settle()
        head = {f.name: getattr(manifest, f.name) for f in fields(manifest) if f.name not in ("articles", "copies")}
        head["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        stamp = uuid.uuid4().hex
        self._put("manifest", head, layout=LAYOUT, stamp=stamp)  # the stamp before anything switches
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
            self._put("pending", new + old)  # before any row: a killed build's versions are found
            rows = [
                self._chunk_row(a, chunks[p], vectors[p])
                for a in batch
                if a.id in rewritten
                for p in by_article.get(a.id, [])
            ]
            for first in range(0, len(rows), 512):
                self._insert_new(self.chunks, rows[first : first + 512])
            self._insert_new(self.articles_, [self._article_row(a, counts[a.id]) for a in batch if a.id in rewritten])
            if same := [self._article_row(a, counts[a.id]) for a in batch if a.id not in rewritten]:
                self.client.upsert(self.articles_, same)  # only their near-duplicate lists changed
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
            self._put("pending", retired)
            stale += retired
            removed: dict[str, Entry | None] = dict.fromkeys(batch)
            generation = self._switch(removed, stale)
            updates |= removed
            stale = self._purge(stale)
        if generation is None:  # an empty first build
            generation = self._put_generation()
        snapshot = self._snapshot = base.changed(generation, stamp, head, updates)  # the next build reads no bucket
        if not snapshot.entries:  # an empty index keeps nothing
            self._purge(stale, due=1)
        for name in (self.chunks, self.articles_):  # sealed segments are indexed and persisted
            self.client.flush(name)
        return snapshot.chunks

    def _base(self) -> Snapshot:
        """The index a build starts from (an empty one before the first build)."""
        try:
            return self._current()
        except IndexMissingError:
            return Snapshot.of("", "", {"embedder": "", "dimension": 0, "chunking": {}}, {})

    def _put_generation(self, **more: Any) -> str:
        label = uuid.uuid4().hex
        self._put("generation", label, **more)
        return label

    def _switch(self, changes: dict[str, Entry | None], stale: list[Version]) -> str:
        """Switch these articles to their entries (None: removed) in their hash buckets, with a new generation label
        for searches, the versions now stale and none pending, in one write."""
        buckets = {bucket(article_id) for article_id in changes}
        contents: dict[int, dict[str, Entry]] = {b: {} for b in buckets}
        for article_id, entry in self._read_buckets(buckets).items():  # read and changed: the cost follows the change
            contents[bucket(article_id)][article_id] = entry
        for article_id, entry in changes.items():
            if entry is None:
                contents[bucket(article_id)].pop(article_id, None)
            else:
                contents[bucket(article_id)][article_id] = entry
        return self._put_generation(stale=stale, pending=[], **{f"hashes/{b}": c for b, c in contents.items()})

    def _settle(self) -> list[Version]:
        """Every stale version, with a killed build's pending versions that are not active among them."""
        found = self._metas("pending", "stale")
        stale: list[Version] = [tuple(v) for v in found.get("stale") or []]  # type: ignore[misc]
        pending: list[Version] = [tuple(v) for v in found.get("pending") or []]  # type: ignore[misc]
        if pending:
            active = self._active_versions(a for a, _, _ in pending)
            stale += [v for v in pending if active.get(v[0]) != v[1]]
            self._put("stale", stale, pending=[])
        return stale

    def _purge(self, stale: list[Version], due: int | None = None) -> list[Version]:
        """Once `due` (PURGE_AT) stale versions wait, delete their chunks and rows in one go, keeping a version
        active again (an article changed back); returns the versions still waiting."""
        if not stale or len(stale) < (due or PURGE_AT):
            return stale
        active = self._active_versions(a for a, _, _ in stale)
        retired = {v for v in stale if active.get(v[0]) != v[1]}
        ids = [chunk_id(a, version, ordinal) for a, version, count in retired for ordinal in range(count)]
        for first in range(0, len(ids), 16_384):
            self.client.delete(self.chunks, ids=ids[first : first + 16_384])
        if retired:
            self.client.delete(self.articles_, ids=[version_key(a, version) for a, version, _ in retired])
        self._put("stale", [])
        log.info("purged %d stale article versions (%d chunks)", len(retired), len(ids))
        return []

    def _insert_new(self, collection: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows not stored yet (a re-run writes the same ids). Not an upsert: in Milvus Lite that deletes
        first, and a delete costs what the collection holds."""
        if not rows:
            return
        field = "id" if collection == self.chunks else "key"
        found = self.client.get(collection, ids=[row[field] for row in rows], output_fields=[field])
        stored = {int(r[field]) for r in found}
        if new := [row for row in rows if row[field] not in stored]:
            self.client.insert(collection, new)

    @staticmethod
    def _chunk_row(article: Article, chunk: Chunk, vector: np.ndarray) -> dict[str, Any]:
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

    @staticmethod
    def _article_row(article: Article, chunks: int) -> dict[str, Any]:
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
            "copies": _copies_json(article),
            "chunks": chunks,
            "text": parts,
            "dummy": [0, 0],
        }

    def _index(self, collection: str, field: str, kind: str, metric: str, options: dict[str, Any]) -> None:
        params = self.client.prepare_index_params()
        params.add_index(field_name=field, index_type=kind, metric_type=metric, params=options)
        self.client.create_index(collection, params, sync=False)

    def _create(self, dimension: int | None) -> None:
        """The three collections, when missing (chunks only once the vector dimension is known)."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

        def create(name: str, schema, indexes: list[tuple[str, str, str, dict[str, Any]]]) -> None:
            # Indexes created after the collection, without waiting on them (loading waits for them).
            self.client.create_collection(name, schema=schema, consistency_level="Strong")
            for field, kind, metric, options in indexes:
                if kind == "HNSW" and self.uri.endswith(".db"):  # Milvus Lite (a file): no HNSW
                    kind, options = "FLAT", {}
                try:
                    self._index(name, field, kind, metric, options)
                except MilvusException as refused:  # Milvus Lite takes FLAT, IVF_FLAT or AUTOINDEX vectors only
                    if kind != "HNSW" or "local mode" not in str(refused):
                        raise
                    self._index(name, field, "FLAT", metric, {})  # exact search: Lite's is fast enough at 100k
            self.client.load_collection(name)

        placeholder = [("dummy", "FLAT", "L2", {})]  # Milvus servers need a vector field in every collection
        if not self.client.has_collection(self.meta):
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("value", DataType.VARCHAR, max_length=65_535)
            schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
            create(self.meta, schema, placeholder)
        if not self.client.has_collection(self.articles_):
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("key", DataType.INT64, is_primary=True)  # version_key(id, version)
            schema.add_field("id", DataType.VARCHAR, max_length=1024)
            for name in ARTICLE_FIELDS[1:-2]:
                schema.add_field(name, DataType.VARCHAR, max_length=4096)
            schema.add_field("copies", DataType.VARCHAR, max_length=65_535)
            schema.add_field("chunks", DataType.INT64)
            schema.add_field(
                "text", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_PARTS, max_length=65_535
            )
            schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)
            create(self.articles_, schema, placeholder)
        if dimension is not None and not self.client.has_collection(self.chunks):
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("article_id", DataType.VARCHAR, max_length=1024)
            schema.add_field("version", DataType.VARCHAR, max_length=128)
            for name in ("ordinal", "start", "end"):
                schema.add_field(name, DataType.INT64)
            schema.add_field("text", DataType.VARCHAR, max_length=65_535)
            schema.add_field(  # our analyser's terms: Milvus splits them at spaces only
                "terms",
                DataType.VARCHAR,
                max_length=65_535,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "whitespace"},
            )
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            for name in ("date", "source", "host"):
                schema.add_field(name, DataType.VARCHAR, max_length=512)
            for name in ("title", "path", "url", "author", "byline"):  # the article's, for hits
                schema.add_field(name, DataType.VARCHAR, max_length=4096)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["terms"],
                    output_field_names=["sparse"],
                )
            )
            create(
                self.chunks,
                schema,
                [
                    ("vector", "HNSW", "IP", {"M": 32, "efConstruction": 80}),
                    ("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25),
                    ("article_id", "INVERTED", "", {}),
                ],
            )


def _score(found: dict[str, Any], field: str) -> float:
    """Inner product, or BM25 on bm25s's scale (as the local store): Milvus Lite reports BM25 negated, and with
    the (k1 + 1) factor that Lucene's BM25 leaves out."""
    distance = float(found["distance"])
    return distance if field == "vector" else abs(distance) / (1 + BM25["bm25_k1"])


def _copies_json(article: Article) -> str:
    return json.dumps([asdict(c) for c in article.copies], ensure_ascii=False)


class MilvusStore:
    """One view of a Milvus index: the articles' active versions as of `generation`, searched in Milvus.

    Article details are fetched for the articles that hits come from (and kept); the cosines and BM25 scores a
    search returns are kept for the fusion and the hits of the same query, saving round trips."""

    def __init__(self, engine: MilvusEngine, snapshot: Snapshot) -> None:
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
                self.engine.chunks,
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
                    active.append((int(hit["id"]), _score(hit, field)))
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
                self.engine.chunks,
                data=[terms],
                anns_field="sparse",
                limit=len(missing),
                filter=f"id in {missing}",
                output_fields=["id"],
            )[0]
            scores.update({int(h["id"]): _score(h, "sparse") for h in found})
        return scores

    def idf(self, terms: Sequence[str]) -> list[float]:
        """BM25 idf from each term's chunk count, cached per view. The count is the number of chunks a BM25 search
        for the term alone finds (those holding it), so it is exact up to MAX_COUNTED chunks and MAX_COUNTED above
        (an idf at most log(1 + size / MAX_COUNTED) too high, for terms in more than that many chunks)."""
        documents = max(self.size, 1)
        for t in set(terms) - set(self._idf):
            found = self.client.search(
                self.engine.chunks, data=[t], anns_field="sparse", limit=min(documents, MAX_COUNTED), output_fields=[]
            )[0]
            frequency = len(found)
            self._idf[t] = float(np.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))) if frequency else 0.0
        unseen = float(np.log(1 + (documents - 0.5) / 1.5))  # the idf of a term in one chunk, as the local store
        return [self._idf[t] or unseen for t in terms]

    def _chunk_rows(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        rows = self.client.query(self.engine.chunks, filter=expr, output_fields=["article_id", "version", *fields])
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
                self.engine.chunks,
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
                rows = self.client.get(self.engine.chunks, ids=unfound, output_fields=["vector"])
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
            fetched = self.client.get(self.engine.chunks, ids=missing, output_fields=PASSAGE_FIELDS)
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
        rows = self.client.get(self.engine.articles_, ids=[self._key(article_id)], output_fields=["text"])
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
            for r in self.engine._article_rows(("id", "version", *fields, "copies"))
            if self._active(r["id"], r["version"])
        ]
        return sorted(records, key=lambda r: (r.path, r.id))

    def close(self) -> None:
        """Nothing to release: the client belongs to the engine."""
