"""Building the index from the articles folder: load, chunk, embed, write; skip when already up to date."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rag.articles import FileReads, folder_identity, load_articles, same_folder
from rag.chunking import chunk_article
from rag.config import Settings
from rag.duplicates import NearDuplicates
from rag.embedding import Embedder
from rag.stores import (
    Changes,
    ForeignFolderError,
    IndexEngine,
    IndexMissingError,
    IndexStore,
    Manifest,
    copies_of,
    engine_for,
)
from rag.types import Article, Chunk

log = logging.getLogger(__name__)

# Bump when the chunking algorithm changes, so old indexes are reported as needing a rebuild.
CHUNKER_VERSION = 1


@dataclass
class BuildReport:
    """What `build_index` did: article changes found, chunks embedded, time taken."""

    built: bool
    reason: str
    articles: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0  # chunks that went through the embedder (not reused from the previous index)
    merged: list[str] = field(default_factory=list)  # near-duplicates indexed once, one line each


@dataclass
class FolderMemory:
    """What this process remembers of an articles folder between its builds (`rag watch`, `rag serve`, the UI): the
    files as read (reread once changed) and the near-duplicate search (only changed articles signed again). About
    9 KB per corpus news article, its text included (90 MB for 9,956: bench/folder_updates.py)."""

    reads: FileReads
    duplicates: NearDuplicates
    lock: threading.Lock = field(default_factory=threading.Lock)


_memories: OrderedDict[tuple[str, float], FolderMemory] = OrderedDict()
_memories_lock = threading.Lock()
REMEMBERED_FOLDERS = 4  # the folders most recently built from (e.g. `rag eval`'s temporary ones come and go)


def _memory_of(settings: Settings) -> FolderMemory:
    threshold = settings.near_duplicate_similarity or 2.0
    key = (str(settings.seeds_dir.resolve()), threshold)
    with _memories_lock:
        memory = _memories.pop(key, None) or FolderMemory(FileReads(), NearDuplicates(threshold))
        _memories[key] = memory
        while len(_memories) > REMEMBERED_FOLDERS:
            _memories.popitem(last=False)
        return memory


def chunker_params(settings: Settings) -> dict[str, int | bool]:
    """How chunks are cut and presented to the embedder: recorded in, and checked against, the manifest."""
    return {"version": CHUNKER_VERSION, **settings.chunking.model_dump(), "titles": settings.embedder.titles}


def _unique(articles: list[Article], problems: list[str]) -> list[Article]:
    """Drop articles whose text repeats an earlier one (the same article under two names), and those whose id
    repeats an earlier one (two records with one id in a JSON Lines file)."""
    seen: dict[str, str] = {}
    ids: set[str] = set()
    unique = []
    for article in articles:
        if article.text in seen:
            problems.append(f"{article.id}: skipped, same content as {seen[article.text]}")
            continue
        if article.id in ids:
            problems.append(f"{article.id}: skipped, an earlier article has the same id")
            continue
        seen[article.text] = article.id
        ids.add(article.id)
        unique.append(article)
    return unique


def staleness(settings: Settings, articles: list[Article], embedder: str, engine: IndexEngine) -> str | None:
    """Why the index must be (re)built for these articles by the embedder named `embedder`, or None when it is
    current."""
    try:
        manifest = engine.manifest()
    except IndexMissingError:
        return "no index yet"
    mismatch = manifest.mismatch(embedder, chunker_params(settings))
    if mismatch:
        return mismatch
    indexed = manifest.articles  # (article ids are unique: _unique)
    if len(indexed) != len(articles) or any(indexed.get(a.id) != a.content_hash for a in articles):
        return "articles changed"
    if manifest.copies != copies_of(articles):
        return "near-duplicates changed"
    return None


def build_index(
    settings: Settings,
    embedder: Embedder | None = None,
    force: bool = False,
    show_progress: bool = True,
    wait: bool = True,
    progress: Callable[[int, int], None] | None = None,
    ray: bool = False,
) -> BuildReport:
    """Bring the index in line with `settings.seeds_dir`, embedding only new and changed articles.

    Builds are serialised by a lock; with `wait=False` a second build raises IndexBusyError (finding the index up
    to date takes no lock). The process remembers the folder for its next build (FolderMemory).
    `progress(embedded, to_embed)` is called as chunks are embedded. With `ray`, the new articles are
    chunked and embedded by actors on the Ray cluster of `settings.ray`."""
    started = time.perf_counter()
    engine = engine_for(settings)
    folder = _read_folder(settings)
    embedder = embedder or Embedder(settings.embedder, settings.models_dir)
    if not force and staleness(settings, folder.articles, embedder.name, engine) is None:
        return folder.up_to_date()  # (no lock taken: an unchanged re-run never waits for a build)
    with engine.lock(wait):
        return _build(settings, engine, folder, embedder, force, show_progress, progress, ray, started)


@dataclass
class _Folder:
    """The articles folder as a build sees it: its articles (near-duplicates merged), problems and merge notes."""

    articles: list[Article]
    problems: list[str]
    merged: list[str]

    def up_to_date(self) -> BuildReport:
        count = len(self.articles)
        return BuildReport(False, "up to date", count, problems=self.problems, unchanged=count, merged=self.merged)


def _read_folder(settings: Settings) -> _Folder:
    """The folder's articles, read (only the changed files, by a process that read it before) and merged."""
    memory = _memory_of(settings)
    with memory.lock:
        loaded = load_articles(settings.seeds_dir, int(settings.max_article_mb * 2**20), memory.reads)
        articles = _unique(loaded.articles, loaded.problems)
        articles, merged = memory.duplicates.merge(articles)
    return _Folder(articles, loaded.problems, merged)


