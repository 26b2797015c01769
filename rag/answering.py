"""Question to trustworthy answer: retrieve, pick evidence sentences, generate (streamed), verify every
sentence against the evidence it cites, fall back to quoting the evidence, or abstain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rag.citations import ParsedCitations, is_looping, verify
from rag.evidence import Evidence, rank_evidence, term_overlap
from rag.generation import Generator
from rag.prompts import ACCORDING_TO, NO_ANSWER
from rag.retrieval import Index
from rag.text import detect_language
from rag.types import Answer, Citation, Hit


class Assistant:
    """Answers questions over an index; `stream` yields the text so far, then the final Answer."""

    def __init__(self, index: Index, generator: Generator | None = None) -> None:
        self.index = index
        settings = index.settings
        self.generator = generator or Generator(settings.models, settings.answer)

    def retrieve(self, question: str, history: Sequence[str] = (), exclude: frozenset[str] = frozenset()) -> list[Hit]:
        """Hits for the question; a follow-up is also searched together with the previous question."""
        k = self.index.settings.retrieval.k
        best = {h.chunk_id: h for h in self.index.search(question, k, exclude=exclude)}
        if history:
            # "And who leads it?" only makes sense with the question before it.
            for hit in self.index.search(f"{history[-1]} {question}", k, exclude=exclude):
                if hit.chunk_id not in best or hit.score > best[hit.chunk_id].score:
                    best[hit.chunk_id] = hit
        return sorted(best.values(), key=lambda h: h.score, reverse=True)[:k]

    def evidence(self, question: str, hits: Sequence[Hit]) -> list[Evidence]:
        """The best sentences of the relevant hits, best first (empty when none is relevant)."""
        settings = self.index.settings
        relevant = [h for h in hits if h.similarity >= settings.retrieval.min_score][: settings.answer.passages]
        answer = settings.answer
        ranked = rank_evidence(
            question, relevant, self.index.embedder, answer.evidence_lexical_weight, answer.evidence_window
        )
        # A small model tends to answer from any sentence it is shown: show only close contenders.
        close = [e for e in ranked if e.score >= ranked[0].score - answer.evidence_margin] if ranked else []
        return close[: answer.evidence]

    def stream(
        self, question: str, history: Sequence[str] = (), exclude: frozenset[str] = frozenset()
    ) -> Iterator[str | Answer]:
        """Yield the growing answer text while the model writes, then the final, verified Answer.

        `exclude` leaves articles out of retrieval (used to measure abstention)."""
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        settings = self.index.settings.answer
        language = detect_language(question)
        hits = self.retrieve(question, history, exclude)
        evidence = self.evidence(question, hits)
        if not evidence or evidence[0].score < self._min_evidence(language, evidence):
            yield Answer(question, NO_ANSWER[language], True, language, hits=tuple(hits), method="abstained")
            return
        finish = {"question": question, "language": language, "evidence": evidence, "hits": hits}
        if settings.mode == "extractive":
            yield self._answer(extractive(evidence, language), method="extractive", **finish)
            return
        texts = [e.text for e in evidence]
        written = ""
        for piece in self.generator.stream(question, texts, language):
            written += piece
            yield written
        prompt_tokens = self.generator.prompt_tokens(question, texts, language)
        checked = self.check(written, question, language, evidence)
        if checked is None:
            yield self._answer(extractive(evidence, language), "fallback", prompt_tokens, **finish)
        else:
            yield self._answer(checked, "generated", prompt_tokens, **finish)

    def _min_evidence(self, language: str, evidence: Sequence[Evidence]) -> float:
        settings = self.index.settings.answer
        if language != detect_language(" ".join(e.text for e in evidence)):
            return settings.min_evidence_cross_lingual
        return settings.min_evidence

    def check(self, written: str, question: str, language: str, evidence: Sequence[Evidence]) -> ParsedCitations | None:
        """The generated answer with only supported, correctly cited sentences; None when it must be replaced."""
        if not written.strip() or is_looping(written):
            return None
        settings = self.index.settings.answer
        embedder = self.index.embedder
        vectors = embedder.encode_documents([e.text for e in evidence])

        def supports(claim: str, n: int) -> bool:
            source = evidence[n - 1].text
            # A claim must say something beyond the question's own words.
            if term_overlap(claim, question) == 1.0 and term_overlap(claim, source) < 1.0:
                return False
            if term_overlap(claim, source) >= settings.support_overlap:
                return True
            return float(np.dot(embedder.encode_query(claim), vectors[n - 1])) >= settings.support_similarity

        checked = verify(written, len(evidence), supports)
        if checked is None or detect_language(checked.text) != language:
            return None
        return checked

    @staticmethod
    def _answer(
        parsed: ParsedCitations,
        method: str,
        prompt_tokens: int = 0,
        *,
        question: str,
        language: str,
        evidence: Sequence[Evidence],
        hits: Sequence[Hit],
    ) -> Answer:
        citations = tuple(
            Citation(n, evidence[n - 1].hit, evidence[n - 1].start, evidence[n - 1].end) for n in parsed.numbers
        )
        passages = tuple(dict.fromkeys(e.hit for e in evidence))
        return Answer(question, parsed.text, False, language, citations, passages, tuple(hits), method, prompt_tokens)

    def ask(self, question: str, history: Sequence[str] = (), exclude: frozenset[str] = frozenset()) -> Answer:
        """The final Answer, without streaming."""
        for event in self.stream(question, history, exclude):
            if isinstance(event, Answer):
                return event
        raise RuntimeError("the answer stream ended without an answer")


def extractive(evidence: Sequence[Evidence], language: str) -> ParsedCitations:
    """The best evidence sentence, quoted after a lead in the question's language, citing it as [1]."""
    return ParsedCitations(ACCORDING_TO[language].format(n=1, sentence=evidence[0].text), (1,))
