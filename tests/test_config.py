"""rag/config.py: the environment names, the embedder's and the reader's groups, and the names they replaced."""

import logging
from pathlib import Path

import pytest

from rag import config
from rag.config import Settings


def test_the_groups_read_their_own_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("RAG_EMBEDDER__BATCH_SIZE", "7")
    monkeypatch.setenv("RAG_LLM__MODEL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("RAG_MODELS_DIR", str(tmp_path))
    settings = Settings()
    assert (settings.embedder.batch_size, settings.llm.model, settings.models_dir) == (
        7,
        "http://127.0.0.1:8080/v1",
        tmp_path,
    )


def test_the_old_models_variables_still_work_with_one_deprecation_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    monkeypatch.setattr(config, "_told", set())  # (warned once per process)
    monkeypatch.setenv("RAG_MODELS__EMBED_BATCH_SIZE", "9")
    monkeypatch.setenv("RAG_MODELS__LLM_CONTEXTS", "3")
    monkeypatch.setenv("RAG_MODELS__EMBEDDING_CACHE", "")
    monkeypatch.setenv("RAG_MODELS__CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="rag.config"):
        settings = Settings()
        Settings()
    assert (settings.embedder.batch_size, settings.llm.contexts, settings.embedder.cache) == (9, 3, None)
    assert settings.models_dir == tmp_path
    told = [r.getMessage() for r in caplog.records if "RAG_MODELS__EMBED_BATCH_SIZE" in r.getMessage()]
    assert told == ["RAG_MODELS__EMBED_BATCH_SIZE is deprecated: use RAG_EMBEDDER__BATCH_SIZE"]  # once


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_MODELS__LLM", "old-model.gguf")
    monkeypatch.setenv("RAG_LLM__MODEL", "new-model.gguf")
    assert Settings().llm.model == "new-model.gguf"
