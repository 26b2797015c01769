"""Evidence first: the sentences of the retrieved passages that best answer the question, and the
support test that checks an answer sentence against the evidence it cites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embedding import Embedder
from rag.lexical import analyze
from rag.text import detect_language, sentences
from rag.types import Hit

# Question words and particles that say nothing about where the answer is.
STOP_TERMS = frozenset(
    analyze(
        "من ما ماذا متى اين أين كيف كم لماذا هل هو هي هم في على إلى الى عن مع التي الذي الذين ذلك هذا هذه "
        "كان كانت و أو ثم قد لم لا ان أن إن ب ل ك "
        "who what when where which why how many much is are was were the a an of in on to for by with and or "
        "did does do according article"
    )
)


@dataclass(frozen=True)
class Evidence:
    """One sentence of a retrieved passage, with article offsets and how well it answers the question."""

    hit: Hit
    start: int
    end: int
    text: str
    score: float


def content_terms(text: str) -> set[str]:
    """Stemmed, normalised terms of `text` without question words and particles."""
    return {t for t in analyze(text) if t not in STOP_TERMS}


def term_overlap(claim: str, source: str) -> float:
    """Share of the claim's content terms that also occur in the source (1.0 for a claim without any)."""
    wanted = content_terms(claim)
    return len(wanted & content_terms(source)) / len(wanted) if wanted else 1.0


def split_evidence(hits: Sequence[Hit]) -> list[tuple[Hit, int, int]]:
    """Every sentence of the hits as (hit, article start, article end), without duplicates from overlaps."""
    seen: set[tuple[str, int]] = set()
    found = []
    for hit in hits:
        for segment in sentences(hit.text):
            key = (hit.article_id, hit.start + segment.start)
            if not segment.heading and key not in seen:
                seen.add(key)
                found.append((hit, hit.start + segment.start, hit.start + segment.end))
    return found


def rank_evidence(
    question: str, hits: Sequence[Hit], embedder: Embedder, lexical_weight: float, context: bool = True
) -> list[Evidence]:
    """Sentences of the hits, best first: cosine to the question mixed with content-term overlap.

    With `context`, a sentence is scored together with the one before it in its passage, so that
    "He called these statements nonsense" still matches a question naming who made them."""
    spans = split_evidence(hits)
    if not spans:
        return []
    texts = [hit.text[s - hit.start : e - hit.start] for hit, s, e in spans]
    scored = texts
    if context:
        scored = [
            f"{texts[i - 1]} {text}" if i and spans[i - 1][0] is spans[i][0] else text for i, text in enumerate(texts)
        ]
    similarity = embedder.encode_documents(scored) @ embedder.encode_query(question)
    if detect_language(question) != detect_language(" ".join(texts)):
        lexical_weight = 0.0  # no shared words across languages: overlap would only deflate the scores
    overlap = np.array([term_overlap(question, t) if content_terms(question) else 0.0 for t in scored])
    scores = (1 - lexical_weight) * similarity + lexical_weight * overlap
    ranked = sorted(zip(spans, texts, scores), key=lambda item: -item[2])
    return [Evidence(hit, s, e, text, float(score)) for (hit, s, e), text, score in ranked]
