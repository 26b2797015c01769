"""rag/config.py: the environment names, and the embedder's and the reader's groups."""

from pathlib import Path

import pytest

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
