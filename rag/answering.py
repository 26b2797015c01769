"""Question to cited answer: retrieve, gate on relevance, generate (streamed), map citations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rag.citations import cite
from rag.generation import Generator
from rag.prompts import NO_ANSWER
from rag.retrieval import Index
from rag.text import detect_language
from rag.types import Answer, Hit


class Assistant:
    """Answers questions over an index; `stream` yields the text so far, then the final Answer."""

    def __init__(self, index: Index, generator: Generator | None = None) -> None:
        self.index = index
        settings = index.settings
        self.generator = generator or Generator(settings.models, settings.answer)

    def retrieve(self, question: str, history: Sequence[str] = ()) -> list[Hit]:
        """Hits for the question; a follow-up is also searched together with the previous question."""
        k = self.index.settings.retrieval.k
        best = {h.chunk_id: h for h in self.index.search(question, k)}
        if history:
            # "And who leads it?" only makes sense with the question before it.
            for hit in self.index.search(f"{history[-1]} {question}", k):
                if hit.chunk_id not in best or hit.score > best[hit.chunk_id].score:
                    best[hit.chunk_id] = hit
        return sorted(best.values(), key=lambda h: h.score, reverse=True)[:k]

    def stream(self, question: str, history: Sequence[str] = ()) -> Iterator[str | Answer]:
        """Yield the growing answer text while the model writes, then the final Answer."""
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        language = detect_language(question)
        hits = self.retrieve(question, history)
        settings = self.index.settings
        passages = [h for h in hits if h.similarity >= settings.retrieval.min_score][: settings.answer.passages]
        if not passages:
            yield Answer(question, NO_ANSWER[language], True, language, hits=tuple(hits))
            return
        written = ""
        for piece in self.generator.stream(question, [p.text for p in passages], language):
            written += piece
            yield written
        text, citations = cite(written, passages)
        abstained = not text or NO_ANSWER[language] in text
        if abstained:
            text, citations = NO_ANSWER[language], ()
        yield Answer(question, text, abstained, language, citations, tuple(passages), tuple(hits))

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer:
        """The final Answer, without streaming."""
        for event in self.stream(question, history):
            if isinstance(event, Answer):
                return event
        raise RuntimeError("the answer stream ended without an answer")
