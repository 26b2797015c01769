"""Where the index lives: one interface, two engines (the local FAISS + SQLite folder, or Milvus).

An `IndexEngine` is a location that builds write to and searches read from; `IndexStore` is what a search
reads (one consistent view of the engine, reopened when `IndexEngine.generation()` changes). Retrieval,
answering, eval, the CLI and the servers only use these two; `engine_for(settings)` picks the engine from
`settings.store.uri`: unset or a folder -> local, `*.db` -> a Milvus Lite file, `http(s)://` -> a Milvus server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.stores.base import (
    FORMAT_VERSION,
    Changes,
    ForeignFolderError,
    IndexBusyError,
    IndexEngine,
    IndexMismatchError,
    IndexMissingError,
    IndexProblem,
    IndexStore,
    Manifest,
    copies_of,
    host,
    source_keys,
)

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = [
    "FORMAT_VERSION",
    "Changes",
    "ForeignFolderError",
    "IndexBusyError",
    "IndexEngine",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexProblem",
    "IndexStore",
    "Manifest",
    "copies_of",
    "engine_for",
    "host",
    "location_key",
    "source_keys",
]


def location_key(settings: Settings) -> str:
    """What identifies the index `settings` name, across processes (a resolved folder, or URI and prefix)."""
    if settings.store.is_milvus:
        return f"{settings.store.uri}#{settings.store.collection}"
    return str(settings.index_dir.resolve())


def engine_for(settings: Settings) -> IndexEngine:
    """The engine `settings.store.uri` names (the local folder `settings.index_dir` when unset)."""
    uri = settings.store.uri
    if settings.store.is_milvus:
        from rag.stores.milvus import shared_engine

        return shared_engine(uri, settings.store.token, settings.store.collection, settings.store.lease_seconds)
    from rag.stores.local import LocalEngine

    return LocalEngine(settings.index_dir, settings.retrieval.hnsw_from)  # (a folder URI is index_dir: config.py)
