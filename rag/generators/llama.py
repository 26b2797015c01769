"""The LLM in this process: a GGUF model through llama-cpp-python (chat template or completion), with the
token-level log-probabilities the abstention signal and the answer span read from its KV cache."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import DEFAULT_MODELS, AnswerSettings, LLMSettings
from rag.generators import ScoredSpan, is_word_end
from rag.generators.contexts import ContextPool
from rag.models import llm_location
from rag.prompts import (
    COMPLETION_ANSWER_START,
    COMPLETION_EXAMPLES,
    COMPLETION_STOPS,
    chat_messages,
    completion_prompt,
)
from rag.text import WORD

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)
LINE_ENDS = ("\n", "\n\n")
SPAN_STARTS = 4  # candidate starts followed to their ends (by their first token's probability)


def cached_prefix(llm: Llama, prompt: Sequence[int]) -> int:
    """How many of the prompt's first tokens the context's KV cache holds already."""
    return llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Rows of logits as log-probabilities (float64)."""
    return logits.astype(np.float64) - log_normalizers(logits)[:, None]


def log_normalizers(logits: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) of each row of logits (float64): a row's log-probabilities are its logits minus this.
    Reading a few entries this way spares a whole float64 copy of the rows (262k entries each for Gemma)."""
    top = logits.max(axis=1, keepdims=True)
    return top[:, 0].astype(np.float64) + np.log(np.exp(logits - top).sum(axis=1, dtype=np.float64))


class LlamaGenerator:
    """A llama.cpp model, loaded on first use; models with a chat template get chat messages. A few contexts of
    it (`llm.contexts`, made when calls overlap) let that many answers be made at once."""

    def __init__(self, llm: LLMSettings, answer: AnswerSettings, models_dir: Path = DEFAULT_MODELS) -> None:
        self._llm = llm
        self._models_dir = models_dir
        self._answer = answer
        self._line_end_ids: list[int] | None = None
        # llama.cpp is not safe for concurrent calls on one context: each public method (a whole answer stream
        # included) holds one context of the pool, so the chat, the HTTP API and benchmarks can share a Generator.
        self.contexts: ContextPool[Llama] = ContextPool(self._new_context, llm.contexts, cached_prefix)

    def _new_context(self) -> Llama:
        from llama_cpp import Llama

        path = llm_location(self._llm.model, self._models_dir)
        log.info("loading LLM %s", path)
        llm = Llama(
            model_path=str(path),
            n_ctx=self._llm.context,
            n_threads=self._llm.threads,
            verbose=False,
        )
        if not llm.metadata.get("tokenizer.chat_template"):
            # Every completion prompt starts with the same examples: evaluate them once now, and
            # llama.cpp reuses their KV cache (longest common prefix) for every question.
            llm.eval(llm.tokenize(COMPLETION_EXAMPLES.encode(), add_bos=True))
        return llm

    @property
    def llm(self) -> Llama:
        """The model's first context (loaded now if need be), for its metadata and tokenizer: evaluating anything
        on it needs a context of the pool."""
        return self.contexts.first()

    crashes = 0  # in this process: a crash would end it

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (it loads on first use)."""
        return self.contexts.made > 0

    def load(self) -> None:
        """Load the model now (the app does it while the server starts)."""
        self.llm  # noqa: B018 - the property loads it

    @property
    def has_chat_template(self) -> bool:
        """Whether questions go as chat messages: the GGUF's own template decides unless llm.prompt says."""
        if self._llm.prompt != "auto":
            return self._llm.prompt == "chat"
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
        llm = self.llm
        asked = llm.tokenize(b" " + question.strip().encode(), add_bos=False)[: llm.n_batch]
        alone, with_passages = self._before_question(question, ()), self._before_question(question, passages)
        with self.contexts.taken(with_passages) as llm:
            return -self._log_likelihood(llm, alone, asked) + self._log_likelihood(llm, with_passages, asked)

    def _before_question(self, question: str, passages: Sequence[str]) -> list[int]:
        """The completion prompt's tokens up to "Question:" (the question's own tokens follow)."""
        prompt = completion_prompt(question, passages)
        return self.llm.tokenize(prompt[: prompt.rindex(question.strip())].rstrip(" ").encode(), add_bos=True)

    @classmethod
    def _log_likelihood(cls, llm: Llama, context: list[int], asked: list[int]) -> float:
        """log P(asked | context), scored in one batch after the longest prefix of the context already in the KV
        cache (the examples at least)."""
        first = cls._prime(llm, context)
        logits, normalizers = cls._continue(llm, asked)
        llm.n_tokens += len(asked)  # kept: answering this question reuses them
        rest = logits[np.arange(len(asked) - 1), asked[1:]] - normalizers[:-1]
        return float(first[asked[0]] + rest.sum())

    def answer_spans(
        self, question: str, passages: Sequence[str], starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        """Candidate answers copied from the first passage, each the text from one of `starts` (character offsets)
        to a word end at most `max_words` words on, scored by log P(the model answers exactly that): the few-shot
        completion prompt continued by "1] span" and a line end. The prompt is the answer prompt, whose KV cache
        the likelihood signal left; the best few starts by their first token are followed (one batch each)."""
        context = self.llm.tokenize((completion_prompt(question, passages) + "1]").encode(), add_bos=True)
        with self.contexts.taken(context) as llm:
            return self._answer_spans(llm, context, passages[0], starts, max_words)

    def _answer_spans(
        self, llm: Llama, context: list[int], passage: str, starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        first = self._prime(llm, context)
        ends = self._line_ends()
        words = [(m.start(), m.end()) for m in WORD.finditer(passage)]
        followed: list[tuple[int, list[int], str]] = []
        for start in starts:
            following = [w for w in words if w[1] > start][:max_words]
            if following:
                text = passage[start : following[-1][1]]
                followed.append((start, llm.tokenize((" " + text).encode(), add_bos=False)[: llm.n_batch - 1], text))
        followed.sort(key=lambda item: -first[item[1][0]])
        scored: list[ScoredSpan] = []
        for start, tokens, text in followed[:SPAN_STARTS]:
            logits, normalizers = self._continue(llm, tokens)
            chosen = logits[np.arange(len(tokens) - 1), tokens[1:]] - normalizers[:-1]
            total = np.cumsum(np.concatenate([[first[tokens[0]]], chosen]))
            stop = np.logaddexp.reduce(logits[:, ends] - normalizers[:, None], axis=1)  # a line end after each token
            pieces = [llm.detokenize([t]) for t in tokens]
            offsets = np.cumsum([len(p) for p in pieces])
            encoded = (" " + text).encode()
            for i, byte_end in enumerate(offsets):
                piece_text = encoded[1:byte_end].decode("utf-8", errors="ignore")
                end = start + len(piece_text)
                if piece_text.strip() and is_word_end(passage, end):
                    scored.append(ScoredSpan(start, end, float(total[i] + stop[i])))
        return sorted(scored, key=lambda s: -s.log_probability)

    def _line_ends(self) -> list[int]:
        """Token ids that end the answer line (a newline, alone or in a run)."""
        if self._line_end_ids is None:
            llm = self.llm
            self._line_end_ids = sorted({llm.tokenize(t.encode(), add_bos=False, special=False)[0] for t in LINE_ENDS})
        return self._line_end_ids

    @staticmethod
    def _prime(llm: Llama, context: list[int]) -> np.ndarray:
        """Evaluate `context` after the longest prefix already in the KV cache; log-probabilities of the next token."""
        reused = cached_prefix(llm, context)
        llm.n_tokens = min(reused, len(context) - 1)  # evaluate at least one token: its logits are needed
        llm.eval(context[llm.n_tokens :])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        return log_softmax(logits[None, :])[0]

    @staticmethod
    def _continue(llm: Llama, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Logits of the token after each of `tokens` and their rows' log-normalizers (see log_normalizers), read
        after the evaluated context (which stays as it was: llm.n_tokens is not advanced). One llama.cpp batch
        with logits for every token: llama-cpp-python's public eval keeps only the last row unless the context
        keeps all of them (n_ctx x 262k floats for Gemma). The logits are llama.cpp's buffer: read them before
        the next call."""
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        llm._batch.set_batch(batch=tokens, n_past=llm.n_tokens, logits_all=True)
        llm._ctx.decode(llm._batch)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(tokens), llm.n_vocab()))
        llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
        return logits, log_normalizers(logits)

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        """Pieces of the answer as the model writes them."""
        options = {"max_tokens": self._answer.max_tokens, "temperature": self._answer.temperature, "stream": True}
        chat = self.has_chat_template
        prompt = () if chat else self.llm.tokenize(completion_prompt(question, passages).encode(), add_bos=True)
        with self.contexts.taken(prompt) as llm:  # held until the stream ends or is closed
            yield from self._stream(llm, question, passages, language, chat, options)

    @staticmethod
    def _stream(
        llm: Llama, question: str, passages: Sequence[str], language: str, chat: bool, options: dict
    ) -> Iterator[str]:
        if chat:
            chunks = llm.create_chat_completion(chat_messages(question, passages, language), **options)
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if piece:
                    yield piece
        else:
            prompt = completion_prompt(question, passages)
            lead = COMPLETION_ANSWER_START  # the prompt's last characters belong to the answer
            for chunk in llm.create_completion(prompt, stop=COMPLETION_STOPS, **options):
                piece = chunk["choices"][0]["text"]  # type: ignore[index]
                if piece:
                    yield lead + piece
                    lead = ""
