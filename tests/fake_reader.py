"""A reader for tests of the reader process (rag/generators/isolated.py): answers from the question's words alone,
sleeps when asked to, fails with a GeneratorError when asked to, and dies by a real SIGSEGV when asked to."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator, Sequence

from rag.config import AnswerSettings, LLMSettings
from rag.generators import GeneratorError, ScoredSpan

CRASH, FAIL, SLOW = "crash", "fail", "slow"


def react(question: str) -> None:
    if question == CRASH:
        ctypes.string_at(0)  # a real segmentation fault, as llama.cpp's would be
    if question == FAIL:
        raise GeneratorError("the fake reader refuses")
    if question == SLOW:
        time.sleep(1.5)


class FakeReader:
    crashes = 0  # in the process that made it

    def __init__(self, llm: LLMSettings, answer: AnswerSettings, models_dir: object = None) -> None:
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        for word in question.split():
            react(word)
            yield word + " "

    def prompt_tokens(self, question: str, passages: Sequence[str], language: str) -> int:
        return len(question.split()) + sum(len(p.split()) for p in passages)

    def question_likelihood_gain(self, question: str, passages: Sequence[str]) -> float | None:
        react(question)
        return float(len(question))

    def answer_spans(
        self, question: str, passages: Sequence[str], starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        react(question)
        return [ScoredSpan(start, start + 1, -float(i)) for i, start in enumerate(starts[:max_words])]
