"""Frozen values that flow between the stages: Article, Chunk, Hit, Citation, Span, Answer."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned article; chunk offsets point into `text`."""

    id: str
    title: str
    text: str
    path: str
    content_hash: str
    date: str | None = None  # ISO 8601, YYYY-MM-DD
    url: str | None = None
    author: str | None = None
    source: str | None = None  # publication or site name
    language: str | None = None
    copies: tuple[Copy, ...] = ()  # the same story elsewhere (near-duplicates, indexed once as this article)

    def __post_init__(self) -> None:
        # Interned: a build looks every article's id up among the index's (the same string object compares at once).
        object.__setattr__(self, "id", sys.intern(self.id))


@dataclass(frozen=True)
class Copy:
    """Another article found to tell the same story (e.g. one wire story on two sites), kept as a source."""

    id: str
    title: str
    path: str
    date: str | None = None
    url: str | None = None
    source: str | None = None
    similarity: float = 0.0  # estimated Jaccard similarity of their word 5-grams


@dataclass(frozen=True)
class Chunk:
    """A span of an article: `text == article.text[start:end]`."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its article's details; `score` ranks, `similarity` is the cosine to the query."""

    chunk_id: int
    score: float
    similarity: float
    text: str
    article_id: str
    title: str
    path: str
    start: int
    end: int
    date: str | None = None
    source: str | None = None
    url: str | None = None
    author: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scope:
    """Which articles a search may draw on: published in since..until (ISO dates, inclusive; articles without
    a date are out when either is set), from one of `sources` (a source name or a site's host, any case),
    and not among `exclude` (article ids). Applied inside retrieval, before the top k are taken."""

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    exclude: frozenset[str] = frozenset()

    @property
    def filters(self) -> bool:
        """True when a date or source condition is set (exclusions alone are not a filter)."""
        return bool(self.since or self.until or self.sources)


@dataclass(frozen=True)
class Citation:
    """A valid `[n]` in the answer, mapped to the passage it cites and the span it quotes."""

    n: int
    hit: Hit
    span_start: int
    span_end: int

    @property
    def span_text(self) -> str:
        """The cited text inside the passage (article offsets span_start..span_end)."""
        return self.hit.text[self.span_start - self.hit.start : self.span_end - self.hit.start]


@dataclass(frozen=True)
class Span:
    """The shortest stretch of article text that answers the question (article offsets), and how sure the model is."""

    text: str
    start: int
    end: int
    confidence: float  # log-probability that the LLM answers with exactly this span


@dataclass(frozen=True)
class Progress:
    """A stage of making an answer ("searching", "reading", "writing"), streamed when asked for."""

    stage: str


@dataclass(frozen=True)
class Answer:
    """The final answer: text with valid `[n]` citations, or an abstention."""

    question: str
    text: str
    abstained: bool
    language: str
    citations: tuple[Citation, ...] = ()
    passages: tuple[Hit, ...] = field(default=())
    hits: tuple[Hit, ...] = field(default=())
    method: str = "generated"  # generated | extractive | fallback (extractive after failed checks) | abstained
    prompt_tokens: int = 0
    answer_span: Span | None = None  # shown first, in bold, when the model is sure enough of it
    best_span: Span | None = None  # the model's best span, even when too unsure to show (a follow-up reads it)
    notice: str = ""  # what went wrong on the way, told to the reader (e.g. the LLM server could not be reached)