def _build(
    settings: Settings,
    engine: IndexEngine,
    folder: _Folder,
    embedder: Embedder,
    force: bool,
    show_progress: bool,
    progress: Callable[[int, int], None] | None,
    ray: bool,
    started: float,
) -> BuildReport:
    from tqdm import tqdm

    articles = folder.articles
    identity = folder_identity(settings.seeds_dir)
    if not force:
        _check_folder(engine, identity, settings.seeds_dir)
    reason = "--rebuild" if force else staleness(settings, articles, embedder.name, engine)  # (again: under the lock)
    if reason is None:
        return folder.up_to_date()
    log.info("building index in %s: %s", engine.location, reason)
    current_ids = {a.id for a in articles}
    previous = None if force or reason == "no index yet" else _reusable(settings, engine, embedder.name)
    old = previous.manifest.articles if previous else {}
    kept = [a for a in articles if old.get(a.id) == a.content_hash]
    # A renamed or moved article (same title and text under a new id) keeps its chunks and vectors too.
    old_id_of = {content: article_id for article_id, content in old.items() if article_id not in current_ids}
    moved = {a.id: old_id_of[a.content_hash] for a in articles if a.id not in old and a.content_hash in old_id_of}
    fresh = [a for a in articles if old.get(a.id) != a.content_hash and a.id not in moved]
    moved_chunks, moved_vectors = previous.chunks_with_vectors(list(moved.values())) if moved else ([], None)
    new_id_of = {old_id: new_id for new_id, old_id in moved.items()}
    moved_chunks = [replace(c, article_id=new_id_of[c.article_id]) for c in moved_chunks]
    embedded = 0
    with tqdm(desc="embedding", unit="chunk", disable=not show_progress) as bar:

        def advance(count: int) -> None:
            nonlocal embedded
            embedded += count
            bar.update(count)
            if progress:
                progress(embedded, bar.total or embedded)

        chunks: list[Chunk] = []
        vectors: np.ndarray | None = None
        if fresh and ray:  # chunked and embedded by the cluster's actors
            from rag.distributed import chunk_and_embed_on_ray, connect

            connect(settings.ray.address)
            chunks, vectors = chunk_and_embed_on_ray(
                fresh,
                settings.embedder,
                settings.models_dir,
                settings.chunking,
                settings.embedder.titles,
                settings.ray,
                advance,
            )
        elif fresh:  # (nothing new, only deletions: no call, so the model is not even loaded)
            chunks = [c for a in fresh for c in chunk_article(a, embedder.count_tokens, settings.chunking)]
            bar.total = len(chunks)
            title_of = {a.id: a.title for a in fresh}
            titles = [title_of[c.article_id] for c in chunks] if settings.embedder.titles else None
            vectors = embedder.encode_documents([c.text for c in chunks], advance, titles)
    if moved_vectors is not None and len(moved_chunks):
        chunks = moved_chunks + chunks
        vectors = moved_vectors if vectors is None else np.vstack([moved_vectors, vectors])
    if vectors is None:  # nothing new: deletions only, or no articles left
        vectors = np.zeros((0, previous.manifest.dimension if previous else embedder.dimension), dtype=np.float32)
    manifest = Manifest(
        embedder=embedder.name, dimension=vectors.shape[1], chunking=chunker_params(settings), folder=identity
    )
    removed = [article_id for article_id in old if article_id not in current_ids]
    changes = Changes(
        [*fresh, *(a for a in articles if a.id in moved)],
        _relabelled(previous.manifest.copies if previous else {}, articles, kept),
        removed,
    )
    try:
        total = engine.write(manifest, articles, changes, chunks, vectors, previous)
    finally:
        if previous:
            previous.close()
    return BuildReport(
        True,
        reason,
        len(articles),
        total,
        time.perf_counter() - started,
        folder.problems,
        added=sum(1 for a in fresh if a.id not in old) + len(moved),
        updated=sum(1 for a in fresh if a.id in old),
        removed=len(removed),
        unchanged=len(kept),
        embedded=len(chunks) - len(moved_chunks),
        merged=folder.merged,
    )


def _check_folder(engine: IndexEngine, identity: str, folder: Path) -> None:
    """Refuse to build an index from a folder other than the one it is built from: replicas with folders of their
    own would each delete the others' articles."""
    try:
        recorded = engine.manifest().folder
    except IndexMissingError:
        return
    if not same_folder(recorded, identity):
        built_from = recorded.split(" ", 1)[-1]
        raise ForeignFolderError(
            f"{engine.location} is built from the articles folder {built_from}, not {folder}: a build from this one "
            "would delete that folder's articles. Give every replica the same folder (a shared mount), or make "
            "this folder the index's with `rag index --rebuild`"
        )


def _relabelled(had: Mapping[str, list[str]], articles: list[Article], kept: list[Article]) -> list[Article]:
    """The kept articles whose near-duplicate list changed (`had`: the index's lists, for articles that have any)."""
    now = copies_of(articles)
    changed = {a for a in had.keys() | now.keys() if had.get(a, []) != now.get(a, [])}
    return [a for a in kept if a.id in changed] if changed else []


def _reusable(settings: Settings, engine: IndexEngine, embedder: str) -> IndexStore | None:
    """The current index when its chunks and vectors can be reused by this build."""
    try:
        store = engine.open()
    except (IndexMissingError, OSError, ValueError, RuntimeError) as error:
        log.warning("previous index unreadable (%s); rebuilding from scratch", error)
        return None
    if store.manifest.mismatch(embedder, chunker_params(settings)):
        store.close()
        return None
    return store
