"""A one-article change as `rag watch` or a running `rag serve` builds it from an articles folder, embedding left out.

What `bench/scale.py` leaves out around the store: reading the folder, looking for near-duplicates, comparing the
content hashes. The ANT corpus articles, one JSON file each (the first 1,000, and all 9,965), on the local store and
on Milvus Lite. Each store and size runs in its own process:
- build_s: the first build;
- unchanged_s, update_s, delete_s: in that process, as `rag watch` keeps its memory of the folder between builds,
  an unchanged re-run, then CHANGES one-article changes (a sentence appended to one file) and CHANGES deletions,
  each a whole `build_index` call (medians);
- new_process_unchanged_s: the unchanged re-run of a new `rag index` process (the process's memory of the folder
  and of the index forgotten);
- memory_mb: what the process keeps of the folder between builds (the articles as read, the near-duplicate search's
  signatures and LSH), traced by tracemalloc while the folder is read afresh; rss_mb: the peak resident memory
  (with, for Milvus Lite, its engine process).
Embedding is left out: the embedder has the real one's name, dimension and tokenizer (chunks cut as a real build
cuts them) and gives random unit vectors.

    python -m bench.folder_updates [--sizes 1000,9965] [--stores local,milvus_lite]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.paths import RESULTS, SHARED
from bench.scale import child_output
from rag import indexing
from rag.config import Settings, StoreSettings
from rag.embedding import Embedder
from rag.evaluate import read_jsonl
from rag.indexing import build_index
from rag.stores import engine_for

CHANGES = 5
OUTPUT = RESULTS / "folder_updates.txt"


class TokenizerOnly:
    """The real embedder's name, dimension and token count; random unit vectors instead of embeddings."""

    def __init__(self, real: Embedder) -> None:
        self.name, self.dimension, self.count_tokens = real.name, real.dimension, real.count_tokens
        self.random = np.random.default_rng(0)

    def encode_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None, titles: Sequence[str] | None = None
    ) -> np.ndarray:
        vectors = self.random.normal(size=(len(texts), self.dimension)).astype(np.float32)
        if progress:
            progress(len(texts))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def timed(build: Callable[[], indexing.BuildReport]) -> tuple[float, indexing.BuildReport]:
    started = time.perf_counter()
    report = build()
    return time.perf_counter() - started, report


def child(store: str, size: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"folder-{store}-"))
    try:
        seeds = folder / "seeds"
        seeds.mkdir()
        files = []
        for record in read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", size):
            files.append(seeds / f"news-{record['id']}.json")
            files[-1].write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        time.sleep(2.5)  # (files changed less than 2 s before a build are read again by the next: FileReads)
        uri = str(folder / "index.db") if store == "milvus_lite" else ""
        settings = Settings(seeds_dir=seeds, index_dir=folder / "index", store=StoreSettings(uri=uri))
        embedder = TokenizerOnly(Embedder(settings.embedder, settings.models_dir))

        def build() -> indexing.BuildReport:
            return build_index(settings, embedder, show_progress=False)  # type: ignore[arg-type]

        build_s, first = timed(build)
        unchanged_s, report = timed(build)
        assert not report.built
        updates, deletes = [], []
        for step in range(CHANGES):
            path = files[len(files) // 2 + step]
            record = json.loads(path.read_text(encoding="utf-8"))
            record["text"] += f"\nتحديث {step + 1}: أضيفت هذه الفقرة بعد النشر الأول للخبر."
            path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            seconds, report = timed(build)
            assert report.updated == 1, report
            updates.append(seconds)
        for step in range(CHANGES):
            files[len(files) // 3 + step].unlink()
            seconds, report = timed(build)
            assert report.removed == 1, report
            deletes.append(seconds)
        indexing._memories.clear()  # as a new process
        if uri:
            from rag.stores.milvus import forget

            forget(engine_for(settings))  # type: ignore[arg-type]
        new_process_s, report = timed(build)
        assert not report.built
        indexing._memories.clear()
        tracemalloc.start()
        indexing._read_folder(settings)
        memory_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        figures = {
            "articles": first.articles,
            "chunks": first.chunks,
            "build_s": build_s,
            "unchanged_s": unchanged_s,
            "update_s": float(np.median(updates)),
            "delete_s": float(np.median(deletes)),
            "new_process_unchanged_s": new_process_s,
            "memory_mb": memory_mb,
            "update_runs_s": [round(t, 3) for t in updates],
            "delete_runs_s": [round(t, 3) for t in deletes],
        }
        if uri:
            engine_for(settings).close()  # type: ignore[attr-defined]
        peak = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
        figures["rss_mb"] = peak / 1024
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,9965")
    parser.add_argument("--stores", default="local,milvus_lite")
    parser.add_argument("--child", nargs=2, metavar=("STORE", "SIZE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(child(arguments.child[0], int(arguments.child[1]))))
        return
    lines = [f"$ python -m bench.folder_updates --sizes {arguments.sizes} --stores {arguments.stores}"]
    for size in arguments.sizes.split(","):
        for store in arguments.stores.split(","):
            lines.append(f"{store} {size}: {child_output(__file__, store, size)}")
            print(lines[-1], flush=True)
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
