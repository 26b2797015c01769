"""rag/server/http.py over fake models and a real small index: request limits, the rate limit, keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.answering import Assistant
from rag.config import AnswerSettings, LLMSettings, ServerSettings
from rag.indexing import build_index
from rag.retrieval import Index
from rag.server.http import create_api
from tests.fake_reader import FakeReader

ARTICLE = "استقال الوزير يوم الاثنين بعد اجتماع الحكومة."


@pytest.fixture
def assistant(tmp_path: Path, fake_settings, fake_embedder) -> Assistant:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "minister.txt").write_text(ARTICLE, encoding="utf-8")
    settings = fake_settings(seeds, tmp_path / "index")
    build_index(settings, embedder=fake_embedder, show_progress=False)
    return Assistant(Index(settings, fake_embedder), FakeReader(LLMSettings(), AnswerSettings()))


def client(assistant: Assistant, **server: object) -> TestClient:
    settings = assistant.index.settings
    settings = settings.model_copy(update={"server": ServerSettings(**server)})
    assistant.index.settings = settings
    return TestClient(create_api(assistant), base_url="http://127.0.0.1")


def test_requests_within_the_limits_are_answered(assistant):
    api = client(assistant)
    assert api.post("/v1/search", json={"query": "الوزير", "k": 1}).json()["hits"][0]["article_id"] == "minister.txt"
    answer = api.post("/v1/ask", json={"question": "متى استقال الوزير؟", "sources": ["a"] * 100}).json()
    assert answer["abstained"]  # no article of source 'a'
    embedded = api.post("/v1/embeddings", json={"input": ["نص"] * 3}).json()
    assert len(embedded["data"]) == 3


def test_too_many_sources_a_text_too_long_to_embed_and_a_long_question_are_refused(assistant):
    api = client(assistant)
    many = [f"source-{i}" for i in range(20_000)]
    assert api.post("/v1/search", json={"query": "الوزير", "sources": many}).status_code == 422
    assert api.post("/v1/ask", json={"question": "الوزير؟", "sources": many}).status_code == 422
    assert api.post("/v1/search", json={"query": "الوزير", "sources": ["x" * 600]}).status_code == 422
    assert api.post("/v1/embeddings", json={"input": ["a " * 5_000_000]}).status_code == 422
    assert api.post("/v1/embeddings", json={"input": "a " * 5_000_000}).status_code == 422
    refused = api.post("/v1/ask", json={"question": "س" * 1_000_000})
    assert refused.status_code == 422 and "over the limit of 2,000" in refused.json()["detail"]


def test_a_client_past_its_rate_gets_429_with_retry_after_and_others_go_on(assistant):
    api = client(assistant, rate_limit=2, api_keys="k1,k2")
    first = {"Authorization": "Bearer k1"}
    for _ in range(2):
        assert api.get("/v1/articles", headers=first).status_code == 200
    refused = api.get("/v1/articles", headers=first)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "2 requests a minute" in refused.json()["detail"]
    assert api.get("/v1/articles", headers={"Authorization": "Bearer k2"}).status_code == 200  # its own rate
    assert api.get("/v1/articles", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_without_keys_the_rate_is_counted_per_address_whatever_the_authorization(assistant):
    api = client(assistant, rate_limit=1)
    assert api.get("/v1/articles").status_code == 200
    assert api.get("/v1/articles", headers={"Authorization": "Bearer made-up"}).status_code == 429
