"""Whether the evidence answers the question: four measured signals, weighed by a logistic model fitted
on XQuAD-ar with each question's gold passage present and left out (bench/calibrate/abstention_signal.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Protocol

import numpy as np

from rag.embedding import Embedder
from rag.evidence import Evidence, content_terms
from rag.generators import Generator, GeneratorError

log = logging.getLogger(__name__)
PHRASE_WORDS = 12  # a question is usually a paraphrase of one clause of its answer's sentence
PHRASE_STRIDE = 4
PHRASE_BATCH = 16  # 12-word stretches: 0.51 s a question at 16, 0.77 s at the default 4 (12 XQuAD questions)


class TermWeights(Protocol):
    """Anything that gives index terms their idf (an index store)."""

    def idf(self, terms: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class Signals:
    """What speaks for the evidence answering the question, in the order of the model's weights."""

    score: float  # the best evidence's ranking score (cosine mixed with term overlap)
    phrase_similarity: float  # best cosine between the question and a 12-word stretch of the evidence
    coverage: float  # share of the question's terms, weighted by idf, in the best evidence
    likelihood_gain: float | None  # how much likelier the evidence makes the question to the LLM, in nats (None:
    # the LLM gives no prompt log-probabilities)

    def logit(self, weights: Sequence[float]) -> float:
        """weights[0] + the weighted signals: positive means answerable (a missing signal counts 0)."""
        values = [0.0 if v is None else v for v in astuple(self)]
        return float(weights[0] + np.dot(weights[1:], values))


def phrases(text: str) -> list[str]:
    """Overlapping stretches of PHRASE_WORDS words (the whole text when shorter)."""
    words = text.split()
    if len(words) <= PHRASE_WORDS:
        return [" ".join(words)]
    last = len(words) - PHRASE_WORDS
    starts = [*range(0, last, PHRASE_STRIDE), last]
    return [" ".join(words[i : i + PHRASE_WORDS]) for i in starts]


def idf_coverage(question: str, text: str, terms: TermWeights) -> float:
    """Share of the question's content terms, weighted by their idf in the index, that the text holds."""
    wanted = sorted(content_terms(question))
    if not wanted:
        return 1.0
    found = content_terms(text)
    weights = terms.idf(wanted)
    return sum(w for t, w in zip(wanted, weights) if t in found) / sum(weights)


def phrase_similarity(question: str, evidence: Sequence[Evidence], embedder: Embedder) -> float:
    """The best cosine between the question and a 12-word stretch of the evidence."""
    stretches = [p for e in evidence for p in phrases(e.text)]
    similarity = embedder.encode_documents(stretches, batch_size=PHRASE_BATCH) @ embedder.encode_query(question)
    return float(similarity.max())


def signals(
    question: str, evidence: Sequence[Evidence], embedder: Embedder, terms: TermWeights, generator: Generator
) -> Signals:
    """The four signals for non-empty evidence, best first (no likelihood gain when the LLM cannot give it, or
    cannot be reached: the abstention model without that signal decides then)."""
    try:
        gain = generator.question_likelihood_gain(question, [e.text for e in evidence])
    except GeneratorError as error:
        log.warning("likelihood signal unavailable: %s", error)
        gain = None
    return Signals(
        score=evidence[0].score,
        phrase_similarity=phrase_similarity(question, evidence, embedder),
        coverage=idf_coverage(question, evidence[0].text, terms),
        likelihood_gain=gain,
    )
