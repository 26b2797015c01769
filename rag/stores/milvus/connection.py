"""The connection to an index in Milvus, shared by its engine, its views and its builds: the client, the
collections' names, the meta rows (read and written), the snapshot of every article's entry read from them,
and the lease a build of this process holds."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rag.stores.base import IndexMismatchError, IndexMissingError
from rag.stores.milvus.lease import LEASE_SECONDS, Lease
from rag.stores.milvus.rows import BUCKETS, LAYOUT, Entry, Snapshot, bucket
from rag.stores.milvus.schema import Collections, create_collections


class Connection:
    """One client for an index (a URI and a collection prefix) and what it reads and writes in the meta rows."""

    def __init__(self, uri: str, token: str = "", prefix: str = "rag_news") -> None:
        from pymilvus import MilvusClient

        # Milvus Lite gives iterators no server timestamp: pymilvus uses its own clock then, and warns at each read.
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
        self.uri = uri
        self.location = f"{uri} ({prefix})"
        self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        self.names = Collections.named(prefix)
        self.snapshot: Snapshot | None = None  # read once per generation and build stamp
        self.lease_seconds = LEASE_SECONDS
        self.lease: Lease | None = None  # while a build of this process holds it
        for name in (self.names.meta, self.names.articles, self.names.chunks):  # collections are searched once loaded
            if self.client.has_collection(name):
                self.client.load_collection(name)

    def meta_value(self, key: str) -> Any:
        return self.meta_values(key).get(key)

    def meta_values(self, *keys: str) -> dict[str, Any]:
        """These meta rows' values, in one call (the keys missing are left out)."""
        if not self.client.has_collection(self.names.meta):
            return {}
        rows = self.client.get(self.names.meta, ids=list(keys), output_fields=["value"])
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def current(self) -> Snapshot:
        """The index as its generation left it, every article's entry read from the BUCKETS meta rows once per
        generation and build stamp (a build killed between switching articles and labelling a generation leaves
        the stamp it wrote first): a build compares content hashes without scanning the articles, and a running
        process's next build reads nothing its last one wrote."""
        found = self.meta_values("generation", "stamp", "manifest", "layout")
        if "generation" not in found or "manifest" not in found:
            raise IndexMissingError(f"no index at {self.location}: build one with `rag index --store URI`")
        if (layout := found.get("layout")) != LAYOUT:
            raise IndexMismatchError(
                f"{self.location} was built by an older rag-news (layout {layout}, this one reads {LAYOUT}): "
                "rebuild it with `rag index --rebuild --store URI`"
            )
        generation, stamp = str(found["generation"]), found.get("stamp", "")
        cached = self.snapshot
        if cached is None or (cached.generation, cached.stamp) != (generation, stamp):
            entries = self.read_buckets(range(BUCKETS))
            cached = self.snapshot = Snapshot.of(generation, stamp, found["manifest"], entries)
        return cached

    def read_buckets(self, buckets: Iterable[int]) -> dict[str, Entry]:
        entries: dict[str, Entry] = {}
        keys = [f"hashes/{b}" for b in sorted(set(buckets))]
        for first in range(0, len(keys), 256):
            for row in self.client.get(self.names.meta, ids=keys[first : first + 256], output_fields=["value"]):
                # (ids interned, as Article's: a build's look-ups compare the same string objects)
                entries.update({sys.intern(k): tuple(v) for k, v in json.loads(row["value"]).items()})  # type: ignore[misc]
        return entries

    def active_versions(self, article_ids: Iterable[str]) -> dict[str, str]:
        """The active version of each of these articles, read afresh from their buckets."""
        ids = set(article_ids)
        return {a: entry[0] for a, entry in self.read_buckets(bucket(a) for a in ids).items() if a in ids}

    def article_rows(self, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every article row (a scan: for the article list only)."""
        rows: list[dict[str, Any]] = []
        iterator = self.client.query_iterator(
            self.names.articles, batch_size=1000, filter="", output_fields=list(fields)
        )
        while batch := iterator.next():
            rows.extend(batch)
        iterator.close()
        return rows

    def put_meta(self, key: str, value: Any, **more: Any) -> None:
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
        self.client.upsert(self.names.meta, rows)

    def create(self, dimension: int | None) -> None:
        """The collections, when missing (chunks only once the vector dimension is known)."""
        create_collections(self.client, self.uri, self.names, dimension)

    def check_lease(self) -> None:
        """Raise LeaseLost when this process's build no longer holds the lease."""
        if self.lease is not None:
            self.lease.check()
