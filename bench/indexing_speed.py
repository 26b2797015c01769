"""Indexing throughput of `rag index` next to the raw sentence-transformers encoder on the very same chunks.

`rag index` runs as a real process over N corpus articles with an empty embedding cache, twice (before
and after the raw encode, as the machine is noisy; the ratio uses their mean). The chunk texts it stored
(with the same title prompt) are encoded by `SentenceTransformer.encode_document` directly with the
default arithmetic (`embedder.dtype`), and a sample in float32, bfloat16 and int8.

    python -m bench.indexing_speed [--articles 300] [--fp32-sample 150]
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

from bench.paths import SHARED
from rag.config import Settings
from rag.embedders.local import SentenceTransformerModel, load_sentence_transformer
from rag.evaluate import read_jsonl
from rag.models import embedder_location
from rag.stores.local import current_generation


def write_articles(folder: Path, count: int) -> None:
    for record in read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", count):
        (folder / f"news-{record['id']}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def raw_encode(inputs: list[str], dtype: str, batch_size: int) -> tuple[float, int]:
    """Seconds for `encode_document` over the inputs (model already loaded), and their token count."""
    settings = Settings()
    model = load_sentence_transformer(str(embedder_location(settings.embedder.model, settings.models_dir)), dtype)  # type: ignore[arg-type]
    tokens = sum(len(ids) for ids in model.tokenizer(inputs)["input_ids"])
    model.encode_document(inputs[:batch_size], prompt="", batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    model.encode_document(inputs, prompt="", batch_size=batch_size, normalize_embeddings=True)
    return time.perf_counter() - started, tokens


def index_once(seeds: Path, folder: Path) -> tuple[float, float, str]:
    """One `rag index` process over `seeds` into `folder` with an empty embedding cache: process seconds,
    build seconds (its own report) and its summary line."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_EMBEDDER__CACHE=str(folder / "cache"))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "index", "--seeds", str(seeds), "--index", str(folder / "index")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    process_s = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1]
    return process_s, float(re.search(r" in ([\d.]+)s", summary).group(1)), summary  # type: ignore[union-attr]


def embedder_load_s() -> float:
    """Seconds a fresh process spends importing sentence-transformers and loading the default embedder:
    the fixed cost inside every cold `rag index` build."""
    code = (
        "import time; t = time.perf_counter(); from rag.config import Settings; "
        "from rag.embedders.local import SentenceTransformerModel; "
        "SentenceTransformerModel(Settings().embedder).transformer; print(time.perf_counter() - t)"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    )


def run(articles: int, fp32_sample: int) -> dict[str, Any]:
    """`rag index` twice around the raw encode (the machine is noisy): the ratio uses their mean."""
    settings = Settings()
    batch = settings.embedder.batch_size
    with tempfile.TemporaryDirectory(prefix="rag-bench-index-") as tmp:
        seeds = Path(tmp) / "seeds"
        seeds.mkdir()
        write_articles(seeds, articles)
        first = index_once(seeds, Path(tmp) / "first")
        generation = current_generation(Path(tmp) / "first/index")
        with sqlite3.connect(generation / "chunks.sqlite") as db:
            rows = db.execute(
                "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id"
            ).fetchall()
        size_bytes = sum(f.stat().st_size for f in generation.rglob("*") if f.is_file())
        inputs = SentenceTransformerModel(settings.embedder, settings.models_dir).inputs(rows)
        raw_s, tokens = raw_encode(inputs, settings.embedder.dtype, batch)
        second = index_once(seeds, Path(tmp) / "second")
    process_s, build_s, summary = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2, first[2]
    load_s = embedder_load_s()
    sample = inputs[:fp32_sample]
    timed = {dtype: raw_encode(sample, dtype, batch) for dtype in ("float32", "bfloat16", "int8")}
    sample_s, sample_tokens = {dtype: seconds for dtype, (seconds, _) in timed.items()}, timed["int8"][1]
    return {
        "articles": articles,
        "chunks": len(rows),
        "tokens": tokens,
        "index_process_s": process_s,
        "index_build_s": build_s,
        "index_build_s_each": [first[1], second[1]],
        "index_tokens_per_s": tokens / build_s,
        "index_chunks_per_s": len(rows) / build_s,
        "raw_encode_s": raw_s,
        "embed_tokens_per_s": tokens / raw_s,
        "embed_chunks_per_s": len(rows) / raw_s,
        "index_vs_raw_ratio": raw_s / build_s,
        "index_process_vs_raw_ratio": raw_s / process_s,
        "embedder_load_s": load_s,
        "index_vs_raw_ratio_excl_load": raw_s / (build_s - load_s),
        "fp32_sample_chunks": len(sample),
        "embed_dtype": settings.embedder.dtype,
        "embed_fp32_tokens_per_s": sample_tokens / sample_s["float32"],
        "embed_bf16_sample_tokens_per_s": sample_tokens / sample_s["bfloat16"],
        "embed_int8_sample_tokens_per_s": sample_tokens / sample_s["int8"],
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
