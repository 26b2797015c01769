"""Citation markers `[n]` in generated answers: parse, drop the invalid ones, find the cited span."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text import SENTENCE_END, normalize, split_spans, tokens
from rag.types import Citation, Hit

DIGITS = "0-9\u0660-\u0669\u06f0-\u06f9"
# [1], [1, 2], [١، ٢], also with full-width brackets.
MARKER = re.compile(rf"\s*[\[【]\s*([{DIGITS}]+(?:\s*[,،]\s*[{DIGITS}]+)*)\s*[\]】]")


@dataclass(frozen=True)
class ParsedCitations:
    """Answer text with only valid markers (ASCII digits), and the valid numbers in order of first use."""

    text: str
    numbers: tuple[int, ...]


def parse_citations(text: str, passages: int) -> ParsedCitations:
    """Keep markers that name one of `passages` (1-based); remove the rest and repeated ones."""
    used: list[int] = []

    def rewrite(match: re.Match[str]) -> str:
        valid: list[int] = []
        for raw in re.split(r"\s*[,،]\s*", match.group(1)):
            n = int(normalize(raw))
            if 1 <= n <= passages and n not in valid:
                valid.append(n)
        for n in valid:
            if n not in used:
                used.append(n)
        return f" [{', '.join(map(str, valid))}]" if valid else ""

    cleaned = MARKER.sub(rewrite, text).strip()
    # "[2] Paris" (citation first, as base models are prompted) reads better as "Paris [2]".
    if (lead := re.match(r"(\[[0-9, ]+\])\s+(\S.*)", cleaned, re.S)) and not MARKER.search(lead.group(2)):
        body = lead.group(2).rstrip()
        stop = body[-1] if body[-1] in ".!?؟" else ""
        cleaned = f"{body.removesuffix(stop).rstrip()} {lead.group(1)}{stop}"
    # A marker repeated right after itself ("[1] [1]") reads as a glitch: keep one.
    cleaned = re.sub(r"(\[[0-9, ]+\])(\s*\1)+", r"\1", cleaned)
    cleaned = re.sub(r" +([.!?؟،,])", r"\1", cleaned).strip()
    return ParsedCitations(cleaned, tuple(used))


def claims_citing(text: str, n: int) -> str:
    """The answer sentences that carry marker n (the whole answer if none does)."""
    citing = []
    for s, e in split_spans(text, 0, len(text), SENTENCE_END):
        sentence = text[s:e]
        if any(str(n) in re.split(r"\D+", m.group(1)) for m in MARKER.finditer(sentence)):
            citing.append(sentence)
    return " ".join(citing) or text


def supporting_span(claim: str, hit: Hit) -> tuple[int, int]:
    """Article offsets of the passage sentence sharing most words with the claim (the whole passage if none)."""
    wanted = set(tokens(MARKER.sub("", claim)))
    best, best_overlap = (hit.start, hit.end), 0
    for s, e in split_spans(hit.text, 0, len(hit.text), SENTENCE_END):
        overlap = len(wanted & set(tokens(hit.text[s:e])))
        if overlap > best_overlap:
            best, best_overlap = (hit.start + s, hit.start + e), overlap
    return best


def cite(text: str, passages: Sequence[Hit]) -> tuple[str, tuple[Citation, ...]]:
    """Clean the answer's markers and map each valid one to its passage and supporting span."""
    parsed = parse_citations(text, len(passages))
    citations = []
    for n in parsed.numbers:
        hit = passages[n - 1]
        start, end = supporting_span(claims_citing(parsed.text, n), hit)
        citations.append(Citation(n=n, hit=hit, span_start=start, span_end=end))
    return parsed.text, tuple(citations)
