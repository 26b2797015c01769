"""rag/distributed.py: `rag index --ray` on a real local Ray cluster (`ray start`, 2 CPUs) with 50 corpus
articles gives the index an in-process build gives, even when one of its embedder actors is killed."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.stores.local import Store, current_generation
from tests.helpers import CORPUS, RAG, REPO, free_port, rag

RAY = [str(Path(sys.executable).parent / "ray")]
ACTOR = "MapBatches(ChunkEmbedder)"  # in the process title of each embedder actor


# Token authentication, with a token of this test's own: nothing is read from ~/.ray.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
LOADED_MB = 1000  # an embedder actor this big holds the model's weights: it embeds next


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head on a free loopback port with 2 CPUs and token authentication: its address."""
    port = free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **AUTH)
    start = [*RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    subprocess.run([*start, "--include-dashboard=false"], check=True, capture_output=True, timeout=180, env=env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*RAY, "stop", "--force"], check=False, capture_output=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "seeds"
    folder.mkdir()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as lines:
        for _, line in zip(range(50), lines):
            record = json.loads(line)
            (folder / f"news-{record['id']}.json").write_text(line, encoding="utf-8")
    return folder


def actor_pids() -> list[int]:
    found = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in found.splitlines() if ACTOR in line and "ps -eo" not in line]


def resident_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)


def test_ray_build_with_a_killed_actor_matches_an_in_process_build(cluster: str, seeds: Path, tmp_path: Path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    no_cache = dict(os.environ, HF_HUB_OFFLINE="1", RAG_EMBEDDER__CACHE="")  # every vector really computed
    token = dict(no_cache, **AUTH)
    rag_index = [*RAG, "index", "--seeds", str(seeds)]
    build = subprocess.Popen(
        [*rag_index, "--index", str(distributed), "--ray", "--ray-address", cluster],
        cwd=REPO,
        env=token,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    victims: list[int] = []
    while build.poll() is None and time.monotonic() < deadline:
        victims = actor_pids()
        if any(resident_mb(pid) > LOADED_MB for pid in victims):  # killed with its model loaded, before embedding
            break
        time.sleep(0.2)
    assert build.poll() is None, (
        f"the build ended before an embedder actor had loaded its model: {build.stderr.read()[-3000:]}"
    )
    assert victims, "no embedder actor was running during the build"
    os.kill(victims[0], signal.SIGKILL)
    replacements: set[int] = set()
    while build.poll() is None and not replacements:
        replacements = set(actor_pids()) - set(victims)
        time.sleep(0.5)
    assert replacements, "the killed actor was not restarted"
    out, err = build.communicate(timeout=900)
    assert build.returncode == 0, err[-3000:]
    assert "indexed 50 articles (50 added" in out
    done = subprocess.run(
        [*rag_index, "--index", str(local), "--local"],
        cwd=REPO,
        env=no_cache,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    a, b = Store(current_generation(local)), Store(current_generation(distributed))
    ids = sorted(a.manifest.articles)
    (chunks, vectors), (ray_chunks, ray_vectors) = a.chunks_with_vectors(ids), b.chunks_with_vectors(ids)
    assert ray_chunks == chunks and len(chunks) > 50  # same ids (order), article, offsets and texts
    # The same texts, embedded in other batches: float32 gives the same vectors; int8 (on CPUs with VNNI) rounds
    # an activation near a step the other way when a batch's padding changes the kernels' blocking (0.997 seen).
    assert float(np.min(np.sum(vectors * ray_vectors, axis=1))) >= 0.99
    assert (a.manifest.embedder, a.manifest.dimension, a.manifest.chunking, a.manifest.articles) == (
        b.manifest.embedder,
        b.manifest.dimension,
        b.manifest.chunking,
        b.manifest.articles,
    )
    assert "up to date" in rag("index", "--seeds", str(seeds), "--index", str(distributed), "--local").stdout
