"""Question to trustworthy answer: retrieve, pick evidence sentences, generate (streamed), verify every
sentence against the evidence it cites, fall back to quoting the evidence, or abstain."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from rag.answerability import Signals, phrase_similarity, signals
from rag.citations import ParsedCitations, is_looping, quotable, verify
from rag.conversation import is_follow_up, read_with, retrieval_query
from rag.evidence import Evidence, content_terms, negated, rank_evidence, term_overlap, with_previous_sentence
from rag.generators import Generator, GeneratorError, load_generator
from rag.prompts import ACCORDING_TO, ANSWER_FIRST, NO_ANSWER, READER_STOPPED
from rag.retrieval import Index
from rag.spans import answer_span, sentence_holding
from rag.text import crosses_languages, detect_language
from rag.types import Answer, Citation, Hit, Progress, Scope, Span

log = logging.getLogger(__name__)


class Assistant:
    """Answers questions over an index; `stream` yields the text so far, then the final Answer."""

    def __init__(self, index: Index, generator: Generator | None = None) -> None:
        self.index = index
        settings = index.settings
        self.generator = generator or load_generator(settings.llm, settings.answer, settings.models_dir)

    def retrieve(self, question: str, scope: Scope | None = None) -> list[Hit]:
        """Hits for the question, from the articles in `scope` (all when None)."""
        return self.index.search(question, self.index.settings.retrieval.k, scope=scope)

    def evidence(self, question: str, hits: Sequence[Hit], follow_up: str | None = None) -> list[Evidence]:
        """The best sentences of the relevant hits, best first (empty when none is relevant). For a follow-up,
        `question` is it read with the previous turn and `follow_up` its own words."""
        ranked = self.candidates(question, self.passages(hits), follow_up)
        answer = self.index.settings.answer
        # A small model tends to answer from any sentence it is shown: show only close contenders.
        close = [e for e in ranked if e.score >= ranked[0].score - answer.evidence_margin] if ranked else []
        return close[: answer.evidence]

    def passages(self, hits: Sequence[Hit]) -> list[Hit]:
        """Where evidence is looked for: the relevant hits, best first, each widened by the sentence before it."""
        settings = self.index.settings
        relevant = [h for h in hits if h.similarity >= settings.retrieval.min_score][: settings.answer.passages]
        return [with_previous_sentence(h, self.index.article_text(h.article_id)) for h in relevant]

    def candidates(
        self, question: str, passages: Sequence[Hit], follow_up: str | None = None, rank_cost: float | None = None
    ) -> list[Evidence]:
        """Every candidate sentence run of the passages, best first (`rank_cost` overrides the setting)."""
        answer = self.index.settings.answer
        return rank_evidence(
            question,
            passages,
            self.index.embedder,
            answer.evidence_lexical_weight,
            answer.evidence_window,
            follow_up,
            answer.evidence_rank_cost if rank_cost is None else rank_cost,
        )

    def stream(
        self,
        question: str,
        history: Sequence[str | Answer] = (),
        exclude: frozenset[str] = frozenset(),
        progress: bool = False,
        scope: Scope | None = None,
    ) -> Iterator[str | Answer | Progress]:
        """Yield the growing answer text while the model writes, then the final, verified Answer.

        `history` holds the conversation's earlier turns, oldest first: their questions, or their Answers
        (which saves answering the previous question again when the new one leans on it). `exclude`
        leaves articles out of retrieval (used to measure abstention); `scope` keeps to some dates and
        sources. With `progress`, Progress events say what is being done before the text comes. An answer
        made while the model's process died says so in its notice. The answer reads one generation of the
        index, however many builds land while it is made."""
        crashes = self.generator.crashes
        reader = Assistant(self.index.pinned(), self.generator)  # one generation for the whole answer
        for event in reader._stream(question, history, exclude, progress, scope):
            if isinstance(event, Answer) and self.generator.crashes > crashes and not event.notice:
                event = replace(event, notice=READER_STOPPED)
            yield event

    def _stream(
        self,
        question: str,
        history: Sequence[str | Answer],
        exclude: frozenset[str],
        progress: bool,
        scope: Scope | None,
    ) -> Iterator[str | Answer | Progress]:
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        settings = self.index.settings.answer
        language = detect_language(question)
        if progress:
            yield Progress("searching")
        scope = scope or Scope()
        scope = replace(scope, exclude=scope.exclude | exclude)
        reading, hits, evidence = self._read(question, history, scope)
        if progress and evidence:
            yield Progress("reading" if settings.mode == "extractive" else "writing")
        if not evidence:
            yield Answer(question, NO_ANSWER[language], True, language, hits=tuple(hits), method="abstained")
            return
        finish = {"question": question, "language": language, "hits": hits}
        if settings.mode == "extractive":
            yield self._quote(evidence, "extractive", **finish)
            return
        texts = [e.text for e in evidence]
        written = ""
        try:
            for piece in self.generator.stream(reading, texts, language):
                written += piece
                yield written
            prompt_tokens = self.generator.prompt_tokens(reading, texts, language)
        except GeneratorError as error:
            log.warning("answering %r: %s", question, error)
            quoted = self._quote(evidence, "fallback", **finish)
            yield replace(quoted, notice=f"{error}; the best evidence is quoted instead.")
            return
        checked = self.check(written, reading, language, evidence)
        if checked is None:
            yield self._quote(evidence, "fallback", prompt_tokens, **finish)
        else:
            yield self._answer(checked, "generated", prompt_tokens, evidence=evidence, **finish)

    def _read(
        self, question: str, history: Sequence[str | Answer], scope: Scope
    ) -> tuple[str, list[Hit], list[Evidence]]:
        """The question as it is answered (read with the previous turn when it leans on it), its hits, and
        evidence strong enough to answer from (empty: abstain)."""
        if history and is_follow_up(question):
            return self._follow_up(question, self._previous(history, scope), scope)
        alone = self._consider(question, question, scope)
        if history and not alone[2]:
            # "Which party won the vote?" reads as a question of its own, yet may only be answered with the turn before.
            together = self._follow_up(question, self._previous(history, scope), scope)
            if together[2]:
                return together
        return alone

    def _follow_up(self, question: str, previous: Answer, scope: Scope) -> tuple[str, list[Hit], list[Evidence]]:
        """The question read with the previous turn: searched with what answered it, ranked with its words."""
        return self._consider(read_with(question, previous), retrieval_query(question, previous), scope, question)

    def _consider(
        self, reading: str, query: str, scope: Scope, follow_up: str | None = None
    ) -> tuple[str, list[Hit], list[Evidence]]:
        """Search for `query`, rank evidence for `reading` (and the follow-up's own words), keep it if sufficient."""
        hits = self.retrieve(query, scope)
        evidence = self.evidence(reading, hits, follow_up)
        sufficient = self.sufficient(reading, evidence)
        if sufficient and follow_up is not None:
            sufficient = self._asks_about(follow_up, evidence)
        return reading, hits, evidence if sufficient else []

    def _asks_about(self, follow_up: str, evidence: Sequence[Evidence]) -> bool:
        """Whether the evidence speaks of what the follow-up itself asks. Read with the previous turn, "And how
        old is he?" scores as answerable as the previous question did; its own words must match a stretch of
        the evidence too (words such as "and why?" ask nothing of their own; across languages cosines run lower
        and only the evidence score decides)."""
        if not content_terms(follow_up) or crosses_languages(follow_up, [e.text for e in evidence]):
            return True
        threshold = self.index.settings.answer.min_follow_up_similarity
        return phrase_similarity(follow_up, evidence, self.index.embedder) >= threshold

    def _previous(self, history: Sequence[str | Answer], scope: Scope) -> Answer:
        """The previous turn's Answer (answered again, with the turn before it, when only its question is known)."""
        last = history[-1]
        return last if isinstance(last, Answer) else self.ask(last, history[-2:-1], scope=scope)

    def _quote(
        self,
        evidence: Sequence[Evidence],
        method: str,
        prompt_tokens: int = 0,
        *,
        question: str,
        language: str,
        hits: Sequence[Hit],
    ) -> Answer:
        """The best evidence quoted; when the model is sure of the span that answers, that span first, in bold,
        and only the sentence that holds it quoted (its neighbour stays in the passage, as context). The span is
        asked for with the question's own words (a follow-up's context would make the model less sure)."""
        span = answer_span(question, evidence, self.generator)
        finish = {"question": question, "language": language, "hits": hits}
        if span is None or span.confidence < self.index.settings.answer.span_min_confidence:
            quoted = self._answer(extractive(evidence, language), method, prompt_tokens, evidence=evidence, **finish)
            return replace(quoted, best_span=span)
        start, end = sentence_holding(evidence[0], span)
        best = evidence[0]
        sentence = replace(
            best, start=start, end=end, text=best.hit.text[start - best.hit.start : end - best.hit.start]
        )
        quoted = ANSWER_FIRST[language].format(
            span=quotable(span.text), n=1, sentence=bolden(sentence.text, span.start - start, span.end - start)
        )
        parsed = ParsedCitations(quoted, (1,))
        quoted = self._answer(
            parsed, method, prompt_tokens, evidence=[sentence, *evidence[1:]], answer_span=span, **finish
        )
        return replace(quoted, best_span=span)

    def sufficient(self, question: str, evidence: Sequence[Evidence]) -> bool:
        """Whether the evidence is strong enough to answer from (else abstain)."""
        if not evidence:
            return False
        settings = self.index.settings.answer
        if crosses_languages(question, [e.text for e in evidence]):
            # The signals were fitted on questions in the articles' language; across languages only the
            # evidence score separates (weakly), so its threshold is set for accuracy.
            return evidence[0].score >= settings.min_evidence_cross_lingual
        found = self.signals(question, evidence)
        if found.likelihood_gain is None:  # an LLM without prompt log-probabilities: the model fitted without it
            return found.logit(settings.abstention_weights_without_likelihood) >= 0
        return found.logit(settings.abstention_weights) >= 0

    def signals(self, question: str, evidence: Sequence[Evidence]) -> Signals:
        """What speaks for the (non-empty) evidence answering the question."""
        return signals(question, evidence, self.index.embedder, self.index.store, self.generator)

    def check(self, written: str, question: str, language: str, evidence: Sequence[Evidence]) -> ParsedCitations | None:
        """The generated answer with only supported, correctly cited sentences; None when it must be replaced."""
        if not written.strip() or is_looping(written):
            return None
        settings = self.index.settings.answer
        embedder = self.index.embedder
        vectors = embedder.encode_documents([e.text for e in evidence])

        def supports(claim: str, n: int) -> bool:
            source = evidence[n - 1].text
            if negated(claim) != negated(source):  # the same words, the opposite statement
                return False
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
        answer_span: Span | None = None,
    ) -> Answer:
        citations = tuple(
            Citation(n, evidence[n - 1].hit, evidence[n - 1].start, evidence[n - 1].end) for n in parsed.numbers
        )
        passages = tuple(dict.fromkeys(e.hit for e in evidence))
        return Answer(
            question, parsed.text, False, language, citations, passages, tuple(hits), method, prompt_tokens, answer_span
        )

    def ask(
        self,
        question: str,
        history: Sequence[str | Answer] = (),
        exclude: frozenset[str] = frozenset(),
        scope: Scope | None = None,
    ) -> Answer:
        """The final Answer, without streaming."""
        for event in self.stream(question, history, exclude, scope=scope):
            if isinstance(event, Answer):
                return event
        raise RuntimeError("the answer stream ended without an answer")


def extractive(evidence: Sequence[Evidence], language: str) -> ParsedCitations:
    """The best evidence sentence, quoted after a lead in the question's language, citing it as [1]."""
    return ParsedCitations(ACCORDING_TO[language].format(n=1, sentence=quotable(evidence[0].text)), (1,))


def bolden(text: str, start: int, end: int) -> str:
    """The (article) text with text[start:end] in Markdown bold, quotable on either side of it."""
    return f"{quotable(text[:start])}**{quotable(text[start:end])}**{quotable(text[end:])}"
