"""The answer first: the shortest stretch of the evidence that answers the question (a name, a place, a
number), chosen by the LLM's likelihood of answering with exactly that stretch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

from rag.evidence import Evidence, content_terms
from rag.generators import PUNCTUATION, Generator, GeneratorError, ScoredSpan
from rag.text import WORD, sentences
from rag.types import Span

CLITICS = "وفبلك"  # Arabic letters glued to the next word ("وكيريل", "بموسكو"): a span may start after them
MAX_SPAN_WORDS = 8
log = logging.getLogger(__name__)


def span_starts(text: str) -> list[int]:
    """Where an answer may start: each word after its opening punctuation, and after a glued Arabic clitic."""
    starts = []
    for word in WORD.finditer(text):
        start = word.start()
        while start < word.end() and text[start] in PUNCTUATION:
            start += 1
        if start < word.end():
            starts.append(start)
            if text[start] in CLITICS and word.end() - start > 3:
                starts.append(start + 1)
    return starts


def saying_something_new(question: str, passage: str, scored: Iterable[ScoredSpan]) -> Iterator[ScoredSpan]:
    """The scored spans of `passage` with a term the question lacks (an answer is not the question's words)."""
    asked = content_terms(question)
    return (s for s in scored if content_terms(passage[s.start : s.end]) - asked)


def answer_span(question: str, evidence: Sequence[Evidence], generator: Generator) -> Span | None:
    """The most likely answer copied from the best evidence (shown to the model as [1] of all the evidence)
    that says something the question does not."""
    best = evidence[0]
    try:
        scored = generator.answer_spans(question, [e.text for e in evidence], span_starts(best.text), MAX_SPAN_WORDS)
    except GeneratorError as error:
        log.warning("no answer span: %s", error)
        return None
    found = next(saying_something_new(question, best.text, scored), None)
    if found is None:
        return None
    return Span(
        best.text[found.start : found.end], best.start + found.start, best.start + found.end, found.log_probability
    )


def sentence_holding(evidence: Evidence, span: Span) -> tuple[int, int]:
    """Article offsets of the evidence sentence that holds the span (the whole evidence if it straddles two)."""
    for segment in sentences(evidence.text):
        start, end = evidence.start + segment.start, evidence.start + segment.end
        if start <= span.start and span.end <= end:
            return start, end
    return evidence.start, evidence.end
