"""Indexing throughput of `rag index` next to the raw sentence-transformers encoder on the very same chunks.

`rag index` runs as a real process over N corpus articles with an empty embedding cache; then the
chunk texts it stored (with the same title prompt) are encoded by `SentenceTransformer.encode_document`
directly, in bfloat16 (the default) and, on a sample, in float32.

    python bench/indexing_speed.py [--articles 300] [--fp32-sample 150]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embedding import Embedder
from rag.evaluate import read_jsonl
from rag.models import embedder_location
from rag.store import current_generation

SHARED = Path(__file__).resolve().parents[2] / "shared"


def write_articles(folder: Path, count: int) -> None:
    for record in read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", count):
        (folder / f"news-{record['id']}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def raw_encode(inputs: list[str], dtype: str, batch_size: int) -> tuple[float, int]:
    """Seconds for `encode_document` over the inputs (model already loaded), and their token count."""
    import torch
    from sentence_transformers import SentenceTransformer

    settings = Settings().models
    model = SentenceTransformer(
        str(embedder_location(settings.embedder, settings.cache_dir)),
        device="cpu",
        model_kwargs={"dtype": torch.bfloat16 if dtype == "bfloat16" else torch.float32},
    )
    tokens = sum(len(ids) for ids in model.tokenizer(inputs)["input_ids"])
    model.encode_document(inputs[:batch_size], prompt="", batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    model.encode_document(inputs, prompt="", batch_size=batch_size, normalize_embeddings=True)
    return time.perf_counter() - started, tokens


def run(articles: int, fp32_sample: int) -> dict[str, Any]:
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="rag-bench-index-") as tmp:
        seeds, index = Path(tmp) / "seeds", Path(tmp) / "index"
        seeds.mkdir()
        write_articles(seeds, articles)
        env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_MODELS__EMBEDDING_CACHE=str(Path(tmp) / "cache"))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "rag.cli", "index", "--seeds", str(seeds), "--index", str(index)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        process_s = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[-1]
        build_s = float(re.search(r" in ([\d.]+)s", summary).group(1))  # type: ignore[union-attr]
        generation = current_generation(index)
        with sqlite3.connect(generation / "chunks.sqlite") as db:
            rows = db.execute(
                "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
            ).fetchall()
        size_bytes = sum(f.stat().st_size for f in generation.rglob("*") if f.is_file())
    inputs = Embedder(settings.models).inputs(rows)
    raw_s, tokens = raw_encode(inputs, "bfloat16", settings.models.embed_batch_size)
    sample = inputs[:fp32_sample]
    bf16_sample_s, sample_tokens = raw_encode(sample, "bfloat16", settings.models.embed_batch_size)
    fp32_sample_s, _ = raw_encode(sample, "float32", settings.models.embed_batch_size)
    return {
        "articles": articles,
        "chunks": len(rows),
        "tokens": tokens,
        "index_process_s": process_s,
        "index_build_s": build_s,
        "index_tokens_per_s": tokens / build_s,
        "index_chunks_per_s": len(rows) / build_s,
        "raw_encode_s": raw_s,
        "embed_tokens_per_s": tokens / raw_s,
        "embed_chunks_per_s": len(rows) / raw_s,
        "index_vs_raw_ratio": raw_s / build_s,
        "index_process_vs_raw_ratio": raw_s / process_s,
        "fp32_sample_chunks": len(sample),
        "embed_fp32_tokens_per_s": sample_tokens / fp32_sample_s,
        "embed_bf16_sample_tokens_per_s": sample_tokens / bf16_sample_s,
        "index_bytes_per_1k_chunks": 1000 * size_bytes / max(len(rows), 1),
        "index_summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--fp32-sample", type=int, default=150)
    args = parser.parse_args()
    for key, value in run(args.articles, args.fp32_sample).items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
