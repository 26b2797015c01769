"""Milvus end to end with the real models: the seed QA on a Milvus Lite file, and two `rag serve` replicas on one
Milvus Lite server (one builds, the other answers from the new article at its next question)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from rag import Assistant, Index, Settings
from rag.config import StoreSettings
from rag.embedding import Embedder
from rag.evaluate import contains_answer, invalid_citations
from rag.prompts import NO_ANSWER
from rag.stores import engine_for
from tests.helpers import REPO, SEED_QA, rag, ready, running_app, wait_for_build

OLIVES = "أعلنت وزارة الفلاحة التونسية أن موسم جني الزيتون في صفاقس سيبدأ يوم 15 أكتوبر بمشاركة آلاف العمال."


def test_seed_questions_on_a_milvus_lite_file(tmp_path: Path):
    """`rag index --store x.db`, then every seed question answered (or abstained) as on the local index."""
    db = tmp_path / "seed.db"
    done = rag("index", "--seeds", str(REPO / "seeds"), "--store", str(db))
    assert "indexed 1 articles (1 added" in done.stdout and f"-> {db} (collections rag_news_*)" in done.stdout
    assert "up to date" in rag("index", "--seeds", str(REPO / "seeds"), "--store", str(db)).stdout
    found = json.loads(rag("search", "من هو كبير المفاوضين الأوكرانيين؟", "--store", str(db), "--json").stdout)
    assert "رستم أوميروف" in found["hits"][0]["text"]
    settings = Settings(store=StoreSettings(uri=str(db)))
    index = Index(settings, Embedder(settings.embedder, settings.models_dir))
    assistant = Assistant(index)
    for question in map(json.loads, SEED_QA.read_text().splitlines()):
        answer = assistant.ask(question["question"])
        if not question["answerable"]:
            assert answer.abstained and answer.text == NO_ANSWER[question["lang"]], question["id"]
            continue
        assert not answer.abstained and contains_answer(answer.text, question["answers"]), question["id"]
        assert answer.citations and invalid_citations(answer, index) == 0, question["id"]
        assert any(contains_answer(c.span_text, question["answers"]) for c in answer.citations), question["id"]
    engine_for(settings).drop()


def test_two_replicas_on_one_milvus_server(tmp_path: Path, milvus_server: str):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for article in (REPO / "seeds").iterdir():
        (seeds / article.name).write_bytes(article.read_bytes())
    rag("index", "--seeds", str(seeds), "--store", milvus_server)
    env = {"RAG_STORE__URI": milvus_server, "RAG_SEEDS_DIR": str(seeds)}
    with running_app(tmp_path / "a", **env) as (_, builder), running_app(tmp_path / "b", **env) as (_, reader):
        ready(builder), ready(reader)
        question = "متى يبدأ موسم جني الزيتون في صفاقس؟"
        before = httpx.post(reader + "v1/search", json={"query": question, "k": 1}, timeout=120).json()
        assert before["hits"][0]["article_id"] != "olives.txt"
        (seeds / "olives.txt").write_text(OLIVES, encoding="utf-8")
        with httpx.Client(base_url=builder, timeout=180) as client:
            assert client.post("/v1/index").status_code == 202
            assert wait_for_build(client)["last"]["added"] == 1
        answer = httpx.post(reader + "v1/ask", json={"question": question}, timeout=300).json()
        assert not answer["abstained"] and "15 أكتوبر" in answer["answer"], answer["answer"]
        assert {c["article_id"] for c in answer["citations"]} == {"olives.txt"}
        health = [httpx.get(url + "health", timeout=30).json() for url in (builder, reader)]
        assert health[0]["generation"] == health[1]["generation"] and health[1]["articles"] == 2
    assert os.path.exists(seeds / "olives.txt")
