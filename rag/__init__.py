"""Offline question answering over news articles, with cited passages.

from rag import Index
for hit in Index.open("index").search("من هو كبير المفاوضين الأوكرانيين؟", k=3):
    print(hit.score, hit.title, hit.text)
"""

from rag.answering import Assistant
from rag.config import Settings
from rag.indexing import BuildReport, build_index
from rag.retrieval import Index
from rag.stores import IndexMismatchError, IndexMissingError
from rag.types import Answer, Article, Chunk, Citation, Hit, Progress, Span

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
