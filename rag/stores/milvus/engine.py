"""The Milvus engine (rag.stores.base.IndexEngine) over a connection: views that searches open, builds under
the lease, dropping the index, and the process's registry of engines (one per URI and collection prefix)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from rag.stores.base import Changes, IndexMissingError, Manifest
from rag.stores.milvus.connection import Connection
from rag.stores.milvus.lease import LEASE_SECONDS, Lease
from rag.stores.milvus.reading import MilvusStore
from rag.stores.milvus.writing import Writer
from rag.types import Article, Chunk

log = logging.getLogger(__name__)

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


class MilvusEngine(Connection):
    """An index in Milvus, shared by every process that points at the same URI and collection prefix."""

    def generation(self) -> str:
        label = self.meta_value("generation")
        if label is None:
            raise IndexMissingError(f"no index at {self.location}: build one with `rag index --store URI`")
        return str(label)

    def manifest(self) -> Manifest:
        return self.current().manifest

    def open(self) -> MilvusStore:
        return MilvusStore(self, self.current())

    def drop(self) -> None:
        for name in (self.names.chunks, self.names.articles, self.names.meta):
            self.client.drop_collection(name)
        self.close()

    def close(self) -> None:
        """Forget this engine (engine_for makes a new one) and stop the Milvus Lite process holding its file."""
        forget(self)
        if self.uri.endswith(".db"):
            from milvus_lite.server_manager import server_manager_instance

            self.client.close()
            server_manager_instance.release_server(self.uri)

    @contextmanager
    def lock(self, wait: bool) -> Iterator[None]:
        """The build lease (rag.stores.milvus.lease): held by one build at a time across machines, renewed while
        the build runs, free again `lease_seconds` after a build was killed; a build that lost it stops."""
        self.create(dimension=None)
        with Lease(self.client, self.names.meta, self.location, self.lease_seconds).held(wait) as lease:
            self.lease = lease
            try:
                yield
            finally:
                self.lease = None

    def write(
        self,
        manifest: Manifest,
        articles: Sequence[Article],
        changes: Changes,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        previous: object | None,
    ) -> int:
        """Write a build's changes (rag.stores.milvus.writing), under the lease this process holds."""
        return Writer(self).write(manifest, articles, changes, chunks, vectors, previous)
