"""The JSON shapes of the public values, defined once: `rag search/ask --json`, the chat's stored answers and the HTTP API
(its OpenAPI schema included) all produce these pydantic models."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from rag.types import Copy

if TYPE_CHECKING:
    from rag.types import Answer, Citation, Hit, Span


class HitRecord(BaseModel):
    """A retrieved passage: `score` ranks, `similarity` is the cosine to the query; offsets into the article."""

    rank: int
    chunk_id: int
    score: float
    similarity: float
    text: str
    article_id: str
    title: str
    path: str
    start: int
    end: int
    date: str | None = Field(None, description="The article's date, ISO 8601 (YYYY-MM-DD).")
    source: str | None = Field(None, description="The publication or site.")
    url: str | None = Field(None, description="The original article's address.")
    author: str | None = None

    @classmethod
    def of(cls, hit: Hit, rank: int) -> HitRecord:
        return cls(rank=rank, **asdict(hit))


class SearchResult(BaseModel):
    """The answer to a search: the query and its passages, best first."""

    query: str
    hits: list[HitRecord]

    @classmethod
    def of(cls, query: str, hits: list[Hit]) -> SearchResult:
        return cls(query=query, hits=[HitRecord.of(h, i) for i, h in enumerate(hits, start=1)])


class CitationRecord(BaseModel):
    """A `[n]` of the answer: the passage it cites and the quoted span (span_start..span_end, article offsets)."""

    n: int
    article_id: str
    title: str
    path: str
    text: str = Field(description="The whole passage.")
    start: int
    end: int
    span_start: int
    span_end: int
    span_text: str = Field(description="The cited sentence(s) inside the passage.")
    date: str | None = None
    source: str | None = None
    url: str | None = None
    author: str | None = None

    @classmethod
    def of(cls, citation: Citation) -> CitationRecord:
        hit = citation.hit
        return cls(
            n=citation.n,
            article_id=hit.article_id,
            title=hit.title,
            path=hit.path,
            text=hit.text,
            start=hit.start,
            end=hit.end,
            span_start=citation.span_start,
            span_end=citation.span_end,
            span_text=citation.span_text,
            date=hit.date,
            source=hit.source,
            url=hit.url,
            author=hit.author,
        )

    def label(self) -> str:
        """What a person reads to know the source: 'title · source · date', or 'title (file)' without either."""
        if self.source or self.date:
            return " · ".join(p for p in (self.title, self.source, self.date) if p)
        return f"{self.title} ({self.path})"


class SpanRecord(BaseModel):
    """The shortest stretch of article text that answers (article offsets)."""

    text: str
    start: int
    end: int

    @classmethod
    def of(cls, span: Span) -> SpanRecord:
        return cls(text=span.text, start=span.start, end=span.end)


class AnswerRecord(BaseModel):
    """A cited answer, or an abstention (`abstained`, no citations)."""

    question: str
    answer: str = Field(description="The answer text; [n] marks cite `citations`.")
    abstained: bool
    language: str
    method: Literal["generated", "extractive", "fallback", "abstained"]
    answer_span: SpanRecord | None = Field(description="Shown first in bold when the model is sure of it.")
    citations: list[CitationRecord]
    hits: list[HitRecord] = Field(description="The passages retrieved for the question, best first.")
    notice: str = Field("", description="What went wrong on the way, for the reader (empty when nothing did).")

    @classmethod
    def of(cls, answer: Answer) -> AnswerRecord:
        return cls(
            question=answer.question,
            answer=answer.text,
            abstained=answer.abstained,
            language=answer.language,
            method=answer.method,  # type: ignore[arg-type]
            answer_span=SpanRecord.of(answer.answer_span) if answer.answer_span else None,
            citations=[CitationRecord.of(c) for c in answer.citations],
            hits=[HitRecord.of(h, i) for i, h in enumerate(answer.hits, start=1)],
            notice=answer.notice,
        )

    def as_text(self) -> str:
        """The answer and its sources as plain text (to copy, or for chat clients that show text only)."""
        lines = [self.answer.replace("**", "")] + ([self.notice] if self.notice else [])
        lines += [f"[{c.n}] {c.label()}: {c.span_text}" for c in self.citations]
        return "\n\n".join(lines)


class ArticleRecord(BaseModel):
    """An indexed article."""

    id: str = Field(description="Its path in the articles folder ('file.jsonl#3' for a record of a JSONL file).")
    title: str
    path: str
    date: str | None = None
    url: str | None = None
    author: str | None = None
    source: str | None = None
    language: str | None = None
    chunks: int
    copies: list[Copy] = Field(default_factory=list, description="The same story from other files or sources.")
