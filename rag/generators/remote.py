"""An LLM behind an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama, ...): answers streamed from
/v1/completions (the few-shot prompt) or /v1/chat/completions, and the question's log-probability from the
prompt log-probabilities of /v1/completions (`echo` with `logprobs`) where the server gives them.

Every failure is a GeneratorError with one clear line: connection refused, a timeout (connecting, or between
two pieces of an answer), an HTTP error status, a malformed stream."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_MODELS, AnswerSettings, LLMSettings
from rag.generators import GeneratorError, ScoredSpan
from rag.prompts import COMPLETION_ANSWER_START, COMPLETION_STOPS, chat_messages, completion_prompt

log = logging.getLogger(__name__)


class RemoteGenerator:
    """An OpenAI-compatible server at `llm.model` (its base URL, e.g. http://127.0.0.1:8080/v1)."""

    def __init__(self, llm: LLMSettings, answer: AnswerSettings, models_dir: Path = DEFAULT_MODELS) -> None:
        self._llm = llm
        self._answer = answer
        self._base = llm.model.rstrip("/")
        self._model: str | None = llm.server_model or None
        # Whether the server gives prompt log-probabilities: found on first use, unless the settings say not to ask.
        self._logprobs: bool | None = None if llm.logprobs else False
        self._lock = threading.Lock()

    crashes = 0  # a server that fails answers with an error (GeneratorError), it does not take this process down

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        """Nothing to load; the server is asked for its model name when none is set."""

    @property
    def chat(self) -> bool:
        return self._llm.prompt == "chat"

    def _client(self):  # -> httpx.Client (lazy import)
        import httpx

        headers = {"Authorization": f"Bearer {self._llm.api_key}"} if self._llm.api_key else {}
        timeout = httpx.Timeout(self._llm.timeout)
        return httpx.Client(base_url=self._base, headers=headers, timeout=timeout, trust_env=False)

    def model(self) -> str:
        """The model name sent with each request: the setting, else the first the server lists."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    listed = self._request("GET", "/models")
                    try:
                        self._model = str(listed["data"][0]["id"])
                    except (KeyError, IndexError, TypeError):
                        raise GeneratorError(f"the LLM server at {self._base} lists no model (GET /models)") from None
        return self._model

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            with self._client() as client:
                response = client.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise GeneratorError(self._failure(error)) from None
        if response.status_code != 200:
            raise GeneratorError(self._status(response.status_code, response.text))
        try:
            return response.json()
        except ValueError:
            raise GeneratorError(
                f"the LLM server at {self._base}{path} answered with something other than JSON"
            ) from None

    def _failure(self, error: Exception) -> str:
        import httpx

        if isinstance(error, httpx.TimeoutException):
            return f"the LLM server at {self._base} did not answer within {self._llm.timeout:g} s"
        if isinstance(error, httpx.ConnectError):
            return f"cannot reach the LLM server at {self._base} ({error})"
        return f"the LLM server at {self._base} failed: {type(error).__name__}: {error}"

    def _status(self, status: int, text: str) -> str:
        return f"the LLM server at {self._base} answered {status}: {' '.join(text.split())[:200]}"

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        options = {"max_tokens": self._answer.max_tokens, "temperature": self._answer.temperature, "stream": True}
        if self.chat:
            body = {"model": self.model(), "messages": chat_messages(question, passages, language), **options}
            for event in self._events("/chat/completions", body):
                piece = ((event.get("choices") or [{}])[0].get("delta") or {}).get("content")
                if piece:
                    yield piece
            return
        body = {"model": self.model(), "prompt": completion_prompt(question, passages), "stop": COMPLETION_STOPS}
        lead = COMPLETION_ANSWER_START  # the prompt's last characters belong to the answer
        for event in self._events("/completions", {**body, **options}):
            piece = (event.get("choices") or [{}])[0].get("text")
            if piece:
                yield lead + piece
                lead = ""

    def _events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The JSON objects of a Server-Sent Events stream, until [DONE]."""
        import httpx

        try:
            with self._client() as client, client.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    raise GeneratorError(self._status(response.status_code, response.read().decode(errors="replace")))
                done = False
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise GeneratorError(f"the LLM server at {self._base} sent a malformed stream: {data[:80]!r}")
                    if not isinstance(event, dict) or "error" in event:
                        raise GeneratorError(f"the LLM server at {self._base} sent an error: {str(event)[:200]}")
                    yield event
                if not done:
                    raise GeneratorError(f"the LLM server at {self._base} ended the stream before [DONE]")
        except httpx.HTTPError as error:
            raise GeneratorError(self._failure(error)) from None

    def prompt_tokens(self, question: str, passages: Sequence[str], language: str) -> int:
        """0: a streamed answer does not say, and OpenAI's API has no tokenizer route."""
        return 0

    def question_likelihood_gain(self, question: str, passages: Sequence[str]) -> float | None:
        if self._logprobs is False or self.chat:
            return None
        try:
            with_passages = self._question_log_probability(question, passages)
            without = self._question_log_probability(question, ())
        except GeneratorError as error:
            if self._logprobs is None:  # the first try: the server does not do this, so never ask again
                log.warning(
                    "no prompt log-probabilities from %s (%s): abstaining without that signal", self._base, error
                )
                self._logprobs = False
                return None
            raise
        self._logprobs = True
        return with_passages - without

    def _question_log_probability(self, question: str, passages: Sequence[str]) -> float:
        """log P(question | the completion prompt up to "Question:"), from the prompt's echoed log-probabilities."""
        prompt = completion_prompt(question, passages)
        context = prompt[: prompt.rindex(question.strip())].rstrip(" ")
        body = {
            "model": self.model(),
            "prompt": context + " " + question.strip(),
            "max_tokens": 1,
            "temperature": 0,
            "echo": True,
            "logprobs": 0,
        }
        choice = (self._request("POST", "/completions", body).get("choices") or [{}])[0]
        logprobs = choice.get("logprobs") or {}
        offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
        if not offsets or not values or len(offsets) != len(values):
            raise GeneratorError("no prompt log-probabilities in the answer (echo with logprobs)")
        # Offsets count characters of the echoed text; the token generated after it (max_tokens 1) starts at its end.
        end = len(body["prompt"])
        asked = [v for offset, v in zip(offsets, values) if len(context) <= offset < end]
        if not asked or any(v is None for v in asked):
            raise GeneratorError("no prompt log-probabilities for the question's tokens")
        return float(sum(asked))

    def answer_spans(
        self, question: str, passages: Sequence[str], starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        """Empty: scoring every candidate span needs the model's token-level log-probabilities after each prefix,
        which only the in-process model gives cheaply; with a server the answer shows no span first."""
        return []
