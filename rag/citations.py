"""Citation markers `[n]` in generated answers: parse, drop the invalid ones, verify what they claim."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.text import SENTENCE_END, normalize, split_spans, tokens

DIGITS = "0-9\u0660-\u0669\u06f0-\u06f9"
# [1], [1, 2], [١، ٢], also with full-width brackets.
MARKER = re.compile(rf"\s*[\[【]\s*([{DIGITS}]+(?:\s*[,،]\s*[{DIGITS}]+)*)\s*[\]】]")
EMPHASIS = re.compile(r"\*{2,}|_{2,}")  # Markdown bold in an article's own text


def quotable(text: str) -> str:
    """Article text as it may stand in an answer: its own reference marks ([3], [٢، ٤]) and Markdown emphasis
    taken out, so that every [n] of the answer cites one of its sources and its only bold is the answer span."""
    return EMPHASIS.sub("", MARKER.sub("", text))


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
    if (lead := re.match(r"(\[[0-9, ]+\])\s+(\S.*)", cleaned, re.DOTALL)) and not MARKER.search(lead.group(2)):
        body = lead.group(2).rstrip()
        stop = body[-1] if body[-1] in ".!?؟" else ""
        cleaned = f"{body.removesuffix(stop).rstrip()} {lead.group(1)}{stop}"
    # A marker repeated right after itself ("[1] [1]") reads as a glitch: keep one.
    cleaned = re.sub(r"(\[[0-9, ]+\])(\s*\1)+", r"\1", cleaned)
    cleaned = re.sub(r" +([.!?؟،,])", r"\1", cleaned).strip()
    return ParsedCitations(cleaned, tuple(used))


def is_looping(text: str, n: int = 3, repeats: int = 3) -> bool:
    """True when some run of n words recurs `repeats` times: the model is stuck in a loop."""
    words = tokens(text)
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return any(grams.count(g) >= repeats for g in set(grams))


def verify(text: str, sources: int, supports: Callable[[str, int], bool]) -> ParsedCitations | None:
    """Keep the answer sentences a cited source supports; re-cite one that another source supports;
    drop the rest. None when no sentence survives."""
    parsed = parse_citations(text, sources)
    kept: list[str] = []
    used: list[int] = []
    for s, e in split_spans(parsed.text, 0, len(parsed.text), SENTENCE_END):
        sentence = parsed.text[s:e]
        claim = MARKER.sub("", sentence).strip()
        stop = claim[-1] if claim and claim[-1] in ".!?؟" else ""
        claim = claim.removesuffix(stop).strip()
        if not tokens(claim):
            continue
        cited = [int(x) for m in MARKER.finditer(sentence) for x in re.findall(r"\d+", m.group(1))]
        backing = [n for n in cited if supports(claim, n)]
        if not backing:
            backing = next(([n] for n in range(1, sources + 1) if n not in cited and supports(claim, n)), [])
        if backing:
            kept.append(f"{claim} [{', '.join(map(str, backing))}]{stop}")
            used.extend(n for n in backing if n not in used)
    return ParsedCitations(" ".join(kept), tuple(used)) if kept else None
