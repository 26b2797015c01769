"""Shared fixtures: a tiny fake embedder for unit tests, a real Milvus Lite server; real models only in tests/e2e."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import FakeEmbedder, free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_settings() -> Callable[..., object]:
    """Settings for an articles folder and an index folder, with the fake embedder and small chunks."""
    from rag.config import ChunkSettings, EmbedderSettings, Settings

    def make(seeds: Path, index: Path, max_tokens: int = 40) -> Settings:
        return Settings(
            seeds_dir=seeds,
            index_dir=index,
            embedder=EmbedderSettings(model="fake-embedder"),
            chunking=ChunkSettings(max_tokens=max_tokens, overlap_tokens=5),
        )

    return make


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """A real Milvus Lite server (`rag milvus-lite`: its gRPC mode) on a loopback port, for several processes."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "milvus-lite", str(tmp_path / "milvus.db"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("`rag milvus-lite` did not start")
    yield f"http://127.0.0.1:{port}"
    server.terminate()  # SIGTERM: it stops Milvus Lite's engine before it ends
    server.wait(timeout=30)
    assert not (tmp_path / ".milvus.db.lock").exists()
