"""Search latency per stage (query embedding, vector search, lexical search, fusion, hits) on indexes of
growing size, through the real `Index.search`.

Chunk texts are real news text (120-word windows of the corpus articles, repeated past the corpus
size, ~15.8k windows); the FAISS vectors are random unit vectors, since embedding 100k chunks
would take hours here. Queries are real XQuAD-ar questions embedded by the real embedder.

    python -m bench.search_latency [--sizes 1000,10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.paths import SHARED
from rag.config import Settings
from rag.embedding import Embedder
from rag.evaluate import read_jsonl
from rag.indexing import chunker_params
from rag.retrieval import Index
from rag.stores import Manifest
from rag.stores.local import write_index
from rag.types import Article, Chunk

WINDOW = 120
STAGES = ("embed", "dense", "lexical", "fusion", "hits")


def news_windows(count: int) -> Iterator[tuple[str, str]]:
    """(article title, text) of `count` 120-word windows of corpus articles, 60 words apart; the corpus
    holds about 15.8k of them, so larger indexes repeat them (as many postings per term as real text)."""
    records = read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz")
    made = 0
    while True:
        for record in records:
            words = record["text"].split()
            for first in range(0, max(len(words) - WINDOW // 2, 1), WINDOW // 2):
                yield record["title"], " ".join(words[first : first + WINDOW])
                made += 1
                if made == count:
                    return


def synthetic_index(folder: Path, settings: Settings, size: int, dimension: int, seed: int = 0) -> None:
    """An index of `size` real news windows with random unit vectors."""
    articles, chunks = [], []
    for n, (title, text) in enumerate(news_windows(size)):
        article_id = f"window-{n}"
        articles.append(Article(article_id, title, text, article_id, f"hash-{n}"))
        chunks.append(Chunk(article_id, 0, 0, len(text), text))
    vectors = np.random.default_rng(seed).standard_normal((size, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    manifest = Manifest(settings.embedder.model, dimension, chunker_params(settings))
    write_index(folder, manifest, articles, chunks, vectors)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure(index: Index, questions: list[str]) -> dict[str, dict[str, float]]:
    """p50 / p95 milliseconds of each stage, of the total and of the total without query embedding."""
    laps: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total", "excl_embed")}
    index.search(questions[0])  # warm-up: first FAISS / BM25 call
    for question in questions:
        index.embedder.encode_query.cache_clear()  # every query is embedded afresh
        started = time.perf_counter()
        index.search(question)
        total = time.perf_counter() - started
        for stage in STAGES:
            laps[stage].append(index.timings.get(stage, 0.0))
        laps["total"].append(total)
        laps["excl_embed"].append(total - index.timings["embed"])
    return {
        stage: {"p50_ms": 1000 * statistics.median(v), "p95_ms": 1000 * percentile(v, 95)} for stage, v in laps.items()
    }


def run(sizes: list[int], queries: int) -> dict[str, dict[str, dict[str, float]]]:
    settings = Settings()
    embedder = Embedder(settings.embedder, settings.models_dir)
    questions = [q["question"] for q in read_jsonl(SHARED / "eval/xquad_ar/questions.jsonl", queries)]
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rag-bench-search-") as tmp:
            started = time.perf_counter()
            synthetic_index(Path(tmp), settings, size, embedder.dimension)
            built = time.perf_counter() - started
            index = Index.open(tmp, settings, embedder)
            results[str(size)] = measure(index, questions)
            index.store.close()
        print(f"{size:>7} chunks (built in {built:.0f}s): " + table_row(results[str(size)]), flush=True)
    return results


def table_row(stages: dict[str, dict[str, float]]) -> str:
    return "  ".join(f"{s} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}" for s, v in stages.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print("milliseconds p50/p95 per stage")
    run([int(s) for s in args.sizes.split(",")], args.queries)


if __name__ == "__main__":
    main()
