"""What several test files share: the repo's paths, running `rag`, a free loopback port, a running `rag serve`,
and a tiny fake embedder for unit tests."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = REPO / "seeds"
SEED_ARTICLE = SEEDS / "محادثات-ميامي-لإنهاء-الحرب-في-أوكرانيا.txt"
SEED_QA = SHARED / "eval" / "seed_qa.jsonl"
CORPUS = SHARED / "corpus" / "antcorpus-ar-news.jsonl.gz"
RAG = [sys.executable, "-m", "rag.cli"]


def rag(*args: str, timeout: int = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """`rag ARGS` in a new process, which must succeed."""
    done = subprocess.run(
        [*RAG, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ, HF_HUB_OFFLINE="1", **env),
    )
    assert done.returncode == 0, f"rag {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(index_dir: Path, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`rag serve` on a free port, once it accepts connections: the process and its URL."""
    port = free_port()
    server = subprocess.Popen(
        [*RAG, "serve", "--index", str(index_dir), "--port", str(port)],
        cwd=REPO,
        env=dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, f"rag serve exited:\n{server.stdout.read() if server.stdout else ''}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(1)
        yield server, f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()  # SIGTERM unwinds like Ctrl-C: the app stops listening for builds too
        server.wait(timeout=60)


def ready(url: str, headers: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """/health once the models are loaded."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(url + "health", headers=headers, timeout=10).json()
        if health["status"] == "ready":
            return health
        time.sleep(1)
    raise AssertionError(f"not ready after {timeout} s: {health}")


def children(pid: int) -> list[int]:
    """The process ids of a process's children (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


class FakeEmbedder:
    """Bag-of-words hashing embedder: deterministic, fast, and similar texts get similar vectors."""

    def __init__(self, name: str = "fake-embedder", dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.documents_encoded = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in text.split():
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode_documents(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        titles: Sequence[str] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        self.documents_encoded += len(texts)
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)


def wait_for_output(process: subprocess.Popen, pattern: str, timeout: float = 300) -> re.Match[str]:
    """Read a process's stderr (a binary pipe) until `pattern` matches what it wrote; the match. Progress bars
    write carriage returns, not lines, so this reads what is there rather than by line."""
    assert process.stderr is not None
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([process.stderr], [], [], 1)[0]:
            continue
        piece = os.read(process.stderr.fileno(), 65536).decode(errors="replace")
        assert piece, f"the process ended before writing {pattern!r}:\n{seen[-2000:]}"
        seen += piece
        if found := re.search(pattern, seen):
            return found
    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{seen[-2000:]}")


def wait_for_build(client: Any, timeout: float = 600) -> dict[str, Any]:
    """The server's index state once its build is over (an httpx.Client on the server, with a key if need be)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/v1/index").json()
        if status["state"] == "idle":
            assert status["error"] is None, status["error"]
            return status
        time.sleep(0.5)
    raise AssertionError("the build did not end")


# Test data made from the shared news corpus.


def corpus_records(count: int, skip: int = 20) -> list[dict]:
    """`count` records of the shared news corpus, after the first `skip`."""
    with gzip.open(CORPUS, "rt") as lines:
        return [json.loads(line) for line in itertools.islice(lines, skip, skip + count)]


def write_corpus_articles(folder: Path, count: int) -> None:
    """`count` news articles from the shared corpus, one JSON file each."""
    from rag.evaluate import read_jsonl

    for record in read_jsonl(CORPUS, count):
        (folder / f"news-{record['id']}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def stories(count: int) -> list[dict]:
    """Corpus articles of 200 words or more (a wire story's length)."""
    with gzip.open(CORPUS, "rt") as lines:
        long = (record for line in lines if len((record := json.loads(line))["text"].split()) >= 200)
        return list(itertools.islice(long, count))


def reposted(text: str) -> str:
    """The story as another site runs it: its own opening words, the last sentence cut, a credit line."""
    sentences = re.split(r"(?<=[.!؟])\s+", text.strip())
    return "أفادت مصادر إعلامية بأن " + " ".join(sentences[:-1]) + "\n(وكالات)"


def news_page(article: dict, charset: str, layout: int) -> bytes:
    """A news site's page around one article: nav, header, related links, comments, footer (three layouts)."""
    paragraphs = "".join(f"<p>{p}</p>" for p in article["text"].split("\n") if p.strip())
    nav = "<nav><ul><li><a href='/'>الرئيسية</a></li><li><a href='/sport'>رياضة</a></li><li>اقتصاد</li></ul></nav>"
    related = (
        "<aside><h3>أخبار ذات صلة</h3><ul>"
        + "".join(f"<li><a href='/n/{i}'>خبر عاجل رقم {i} عن الأوضاع في المنطقة</a></li>" for i in range(6))
        + "</ul></aside>"
    )
    comments = (
        "<section id='comments'><h3>تعليقات القراء</h3>"
        + "".join(
            f"<div class='comment'><b>قارئ {i}</b><p>تعليق طويل من قارئ على هذا الخبر المنشور اليوم رقم {i}</p></div>"
            for i in range(4)
        )
        + "</section>"
    )
    footer = "<footer><p>جميع الحقوق محفوظة © 2017</p><form>اشترك في النشرة <input></form></footer>"
    meta = (
        f"<meta charset='{charset}'><title>{article['title']} | {article['source']}</title>"
        f"<meta property='og:site_name' content='{article['source']}'>"
        f"<meta name='author' content='محرر الموقع'><link rel='canonical' href='{article['url']}'>"
        "<meta property='article:published_time' content='2017-01-05T10:00:00+01:00'>"
    )
    body = {
        0: f"<header>{nav}</header><main><article><h1>{article['title']}</h1>{paragraphs}</article>{related}</main>"
        f"{comments}{footer}",
        1: f"{nav}<div class='wrap'><div class='content'><h1>{article['title']}</h1><div class='entry'>{paragraphs}"
        f"</div></div><div class='sidebar'>{related}</div></div>{comments}{footer}",
        2: f"<div id='top'>{nav}</div><table><tr><td><h1>{article['title']}</h1>{paragraphs}</td><td>{related}</td>"
        f"</tr></table>{comments}{footer}",
    }[layout]
    return f"<html dir='rtl' lang='ar'><head>{meta}</head><body>{body}</body></html>".encode(charset)


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server of the handler on a free loopback port, in a thread: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
