"""Streaming answers from a local GGUF model through llama-cpp-python (chat template or completion)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.config import AnswerSettings, ModelSettings
from rag.models import llm_location
from rag.prompts import (
    COMPLETION_ANSWER_START,
    COMPLETION_EXAMPLES,
    COMPLETION_STOPS,
    chat_messages,
    completion_prompt,
)

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)


class Generator:
    """A llama.cpp model, loaded on first use; models with a chat template get chat messages."""

    def __init__(self, models: ModelSettings, answer: AnswerSettings) -> None:
        self._models = models
        self._answer = answer
        self._llm: Llama | None = None
        self._loading = threading.Lock()  # the app loads the model in the background while it starts

    @property
    def llm(self) -> Llama:
        if self._llm is None:
            with self._loading:
                if self._llm is None:
                    from llama_cpp import Llama

                    path = llm_location(self._models.llm, self._models.cache_dir)
                    log.info("loading LLM %s", path)
                    llm = Llama(
                        model_path=str(path),
                        n_ctx=self._models.llm_context,
                        n_threads=self._models.llm_threads,
                        verbose=False,
                    )
                    if not llm.metadata.get("tokenizer.chat_template"):
                        # Every completion prompt starts with the same examples: evaluate them once now, and
                        # llama.cpp reuses their KV cache (longest common prefix) for every question.
                        llm.eval(llm.tokenize(COMPLETION_EXAMPLES.encode(), add_bos=True))
                    self._llm = llm  # published only when ready: other threads check it without the lock
        return self._llm

    @property
    def has_chat_template(self) -> bool:
        return bool(self.llm.metadata.get("tokenizer.chat_template"))

    def prompt_tokens(self, question: str, passages: Sequence[str], language: str) -> int:
        """Length of the prompt this question would send, in the model's tokens."""
        if self.has_chat_template:
            text = "\n".join(m["content"] for m in chat_messages(question, passages, language))
        else:
            text = completion_prompt(question, passages)
        return len(self.llm.tokenize(text.encode(), add_bos=True))

    def question_likelihood_gain(self, question: str, passages: Sequence[str]) -> float:
        """How much likelier the passages make the question to the model, in nats: log P(question | the
        completion prompt with the passages) - log P(question | the prompt without any). A question written
        about a passage gains far more from it than from passages on the same topic that do not answer it.
        The prompt with the passages goes last, so that answering reuses its KV cache."""
        return -self._log_likelihood(question, ()) + self._log_likelihood(question, passages)

    def _log_likelihood(self, question: str, passages: Sequence[str]) -> float:
        """log P(question | the completion prompt up to "Question:"), scored in one batch after the longest
        prompt prefix already in the KV cache (the examples at least)."""
        llm = self.llm
        prompt = completion_prompt(question, passages)
        context = llm.tokenize(prompt[: prompt.rindex(question.strip())].rstrip(" ").encode(), add_bos=True)
        asked = llm.tokenize(b" " + question.strip().encode(), add_bos=False)[: llm.n_batch]
        reused = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), context)
        llm.n_tokens = min(reused, len(context) - 1)  # evaluate at least one token: its logits are needed
        llm.eval(context[llm.n_tokens :])
        vocabulary = llm.n_vocab()
        first = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocabulary,)).copy()
        # The question's tokens in one batch, with logits for each: llama-cpp-python's public eval keeps only
        # the last row unless it keeps every row of the context (n_ctx x 262k floats for Gemma).
        llm._batch.set_batch(batch=asked, n_past=llm.n_tokens, logits_all=True)
        llm._ctx.decode(llm._batch)
        rest = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(asked), vocabulary))
        llm.input_ids[llm.n_tokens : llm.n_tokens + len(asked)] = asked
        llm.n_tokens += len(asked)
        logits = np.vstack([first, rest[:-1]]).astype(np.float64)
        top = logits.max(axis=1)
        normaliser = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        return float((logits[np.arange(len(asked)), asked] - normaliser).sum())

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        """Pieces of the answer as the model writes them."""
        options = {"max_tokens": self._answer.max_tokens, "temperature": self._answer.temperature, "stream": True}
        if self.has_chat_template:
            chunks = self.llm.create_chat_completion(chat_messages(question, passages, language), **options)
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if piece:
                    yield piece
        else:
            prompt = completion_prompt(question, passages)
            lead = COMPLETION_ANSWER_START  # the prompt's last characters belong to the answer
            for chunk in self.llm.create_completion(prompt, stop=COMPLETION_STOPS, **options):
                piece = chunk["choices"][0]["text"]  # type: ignore[index]
                if piece:
                    yield lead + piece
                    lead = ""
