"""The answering LLM behind one small interface: llama.cpp in this process (`llama.py`), or any OpenAI-compatible
server (`remote.py`: llama.cpp's server, vLLM, Ollama, ...); a local model runs in a child process
(`isolated.py`) unless `llm.process` is off. `load_generator` picks by the settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.config import DEFAULT_MODELS, AnswerSettings, LLMSettings

log = logging.getLogger(__name__)

PUNCTUATION = "\"'“”‘’«»()[]{}.,;:!?،؛؟…-–—"


class GeneratorError(RuntimeError):
    """The LLM could not answer (a server refused, timed out, failed or sent nonsense); the message says which."""


@dataclass(frozen=True)
class ScoredSpan:
    """Character offsets of a candidate answer in its passage and the model's log-probability of answering it."""

    start: int
    end: int
    log_probability: float


class Generator(Protocol):
    """What answering needs from an LLM."""

    @property
    def loaded(self) -> bool:
        """Whether it is ready to answer (a local model is in memory; a server is always ready)."""
        ...

    def load(self) -> None:
        """Load the model now rather than at the first question (a no-op for a server)."""
        ...

    @property
    def crashes(self) -> int:
        """How many times the model's process has died so far (always 0 for a model in this process or a server)."""
        ...

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        """Pieces of the answer as the model writes them; GeneratorError when it cannot."""
        ...

    def prompt_tokens(self, question: str, passages: Sequence[str], language: str) -> int:
        """Length of the prompt in the model's tokens (0 when the model cannot say)."""
        ...

    def question_likelihood_gain(self, question: str, passages: Sequence[str]) -> float | None:
        """log P(question | prompt with the passages) - log P(question | prompt without any), in nats; None when
        the model gives no prompt log-probabilities (the abstention model without this signal is used then)."""
        ...

    def answer_spans(
        self, question: str, passages: Sequence[str], starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        """Candidate answers copied from the first passage, best first (empty when the model cannot score them)."""
        ...


def load_generator(llm: LLMSettings, answer: AnswerSettings, models_dir: Path = DEFAULT_MODELS) -> Generator:
    """The LLM the settings name (nothing is loaded or contacted yet). Every generator is made as
    `Generator(llm, answer, models_dir)`."""
    if llm.is_server:
        from rag.generators.remote import RemoteGenerator

        return RemoteGenerator(llm, answer, models_dir)
    if llm.process:
        from rag.generators.isolated import IsolatedGenerator

        return IsolatedGenerator(llm, answer, models_dir)
    from rag.generators.llama import LlamaGenerator

    return LlamaGenerator(llm, answer, models_dir)


def is_word_end(text: str, end: int) -> bool:
    """Whether text[:end] ends a word: the text ends there, or only punctuation is left of the word."""
    if end <= 0 or text[end - 1] in PUNCTUATION or text[end - 1].isspace():
        return False
    rest_of_word = text[end:].split(maxsplit=1)[0] if text[end : end + 1].strip() else ""
    return all(c in PUNCTUATION for c in rest_of_word)


def warm_up(generator: Generator) -> threading.Thread:
    """Load the generator in a thread of its own, so that a process loading other models meanwhile does not wait
    for it (a reader in its own process loads on the other core). A failure is left for the first call to tell."""

    def load() -> None:
        try:
            generator.load()
        except GeneratorError as error:
            log.warning("the reader did not load: %s", error)

    thread = threading.Thread(target=load, name="load-reader", daemon=True)
    thread.start()
    return thread
