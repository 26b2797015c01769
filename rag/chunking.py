"""Sentence-aware chunking of an article, budgeted in the embedder's own tokens, with character offsets."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import ChunkSettings
from rag.text import CLAUSE_END, WORD, Segment, sentences, split_spans
from rag.types import Article, Chunk

TokenCounter = Callable[[str], int]


def _fit(text: str, segment: Segment, count: TokenCounter, budget: int) -> list[tuple[Segment, int]]:
    """Split one over-long sentence at clause marks, then by words, until every piece fits."""
    n = count(text[segment.start : segment.end])
    if n <= budget:
        return [(segment, n)]
    clauses = split_spans(text, segment.start, segment.end, CLAUSE_END)
    if len(clauses) > 1:
        return [piece for s, e in clauses for piece in _fit(text, Segment(s, e), count, budget)]
    # No clause marks: greedy runs of words.
    pieces: list[tuple[Segment, int]] = []
    words = split_spans(text, segment.start, segment.end, WORD)
    run_start, run_end = words[0]
    for s, e in words[1:]:
        if count(text[run_start:e]) > budget:
            pieces.append((Segment(run_start, run_end), count(text[run_start:run_end])))
            run_start = s
        run_end = e
    pieces.append((Segment(run_start, run_end), count(text[run_start:run_end])))
    return pieces


def chunk_article(article: Article, count: TokenCounter, settings: ChunkSettings) -> list[Chunk]:
    """Chunks of `article` that never cut a sentence unless it alone exceeds the budget."""
    text = article.text
    pieces = [p for seg in sentences(text) for p in _fit(text, seg, count, settings.max_tokens)]
    chunks: list[Chunk] = []
    current: list[tuple[Segment, int]] = []
    fresh = 0  # pieces in `current` not carried over from the previous chunk

    def flush() -> None:
        first, last = current[0][0], current[-1][0]
        chunks.append(Chunk(article.id, len(chunks), first.start, last.end, text[first.start : last.end]))

    for piece in pieces:
        segment, tokens = piece
        size = sum(n for _, n in current)
        if fresh and (segment.heading or size + tokens > settings.max_tokens):
            flush()
            current = [] if segment.heading else _overlap(current, settings.overlap_tokens)
            fresh = 0
            size = sum(n for _, n in current)
            if size + tokens > settings.max_tokens:
                current = []
        current.append(piece)
        fresh += 1
    if fresh:
        flush()
    return chunks


def _overlap(pieces: list[tuple[Segment, int]], budget: int) -> list[tuple[Segment, int]]:
    """The trailing sentences of a chunk that fit in the overlap budget (headings excluded)."""
    carried: list[tuple[Segment, int]] = []
    total = 0
    for segment, tokens in reversed(pieces):
        if segment.heading or total + tokens > budget:
            break
        carried.insert(0, (segment, tokens))
        total += tokens
    return carried
