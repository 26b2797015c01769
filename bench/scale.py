"""The index stores at 10k and 100k chunks: the local folder (FAISS + SQLite + BM25) against Milvus Lite.

This measures the stores, not the embedder. A real set: the first ANT corpus articles, 2,500 chunks cut by
our chunker and embedded once by the real embedder (saved in bench/data/scale/; embedding 10k chunks would
take about 50 minutes on this machine). Each size is that set repeated: copy 0 as is, copies 1, 2, ... of
each article under a new id, with a marker word after every chunk (new texts, new content hashes) and its
vectors plus Gaussian noise (sigma 0.01, renormalised): 4 copies make 10k chunks, 40 make 100k.

Each backend and size runs in its own process (for its memory) and measures, through the engines' own
interface, what a build does with the store (reading the content hashes, opening the previous index,
writing the changes it found, as `Changes`), excluding reading the articles folder and embedding (which
bench/folder_updates.py measures, in whole builds from a folder):
- build_s: a full first build; open_s: opening it afresh (as a new `rag serve` process does; the steps below
  follow it); unchanged_s: a re-run in a new process that finds nothing to do (the content hashes read and
  compared); then in that process, as `rag watch` or a `rag serve` build does, update_s: one article changed,
  delete_s: one article removed, each the median of CHANGES such builds (a new `rag index` process pays
  unchanged_s more for either);
- search_p50_ms / search_p95_ms: hybrid search (dense + BM25 + fusion + hits) without query embedding,
  and `*_with_embedding_*`: the same plus the real query embedding, over XQuAD-ar questions;
- rss_mb: peak resident memory, this process's plus Milvus Lite's (its engine is a child process; its own peak
  is engine_rss_mb); disk_mb: the index on disk.

    python -m bench.scale [--sizes 10k,100k] [--backends local,milvus_lite] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.paths import ROOT, SHARED
from rag.articles import content_hash
from rag.chunking import chunk_article
from rag.config import Settings, StoreSettings
from rag.embedding import Embedder
from rag.evaluate import read_jsonl
from rag.indexing import chunker_params, staleness
from rag.retrieval import Index
from rag.stores import Changes, Manifest, engine_for
from rag.types import Article, Chunk

CACHE = ROOT / "bench" / "data" / "scale"
SIZES = {"10k": 10_000, "100k": 100_000}
REAL_CHUNKS = 2_500
CHANGES = 5  # one-article changes (and deletions) timed, each a build of its own: the median is reported


def real_set(settings: Settings) -> Path:
    """The first corpus articles up to REAL_CHUNKS chunks, with their real vectors, saved once for the child runs."""
    target = CACHE / f"real-{REAL_CHUNKS}.npz"
    if target.exists():
        return target
    embedder = Embedder(settings.embedder, settings.models_dir)
    articles: list[Article] = []
    chunks: list[Chunk] = []
    for record in read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz"):
        title, text = record.get("title") or "", record["text"]
        article = Article(f"ant-{record['id']}", title, text, f"ant/{record['id']}.txt", content_hash(title, text))
        articles.append(article)
        chunks += chunk_article(article, embedder.count_tokens, settings.chunking)
        if len(chunks) >= REAL_CHUNKS:
            break
    chunks = chunks[:REAL_CHUNKS]
    kept = {c.article_id for c in chunks}
    articles = [a for a in articles if a.id in kept]
    title_of = {a.id: a.title for a in articles}
    started = time.perf_counter()
    vectors = embedder.encode_documents([c.text for c in chunks], titles=[title_of[c.article_id] for c in chunks])
    print(f"embedded {len(chunks)} chunks in {time.perf_counter() - started:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    meta = {
        "embedder": embedder.name,
        "articles": [a.__dict__ for a in articles],
        "chunks": [c.__dict__ for c in chunks],
    }
    np.savez(target, vectors=vectors.astype(np.float32), meta=json.dumps(meta, ensure_ascii=False))
    return target


def load_set(path: Path, size: int) -> tuple[str, list[Article], list[Chunk], np.ndarray]:
    """The real set with its marked, noised copies: `size` chunks."""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    articles = [Article(**a) for a in meta["articles"]]
    chunks = [Chunk(**c) for c in meta["chunks"]]
    vectors = data["vectors"]
    if size <= len(chunks):
        return meta["embedder"], articles, chunks, vectors
    rng = np.random.default_rng(0)
    all_articles, all_chunks, all_vectors = list(articles), list(chunks), [vectors]
    by_article: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        by_article.setdefault(chunk.article_id, []).append(position)
    for copy in range(1, -(-size // len(chunks))):
        for article in articles:
            copied, text = marked(article, [chunks[p] for p in by_article[article.id]], f"نسخة{copy}")
            all_articles.append(copied)
            all_chunks += text
        noisy = vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32)
        all_vectors.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    return meta["embedder"], all_articles, all_chunks, np.vstack(all_vectors)  # copies in the real set's order


def marked(article: Article, chunks: list[Chunk], marker: str) -> tuple[Article, list[Chunk]]:
    """A copy of the article under a new id whose text is its chunks, each followed by the marker word."""
    pieces, new_chunks, offset = [], [], 0
    for chunk in chunks:
        text = f"{chunk.text} {marker}"
        new_chunks.append(Chunk(f"{article.id}~{marker}", chunk.ordinal, offset, offset + len(text), text))
        pieces.append(text)
        offset += len(text) + 1
    body = "\n".join(pieces)
    copy = replace(article, id=f"{article.id}~{marker}", path=f"{article.path}~{marker}", text=body)
    return replace(copy, content_hash=content_hash(copy.title, body)), new_chunks


def settings_for(backend: str, folder: Path) -> Settings:
    uri = str(folder / "index.db") if backend == "milvus_lite" else ""
    return Settings(index_dir=folder / "index", store=StoreSettings(uri=uri))


def timed_write(settings: Settings, embedder_name: str, articles, changes: Changes, chunks, vectors) -> float:
    """Seconds a build spends with the store: read the hashes, open the previous index, write the changes (which a
    build finds in its comparison of the folder with the previous index's manifest: not timed here)."""
    engine = engine_for(settings)
    started = time.perf_counter()
    reason = staleness(settings, articles, embedder_name, engine)
    assert reason is not None, "nothing changed"
    previous = engine.open() if reason != "no index yet" else None
    manifest = Manifest(embedder_name, vectors.shape[1], chunker_params(settings))
    engine.write(manifest, articles, changes, chunks, vectors, previous)
    if previous:
        previous.close()
    return time.perf_counter() - started


def release(settings: Settings) -> None:
    """Stop the Milvus Lite process holding the file (it is then reaped, and its peak memory counted)."""
    if settings.store.uri:
        engine_for(settings).close()  # type: ignore[attr-defined]


def new_process(settings: Settings) -> None:
    """Forget what this process's engine read (as a new `rag index` process starts), keeping Lite running."""
    if settings.store.uri:
        from rag.stores.milvus import forget

        forget(engine_for(settings))  # type: ignore[arg-type]


def reopen(settings: Settings) -> float:
    """Seconds to open the built index as a new process would (Milvus Lite: restarted, its collections loaded).
    The steps after it then see a settled store, not one still compacting after the full build."""
    release(settings)
    started = time.perf_counter()
    engine_for(settings).open().close()
    return time.perf_counter() - started


class TableEmbedder:
    """The real embedder's name, with query vectors from a table (search timed without embedding)."""

    def __init__(self, name: str, dimension: int, queries: dict[str, np.ndarray]) -> None:
        self.name, self.dimension, self.queries = name, dimension, queries

    def encode_query(self, text: str) -> np.ndarray:
        return self.queries[text]


def child(backend: str, size_name: str, data: Path, queries: int) -> dict[str, Any]:
    """One backend at one size, in this process."""
    name, articles, chunks, vectors = load_set(data, SIZES[size_name])
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{backend}-"))
    settings = settings_for(backend, folder)
    try:
        figures: dict[str, Any] = {"chunks": len(chunks), "articles": len(articles)}
        figures["build_s"] = timed_write(settings, name, articles, Changes(articles), chunks, vectors)
        figures["open_s"] = reopen(settings)
        new_process(settings)
        started = time.perf_counter()
        assert staleness(settings, articles, name, engine_for(settings)) is None
        figures["unchanged_s"] = time.perf_counter() - started

        updates, deletes = [], []
        for step in range(CHANGES):  # one article at a time, each a build of its own
            target = articles[len(articles) // 2 + step]
            positions = [i for i, c in enumerate(chunks) if c.article_id == target.id]
            changed, new_chunks = marked(target, [chunks[p] for p in positions], "تحديث")
            changed = replace(changed, id=target.id, path=target.path)
            new_chunks = [replace(c, article_id=target.id) for c in new_chunks]
            noise = np.random.default_rng(step).normal(0, 0.01, (len(positions), vectors.shape[1]))
            noisy = vectors[positions] + noise
            noisy = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
            articles = [changed if a.id == target.id else a for a in articles]
            updates.append(timed_write(settings, name, articles, Changes([changed]), new_chunks, noisy))
        empty = np.zeros((0, vectors.shape[1]), np.float32)
        for step in range(CHANGES):
            gone = articles[len(articles) // 3 + step].id
            articles = [a for a in articles if a.id != gone]
            deletes.append(timed_write(settings, name, articles, Changes([], removed=[gone]), [], empty))
        figures |= {"update_s": float(np.median(updates)), "delete_s": float(np.median(deletes))}
        figures |= {"update_runs_s": [round(t, 4) for t in updates], "delete_runs_s": [round(t, 4) for t in deletes]}

        questions = [q["question"] for q in read_jsonl(SHARED / "eval/xquad_ar/questions.jsonl")][:queries]
        real = Embedder(settings.embedder, settings.models_dir)
        embed_ms = []
        table = {}
        for question in questions:
            started = time.perf_counter()
            table[question] = real.encode_query(question)
            embed_ms.append((time.perf_counter() - started) * 1000)
        index = Index(settings, TableEmbedder(name, vectors.shape[1], table))  # type: ignore[arg-type]
        index.search(questions[0])  # warm-up
        search_ms = []
        for question in questions:
            started = time.perf_counter()
            index.search(question)
            search_ms.append((time.perf_counter() - started) * 1000)
        with_embedding = np.asarray(search_ms) + np.asarray(embed_ms)
        figures |= {
            "search_p50_ms": float(np.percentile(search_ms, 50)),
            "search_p95_ms": float(np.percentile(search_ms, 95)),
            "search_with_embedding_p50_ms": float(np.percentile(with_embedding, 50)),
            "search_with_embedding_p95_ms": float(np.percentile(with_embedding, 95)),
        }
        release(settings)
        engine_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figures |= {
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + engine_mb,
            "engine_rss_mb": engine_mb,
            "disk_mb": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20,
        }
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child_output(script: str, *arguments: str) -> str:
    """The last line a bench script prints when run with `--child *arguments` in a fresh process."""
    done = subprocess.run(
        [sys.executable, script, "--child", *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def run(
    sizes: tuple[str, ...] = ("10k", "100k"), backends: tuple[str, ...] = ("local", "milvus_lite"), queries: int = 100
) -> dict[str, Any]:
    real_set(Settings())  # embedded once, here, before the child processes read it
    results: dict[str, Any] = {backend: {} for backend in backends}
    for size in sizes:
        for backend in backends:
            results[backend][size] = json.loads(child_output(__file__, backend, size, "--queries", str(queries)))
            print(backend, size, results[backend][size], flush=True)
    return {"backends": results, "queries": queries, "real_chunks": REAL_CHUNKS, "noise_sigma": 0.01}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--backends", default="local,milvus_lite")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "SIZE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        backend, size = arguments.child
        print(json.dumps(child(backend, size, real_set(Settings()), arguments.queries)))
        return
    result = run(tuple(arguments.sizes.split(",")), tuple(arguments.backends.split(",")), arguments.queries)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
