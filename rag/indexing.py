"""Building the index from the articles folder: load, chunk, embed, write; skip when already up to date."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rag.articles import load_articles
from rag.chunking import chunk_article
from rag.config import Settings
from rag.embedding import Embedder
from rag.store import IndexMissingError, Manifest, read_manifest, write_index
from rag.types import Article

log = logging.getLogger(__name__)

# Bump when the chunking algorithm changes, so old indexes are reported as needing a rebuild.
CHUNKER_VERSION = 1


@dataclass
class BuildReport:
    """What `build_index` did."""

    built: bool
    reason: str
    articles: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def chunker_params(settings: Settings) -> dict[str, int]:
    """The chunking settings recorded in (and checked against) the manifest."""
    return {"version": CHUNKER_VERSION, **settings.chunking.model_dump()}


def _unique(articles: list[Article], problems: list[str]) -> list[Article]:
    """Drop articles whose title and text repeat an earlier one (same content under two names)."""
    seen: dict[str, str] = {}
    unique = []
    for article in articles:
        if article.content_hash in seen:
            problems.append(f"{article.id}: skipped, same content as {seen[article.content_hash]}")
            continue
        seen[article.content_hash] = article.id
        unique.append(article)
    return unique


def staleness(settings: Settings, articles: list[Article]) -> str | None:
    """Why the index must be (re)built for these articles, or None when it is current."""
    try:
        manifest = read_manifest(settings.index_dir)
    except IndexMissingError:
        return "no index yet"
    mismatch = manifest.mismatch(settings.models.embedder, chunker_params(settings))
    if mismatch:
        return mismatch
    if manifest.articles != {a.id: a.content_hash for a in articles}:
        return "articles changed"
    return None


def build_index(
    settings: Settings, embedder: Embedder | None = None, force: bool = False, show_progress: bool = True
) -> BuildReport:
    """Index every article in `settings.seeds_dir` unless the index already matches them."""
    from tqdm import tqdm

    started = time.perf_counter()
    loaded = load_articles(settings.seeds_dir)
    articles = _unique(loaded.articles, loaded.problems)
    reason = "--rebuild" if force else staleness(settings, articles)
    if reason is None:
        return BuildReport(False, "up to date", len(articles), problems=loaded.problems)
    log.info("building index in %s: %s", settings.index_dir, reason)
    embedder = embedder or Embedder(settings.models)
    chunks = [c for a in articles for c in chunk_article(a, embedder.count_tokens, settings.chunking)]
    with tqdm(total=len(chunks), desc="embedding", unit="chunk", disable=not show_progress) as bar:
        vectors = embedder.encode_documents([c.text for c in chunks], progress=bar.update)
    manifest = Manifest(embedder=embedder.name, dimension=embedder.dimension, chunking=chunker_params(settings))
    write_index(settings.index_dir, manifest, articles, chunks, vectors)
    seconds = time.perf_counter() - started
    return BuildReport(True, reason, len(articles), len(chunks), seconds, loaded.problems)
