"""Ray build throughput against an in-process build of the same corpus articles, and Ray's start-up time.

Both builds embed everything (no embedding cache) and include loading the model (the in-process build in
its process, the Ray build in each actor); the Ray build excludes starting the local cluster, reported
apart as `startup_s`. Each actor layout (CPUs per actor) is one Ray build; the ratio is chunks per second
of the Ray build over the in-process build's.

    python -m bench.distributed [--articles 300] [--cpus-per-actor 1,2]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.indexing_speed import write_articles
from rag.config import RaySettings, Settings
from rag.indexing import build_index
from rag.stores.local import Store, current_generation


def build(seeds: Path, index: Path, ray: RaySettings | None = None) -> tuple[float, int]:
    """Seconds and chunks of one full build, in process or on the connected Ray cluster."""
    settings = Settings(seeds_dir=seeds, index_dir=index, ray=ray or RaySettings())
    settings.embedder.cache = None
    started = time.perf_counter()
    report = build_index(settings, show_progress=False, ray=ray is not None)
    seconds = time.perf_counter() - started
    gc.collect()  # the in-process embedder goes before the actors load theirs
    return seconds, report.chunks


def same_chunks(first: Path, second: Path) -> bool:
    a, b = Store(current_generation(first)), Store(current_generation(second))
    ids = sorted(a.manifest.articles)
    return a.chunks_with_vectors(ids)[0] == b.chunks_with_vectors(ids)[0]


def run(articles: int = 300, layouts: tuple[float, ...] = (1.0, 2.0)) -> dict[str, Any]:
    import ray

    from rag.distributed import connect

    with tempfile.TemporaryDirectory(prefix="rag-bench-ray-") as tmp:
        seeds = Path(tmp) / "seeds"
        seeds.mkdir()
        write_articles(seeds, articles)
        local_s, chunks = build(seeds, Path(tmp) / "local")
        started = time.perf_counter()
        connect(None)
        startup_s = time.perf_counter() - started
        cpus = ray.cluster_resources().get("CPU", 0)
        runs = {}
        for cpus_per_actor in layouts:
            index = Path(tmp) / f"ray-{cpus_per_actor:g}"
            seconds, ray_chunks = build(seeds, index, RaySettings(cpus_per_actor=cpus_per_actor))
            runs[f"{cpus_per_actor:g}_cpu_per_actor"] = {
                "actors": int(cpus // cpus_per_actor),
                "build_s": round(seconds, 1),
                "chunks_per_s": round(ray_chunks / seconds, 2),
                "ratio": round(local_s / seconds, 3),
                "same_chunks": same_chunks(Path(tmp) / "local", index),
            }
        ray.shutdown()
    default = runs[f"{RaySettings().cpus_per_actor:g}_cpu_per_actor"]
    return {
        "articles": articles,
        "chunks": chunks,
        "cluster_cpus": cpus,
        "in_process_build_s": round(local_s, 1),
        "in_process_chunks_per_s": round(chunks / local_s, 2),
        "startup_s": round(startup_s, 1),
        "build_ratio": default["ratio"],
        "layouts": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--cpus-per-actor", default="1,2", help="Actor layouts to try (CPUs per actor).")
    arguments = parser.parse_args()
    layouts = tuple(float(x) for x in arguments.cpus_per_actor.split(","))
    print(json.dumps(run(arguments.articles, layouts), indent=2))


if __name__ == "__main__":
    main()
