"""Offline question answering over news articles, with cited passages.

from rag import Index
for hit in Index.open("index").search("من هو كبير المفاوضين الأوكرانيين؟", k=3):
    print(hit.score, hit.title, hit.text)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.answering import Assistant
    from rag.config import Settings
    from rag.indexing import BuildReport, build_index
    from rag.retrieval import Index
    from rag.stores import IndexMismatchError, IndexMissingError
    from rag.types import Answer, Article, Chunk, Citation, Hit, Progress, Span

# Each public name and its module, imported on first use: `import rag.llama_build` (run before the dependencies
# are installed) and commands that need little must not import torch.
_PUBLIC = {
    "Answer": "rag.types",
    "Article": "rag.types",
    "Assistant": "rag.answering",
    "BuildReport": "rag.indexing",
    "Chunk": "rag.types",
    "Citation": "rag.types",
    "Hit": "rag.types",
    "Index": "rag.retrieval",
    "IndexMismatchError": "rag.stores",
    "IndexMissingError": "rag.stores",
    "Progress": "rag.types",
    "Settings": "rag.config",
    "Span": "rag.types",
    "build_index": "rag.indexing",
}
__all__ = [
    "Answer",
    "Article",
    "Assistant",
    "BuildReport",
    "Chunk",
    "Citation",
    "Hit",
    "Index",
    "IndexMismatchError",
    "IndexMissingError",
    "Progress",
    "Settings",
    "Span",
    "build_index",
]


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
