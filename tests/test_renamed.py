"""rag/renamed.py: the RAG_MODELS__* names of before the embedder's and the reader's groups still work."""

import logging
from pathlib import Path

import pytest

from rag import renamed
from rag.config import Settings


def test_the_old_models_variables_still_work_with_one_deprecation_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    monkeypatch.setattr(renamed, "_told", set())  # (warned once per process)
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
