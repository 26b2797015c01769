"""rag/embedders: the remote embedding model against small real HTTP servers on loopback (what it sends, what
it makes of the answers, how it fails). The real `rag serve` as an embedding server is in test_server.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np
import pytest

from rag.config import EmbedderSettings
from rag.embedders import EmbedderError, load_embedding_model
from rag.embedding import Embedder
from tests.helpers import serving

RECEIVED: list[dict[str, Any]] = []


class Server(BaseHTTPRequestHandler):
    """/ok/v1 embeds (3-d, unnormalised, rows reversed), /slow/v1 is late, /broken/v1 fails, /garbled/v1 is not JSON,
    /short/v1 sends one vector too few."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        RECEIVED.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
        texts = body["input"]
        rows = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(texts)][::-1]
        if self.path.startswith("/slow/"):
            time.sleep(3)
        if self.path.startswith("/broken/"):
            self.reply(500, b'{"error": "out of memory"}')
        elif self.path.startswith("/garbled/"):
            self.reply(200, b"<html>")
        elif self.path.startswith("/short/"):
            self.reply(200, json.dumps({"model": "m", "data": rows[1:]}).encode())
        else:
            self.reply(200, json.dumps({"model": "served-model", "data": rows}).encode())

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(Server) as url:
        yield url


def test_a_url_is_a_remote_embedder_whose_name_and_dimension_come_from_the_server(server: str):
    assert EmbedderSettings(model=server + "/ok/v1").is_server and not EmbedderSettings().is_server
    embedder = Embedder(EmbedderSettings(model=server + "/ok/v1", cache=None, api_key="k"))
    assert (embedder.name, embedder.dimension, embedder.loaded) == ("served-model", 3, True)
    RECEIVED.clear()
    vectors = embedder.encode_documents(["ab", "abcd"], titles=["T1", "T2"], batch_size=8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert vectors[1] @ np.array([4, 1, 0]) / np.linalg.norm([4, 1, 0]) > 0.9999  # rows put back in input order
    (sent,) = RECEIVED
    assert sent["input_type"] == "document" and sent["titles"] == ["T1", "T2"] and sent["auth"] == "Bearer k"
    embedder.encode_query("q")
    assert RECEIVED[-1]["input_type"] == "query" and "model" not in RECEIVED[-1]


def test_prompts_set_here_are_put_before_the_texts_for_servers_that_do_not_apply_them(server: str):
    models = EmbedderSettings(
        model=server + "/ok/v1",
        server_model="gemma",
        cache=None,
        query_prompt="task: search result | query: ",
        document_prompt="title: none | text: ",
    )
    model = load_embedding_model(models)
    RECEIVED.clear()
    model.encode_documents([("Miami talks", "text one"), ("", "text two")])
    model.encode_query("who?")
    documents, query = RECEIVED
    assert documents["input"] == ["title: Miami talks | text: text one", "title: none | text: text two"]
    assert query["input"] == ["task: search result | query: who?"] and query["model"] == "gemma"
    assert "input_type" not in documents and "titles" not in documents


def test_an_unknown_served_model_needs_its_tokenizer_named(server: str):
    model = load_embedding_model(EmbedderSettings(model=server + "/ok/v1", cache=None))
    with pytest.raises(EmbedderError, match="RAG_EMBEDDER__TOKENIZER"):
        model.count_tokens("some words")


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("closed", "cannot reach the embedding server at"),
        ("slow", "did not answer within 1 s"),
        ("broken", 'answered 500: {"error": "out of memory"}'),
        ("garbled", "something other than JSON"),
        ("short", "sent 1 vectors for 2 texts"),
    ],
)
def test_failures_are_one_clear_line(server: str, where: str, reason: str):
    base = "http://127.0.0.1:9/v1" if where == "closed" else f"{server}/{where}/v1"
    model = load_embedding_model(EmbedderSettings(model=base, timeout=1, cache=None))
    with pytest.raises(EmbedderError, match=reason):
        model.encode_documents([("", "a"), ("", "b")])


def test_one_thread_runs_the_local_model_for_every_caller():
    """The HTTP API, the chat and a build call the model from their own threads; torch would give each caller its
    own OpenMP team (idle teams spin on the cores the next needs), and a tokenizer fails shared across threads."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.embedders.local import SentenceTransformerModel

    ran_on: set[int] = set()

    class Recording:
        def encode_query(self, texts: list[str], **options: Any) -> np.ndarray:
            ran_on.add(threading.get_ident())
            time.sleep(0.01)
            return np.ones((len(texts), 3), dtype=np.float32)

    model = SentenceTransformerModel(EmbedderSettings())
    model._model = Recording()  # type: ignore[assignment]
    with ThreadPoolExecutor(4) as callers:
        vectors = list(callers.map(model.encode_query, ["سؤال"] * 12))
    assert len(vectors) == 12 and all(v.shape == (3,) for v in vectors)
    assert len(ran_on) == 1 and threading.get_ident() not in ran_on
