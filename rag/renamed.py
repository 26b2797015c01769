"""Settings that were renamed, still read from the environment under their old names with one deprecation line
each: the RAG_MODELS__* variables, from before the embedder and the reader had settings groups of their own."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("rag.config")
_told: set[str] = set()  # deprecated variables already warned about (once per process)
# RAG_MODELS__<old> -> (group, field): the settings the models group held before it was split.
RENAMED: dict[str, tuple[str | None, str]] = {
    "CACHE_DIR": (None, "models_dir"),
    "EMBEDDER": ("embedder", "model"),
    "EMBEDDER_API_KEY": ("embedder", "api_key"),
    "EMBEDDER_MODEL": ("embedder", "server_model"),
    "EMBEDDER_TIMEOUT": ("embedder", "timeout"),
    "EMBED_TOKENIZER": ("embedder", "tokenizer"),
    "EMBED_QUERY_PROMPT": ("embedder", "query_prompt"),
    "EMBED_DOCUMENT_PROMPT": ("embedder", "document_prompt"),
    "EMBED_DTYPE": ("embedder", "dtype"),
    "EMBED_BATCH_SIZE": ("embedder", "batch_size"),
    "EMBED_TITLES": ("embedder", "titles"),
    "EMBEDDING_CACHE": ("embedder", "cache"),
    "LLM": ("llm", "model"),
    "LLM_API_KEY": ("llm", "api_key"),
    "LLM_MODEL": ("llm", "server_model"),
    "LLM_TIMEOUT": ("llm", "timeout"),
    "LLM_LOGPROBS": ("llm", "logprobs"),
    "LLM_PROCESS": ("llm", "process"),
    "LLM_PROMPT": ("llm", "prompt"),
    "LLM_CONTEXT": ("llm", "context"),
    "LLM_THREADS": ("llm", "threads"),
    "LLM_CONTEXTS": ("llm", "contexts"),
}


def with_renamed(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """`data` (the settings read so far) with the values of the old variables set in `environ` under their new
    names; a new name already set wins."""
    for key, value in environ.items():
        old = key.upper().removeprefix("RAG_MODELS__")
        if old == key.upper() or old not in RENAMED:
            continue
        group, name = RENAMED[old]
        new = f"RAG_{name.upper()}" if group is None else f"RAG_{group.upper()}__{name.upper()}"
        if key not in _told:
            _told.add(key)
            log.warning("%s is deprecated: use %s", key, new)
        if group is None:
            data.setdefault(name, value)
        elif isinstance(data.setdefault(group, {}), dict):
            data[group].setdefault(name, value)
    return data
