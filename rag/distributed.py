"""Chunking and embedding as a Ray Data pipeline, for builds spread over a Ray cluster.

Articles go to a pool of embedder actors (each loads the model once, then chunks and embeds batches of
articles); their chunks and vectors stream back to the build as batches finish. Ray restarts an actor
that dies and retries its task. The build then writes the index as a local build does, so the result
is the same: chunks in the same order with the same ids, the same manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunking import chunk_article
from rag.config import ChunkSettings, EmbedderSettings, RaySettings
from rag.types import Article, Chunk

log = logging.getLogger(__name__)


class ChunkEmbedder:
    """A Ray Data actor: one embedder, reused for every batch of articles it is given."""

    def __init__(self, embedder: EmbedderSettings, models_dir: Path, chunking: ChunkSettings, titles: bool) -> None:
        from rag.embedding import Embedder

        self._embedder = Embedder(embedder, models_dir)
        self._chunking = chunking
        self._titles = titles

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        rows: list[tuple[int, Chunk, str]] = []
        for position, article_id, title, text in zip(batch["position"], batch["id"], batch["title"], batch["text"]):
            article = Article(str(article_id), str(title), str(text), "", "")
            for chunk in chunk_article(article, self._embedder.count_tokens, self._chunking):
                rows.append((int(position), chunk, article.title))
        vectors = self._embedder.encode_documents(
            [chunk.text for _, chunk, _ in rows], titles=[title for *_, title in rows] if self._titles else None
        )
        return {
            "position": np.array([position for position, _, _ in rows]),
            "ordinal": np.array([chunk.ordinal for _, chunk, _ in rows]),
            "start": np.array([chunk.start for _, chunk, _ in rows]),
            "end": np.array([chunk.end for _, chunk, _ in rows]),
            "text": np.array([chunk.text for _, chunk, _ in rows], dtype=object),
            "vector": vectors,
        }


def connect(address: str | None) -> None:
    """Join the Ray cluster at `address` (None: Ray's own choice: RAY_ADDRESS, a cluster started on this
    machine by `ray start`, else a new local one), shipping this package to its workers."""
    try:
        import ray
    except ImportError:
        raise ImportError("`rag index --ray` needs Ray: pip install 'rag-news[cluster]'") from None

    if ray.is_initialized():
        return
    package = str(Path(__file__).resolve().parent)
    quiet = max(logging.WARNING, logging.getLogger().level)  # our progress bar, not Ray's log lines
    try:
        ray.init(
            address=address,
            runtime_env={"py_modules": [package]},
            log_to_driver=False,
            include_dashboard=False,
            logging_level=quiet,
        )
    except (ConnectionError, RuntimeError) as error:
        raise ConnectionError(
            f"cannot join the Ray cluster at {address} ({error}); a cluster with token authentication (Ray's "
            "default) needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or ~/.ray/auth_token)"
        ) from None
    logging.getLogger("ray").setLevel(quiet)
    logging.getLogger("ray.data").setLevel(max(logging.ERROR, logging.getLogger().level))
    ray.data.DataContext.get_current().enable_progress_bars = False
    log.info("ray cluster: %s CPUs", ray.cluster_resources().get("CPU"))


def chunk_and_embed_on_ray(
    articles: list[Article],
    embedder: EmbedderSettings,
    models_dir: Path,
    chunking: ChunkSettings,
    titles: bool,
    cluster: RaySettings,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Chunk], np.ndarray]:
    """The chunks of `articles` (at least one; in article order, then chunk order) and their vectors, computed on the
    connected Ray cluster; `progress(count)` as each batch of chunks arrives."""
    import ray

    actors = cluster.actors or max(1, int(ray.cluster_resources().get("CPU", 1) // cluster.cpus_per_actor))
    items = [{"position": i, "id": a.id, "title": a.title, "text": a.text} for i, a in enumerate(articles)]
    batches = -(-len(items) // cluster.articles_per_batch)
    dataset = ray.data.from_items(items, override_num_blocks=batches)
    # Ray Data restarts an actor that dies and retries its tasks (its defaults: max_restarts=-1).
    pipeline = dataset.map_batches(
        ChunkEmbedder,
        fn_constructor_args=(embedder, models_dir, chunking, titles),
        batch_size=cluster.articles_per_batch,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(actors, batches)),
        num_cpus=cluster.cpus_per_actor,
    )
    found: list[tuple[int, Chunk, np.ndarray]] = []
    for batch in pipeline.iter_batches(batch_format="numpy", batch_size=None):
        for position, ordinal, start, end, text, vector in zip(
            batch["position"], batch["ordinal"], batch["start"], batch["end"], batch["text"], batch["vector"]
        ):
            chunk = Chunk(articles[int(position)].id, int(ordinal), int(start), int(end), str(text))
            found.append((int(position), chunk, np.asarray(vector, dtype=np.float32)))
        if progress is not None:
            progress(len(batch["position"]))
    found.sort(key=lambda row: (row[0], row[1].ordinal))
    return [chunk for _, chunk, _ in found], np.stack([vector for *_, vector in found])
