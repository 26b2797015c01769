"""The store contract: what an index is built with (Manifest), what a build changes (Changes), the problems a
location reports, and the two interfaces every engine implements: `IndexEngine` (a location builds write to)
and `IndexStore` (one consistent view that searches read)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rag.types import Article, Chunk, Hit, Scope

if TYPE_CHECKING:
    from rag.schemas import ArticleRecord

FORMAT_VERSION = 2  # 2: article author, source, language, host, near-duplicate copies


class IndexProblem(RuntimeError):
    """Base class for index problems."""


class IndexMissingError(IndexProblem):
    """No index has been built at the location."""


class IndexMismatchError(IndexProblem):
    """The index was built with another embedder, chunker or format."""


class IndexBusyError(RuntimeError):
    """Another build holds the index lock."""


class ForeignFolderError(IndexProblem):
    """The index is built from another articles folder: a build from this one would delete that folder's articles."""


@dataclass
class Manifest:
    """What an index was built with, and the content hash of every article in it."""

    embedder: str
    dimension: int
    chunking: dict[str, Any]
    articles: Mapping[str, str] = field(default_factory=dict)  # article id -> content hash
    copies: dict[str, list[str]] = field(default_factory=dict)  # article id -> ids of its near-duplicates
    format_version: int = FORMAT_VERSION
    built_at: str = ""
    folder: str = ""  # the articles folder it is built from: "<id> <host>:<path>" (rag.articles.folder_identity)

    def mismatch(self, embedder: str, chunking: dict[str, Any]) -> str | None:
        """Why this index cannot serve the given settings, or None when it can."""
        if self.format_version != FORMAT_VERSION:
            return f"index format {self.format_version}, this version reads format {FORMAT_VERSION}"
        if self.embedder != embedder:
            return f"index built with embedder '{self.embedder}' ({self.dimension}-d), settings ask for '{embedder}'"
        if self.chunking != chunking:
            return f"index built with chunking {self.chunking}, settings ask for {chunking}"
        return None


@dataclass(frozen=True)
class Changes:
    """How a build's articles differ from the index, by article: what a store writing by article touches."""

    rewritten: Sequence[Article]  # new and changed articles, written with the build's chunks and vectors
    relabelled: Sequence[Article] = ()  # indexed articles whose near-duplicate list alone changed
    removed: Sequence[str] = ()  # ids of indexed articles no longer among the build's

    def rewritten_ids(self) -> set[str]:
        return {a.id for a in self.rewritten}


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


def source_keys(sources: Sequence[str]) -> list[str]:
    """Scope sources as stored for matching: lower case, without 'www.'."""
    return [s.strip().lower().removeprefix("www.") for s in sources]


class IndexStore(Protocol):
    """One consistent view of an index: ranked chunk ids from both retrievers, and look-ups."""

    generation: str
    manifest: Manifest

    @property
    def size(self) -> int:
        """Chunks searched."""
        ...

    def dense(self, vector: np.ndarray, k: int, scope: Scope) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the k nearest chunks in the scope, best first."""
        ...

    def lexical(self, query: str, k: int, scope: Scope) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of up to k chunks in the scope sharing a term with the query, best first."""
        ...

    def lexical_scores(self, query: str, chunk_ids: Sequence[int]) -> dict[int, float]:
        """BM25 score of the query for each given chunk (0 when it shares no term)."""
        ...

    def idf(self, terms: Sequence[str]) -> list[float]:
        """BM25 idf of each analysed term; a term no chunk holds gets the highest idf."""
        ...

    def similarities(self, vector: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """Exact inner product of the query vector with the given chunks' vectors."""
        ...

    def hits(self, scored: Sequence[tuple[int, float]], similarity: dict[int, float]) -> list[Hit]:
        """Hits for (chunk id, ranking score) pairs, in the given order, with their cosine similarity."""
        ...

    def chunks_with_vectors(self, article_ids: Sequence[str]) -> tuple[list[Chunk], np.ndarray]:
        """The stored chunks of the given articles, in article order, with their vectors (for reuse)."""
        ...

    def article_text(self, article_id: str) -> str:
        """The cleaned article text that chunk offsets point into (KeyError when unknown)."""
        ...

    def articles(self) -> list[ArticleRecord]:
        """Every indexed article with its chunk count, by path."""
        ...

    def close(self) -> None: ...


class IndexEngine(Protocol):
    """A place an index lives: builds write to it (one at a time), searches open views of it."""

    location: str  # for messages: a folder, a .db file or a server URI

    def generation(self) -> str:
        """A label that changes whenever a build changes what searches see (IndexMissingError when none)."""
        ...

    def manifest(self) -> Manifest:
        """What the index was built with and the content hash of every article (IndexMissingError when none)."""
        ...

    def open(self) -> IndexStore:
        """A view of the current index (IndexMissingError when none)."""
        ...

    def lock(self, wait: bool) -> AbstractContextManager[None]:
        """Held while building; IndexBusyError at once when another build holds it and `wait` is False."""
        ...

    def drop(self) -> None:
        """Delete the whole index (for temporary indexes such as `rag eval`'s)."""
        ...

    def write(
        self,
        manifest: Manifest,
        articles: Sequence[Article],
        changes: Changes,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        previous: IndexStore | None,
    ) -> int:
        """Make the index hold exactly `articles`: the rewritten ones (`changes`) with the given chunks and vectors,
        the others as `previous` holds them. Searches see every article at its old or its new version. Returns the
        number of chunks the index now holds."""
        ...
