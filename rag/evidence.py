"""Evidence first: the sentences of the retrieved passages that best answer the question, and the
support test that checks an answer sentence against the evidence it cites."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.embedding import Embedder
from rag.lexical import analyze
from rag.text import crosses_languages, sentences
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


# Words that turn a statement into its opposite. They are stop words for ranking, but a claim that has one
# its source lacks (or lacks one its source has) says something else: "لم يستقل الوزير" is not "استقال الوزير".
NEGATIONS = frozenset(
    [
        "لا",
        "لم",
        "لن",
        "ليس",
        "ليست",
        "ليسا",
        "ليسوا",
        "لسن",
        "لست",
        "لستم",
        "لسنا",
        "not",
        "no",
        "never",
        "none",
        "neither",
        "nor",
        "cannot",
    ]
)
WORD_OR_CONTRACTION = re.compile(r"\w+(?:'\w+)?")  # "didn't" whole


def negated(text: str) -> bool:
    """Whether the text says no: a negation word, also after the Arabic و/ف ("ولم"), or an English "n't"."""
    for word in WORD_OR_CONTRACTION.findall(text.lower().replace("\u2019", "'")):
        if word in NEGATIONS or word.endswith("n't") or (word[:1] in "وف" and word[1:] in NEGATIONS):
            return True
    return False


def term_overlap(claim: str, source: str) -> float:
    """Share of the claim's content terms that also occur in the source (1.0 for a claim without any)."""
    wanted = content_terms(claim)
    return len(wanted & content_terms(source)) / len(wanted) if wanted else 1.0


def with_previous_sentence(hit: Hit, article_text: str, reach: int = 2000) -> Hit:
    """The passage widened to start with the article sentence just before it, so that a sentence opening
    the chunk ("He called these statements nonsense") can be read with the one that says whose they were."""
    offset = max(0, hit.start - reach)
    before = [g for g in sentences(article_text[offset : hit.start]) if not g.heading]
    if not before or (offset and len(before) == 1) or article_text[offset + before[-1].end : hit.start].strip():
        return hit  # at the article start, after a heading, or the sentence before is longer than `reach`
    start = offset + before[-1].start
    return replace(hit, start=start, text=article_text[start : hit.end])


def split_evidence(hits: Sequence[Hit], window: int = 1) -> list[tuple[Hit, int, int]]:
    """Runs of `window` consecutive sentences of each hit as (hit, article start, article end), once each."""
    seen: set[tuple[str, int, int]] = set()
    found = []
    for hit in hits:
        spans = [(hit.start + g.start, hit.start + g.end) for g in sentences(hit.text) if not g.heading]
        for i in range(max(1, len(spans) - window + 1)):
            run = spans[i : i + window]
            key = (hit.article_id, run[0][0], run[-1][1])
            if run and key not in seen:
                seen.add(key)
                found.append((hit, run[0][0], run[-1][1]))
    return found


def rank_evidence(
    question: str,
    hits: Sequence[Hit],
    embedder: Embedder,
    lexical_weight: float,
    window: int = 1,
    follow_up: str | None = None,
    rank_cost: float = 0.0,
) -> list[Evidence]:
    """Non-overlapping runs of `window` sentences from the hits, best first: cosine to the question mixed with
    content-term overlap, less `rank_cost` for each place its article stands below the first hit's (the article's
    retrieval rank, lexical matches included, breaks near ties between articles; not across languages).

    A run of two keeps "He called these statements nonsense" together with the sentence that says whose
    statements they were. For a follow-up, `question` is it read with the previous turn and `follow_up` its own
    words: the score is the mean of both, so the previous turn says where to look and the follow-up what to
    look for."""
    spans = split_evidence(hits, window)
    if not spans:
        return []
    texts = [hit.text[s - hit.start : e - hit.start] for hit, s, e in spans]
    vectors = embedder.encode_documents(texts)
    asked = [question] if follow_up is None else [question, follow_up]
    scores = np.mean([score_texts(q, texts, vectors, embedder, lexical_weight) for q in asked], axis=0)
    if not crosses_languages(question, texts):  # across languages retrieval ranks almost by cosine alone
        place = article_places(hits)
        scores = scores - rank_cost * np.array([place[hit.article_id] for hit, _, _ in spans])
    chosen: list[Evidence] = []
    for (hit, start, end), text, score in sorted(zip(spans, texts, scores), key=lambda item: -item[2]):
        if not any(e.hit.article_id == hit.article_id and start < e.end and e.start < end for e in chosen):
            chosen.append(Evidence(hit, start, end, text, float(score)))
    return chosen


def article_places(hits: Sequence[Hit]) -> dict[str, int]:
    """Each article's place among the hits' articles (its best chunk's), from 0."""
    return {article: i for i, article in enumerate(dict.fromkeys(h.article_id for h in hits))}


def score_texts(
    question: str, texts: Sequence[str], vectors: np.ndarray, embedder: Embedder, lexical_weight: float
) -> np.ndarray:
    """Cosine of each text's vector to the question, mixed with the share of the question's terms it holds."""
    similarity = vectors @ embedder.encode_query(question)
    if crosses_languages(question, texts):
        lexical_weight = 0.0  # no shared words across languages: overlap would only deflate the scores
    overlap = np.array([term_overlap(question, t) if content_terms(question) else 0.0 for t in texts])
    return (1 - lexical_weight) * similarity + lexical_weight * overlap
