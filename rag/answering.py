"""Question to trustworthy answer: retrieve, pick evidence sentences, generate (streamed), verify every
sentence against the evidence it cites, fall back to quoting the evidence, or abstain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from rag.answerability import Signals, signals
from rag.citations import ParsedCitations, is_looping, verify
from rag.evidence import Evidence, rank_evidence, term_overlap, with_previous_sentence
from rag.generation import Generator
from rag.prompts import ACCORDING_TO, NO_ANSWER
from rag.retrieval import Index
from rag.text import crosses_languages, detect_language
from rag.types import Answer, Citation, Hit


class Assistant:
    """Answers questions over an index; `stream` yields the text so far, then the final Answer."""

    def __init__(self, index: Index, generator: Generator | None = None) -> None:
        self.index = index
        settings = index.settings
        self.generator = generator or Generator(settings.models, settings.answer)

    def retrieve(self, question: str, exclude: frozenset[str] = frozenset()) -> list[Hit]:
        """Hits for the question (`exclude` leaves articles out, as if not indexed)."""
        return self.index.search(question, self.index.settings.retrieval.k, exclude=exclude)

    def evidence(self, question: str, hits: Sequence[Hit]) -> list[Evidence]:
        """The best sentences of the relevant hits, best first (empty when none is relevant)."""
        settings = self.index.settings
        relevant = [h for h in hits if h.similarity >= settings.retrieval.min_score][: settings.answer.passages]
        relevant = [with_previous_sentence(h, self.index.article_text(h.article_id)) for h in relevant]
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
        hits = self.retrieve(question, exclude)
        evidence = self.evidence(question, hits)
        if history and not self._sufficient(question, evidence):
            # "And what did he say?" only makes sense with the question before it.
            contextual = f"{history[-1]} {question}"
            hits = self.retrieve(contextual, exclude)
            evidence = self.evidence(contextual, hits)
            if not self._sufficient(contextual, evidence):
                evidence = []
        elif not self._sufficient(question, evidence):
            evidence = []
        if not evidence:
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

    def _sufficient(self, question: str, evidence: Sequence[Evidence]) -> bool:
        """Whether the evidence is strong enough to answer from (else abstain)."""
        if not evidence:
            return False
        settings = self.index.settings.answer
        if crosses_languages(question, [e.text for e in evidence]):
            # The signals were fitted on questions in the articles' language; across languages only the
            # evidence score separates (weakly), so its threshold is set for accuracy.
            return evidence[0].score >= settings.min_evidence_cross_lingual
        return self.signals(question, evidence).logit(settings.abstention_weights) >= 0

    def signals(self, question: str, evidence: Sequence[Evidence]) -> Signals:
        """What speaks for the (non-empty) evidence answering the question."""
        return signals(question, evidence, self.index.embedder, self.index.store.lexical, self.generator)

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
