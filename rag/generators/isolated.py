"""A local model in a child process, so that a reader which crashes (llama.cpp dying on an instruction the system
does not enable, or on a bad model file) fails the calls it was making, not the server: they raise GeneratorError
with one line saying how it died, and the next call starts a new child. Calls travel pickled over a socket pair;
each runs on a thread of the child, so the model's context pool still answers several at once.

The child runs `python -m rag.generators.isolated FD` and builds the generator from the settings it is sent.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_MODELS, AnswerSettings, LLMSettings
from rag.generators import Generator, GeneratorError, ScoredSpan

log = logging.getLogger(__name__)
FACTORY = "rag.generators.llama:LlamaGenerator"  # called with (llm, answer, models_dir) in the child


class ReaderProcess:
    """One child holding the generator, and the calls waiting on its answers."""

    def __init__(self, factory: str, llm: LLMSettings, answer: AnswerSettings, models_dir: Path) -> None:
        parent_end, child_end = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rag.generators.isolated", str(child_end.fileno())],
            pass_fds=(child_end.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        child_end.close()
        self._socket = parent_end  # shut down to stop: closing alone does not wake the thread reading it
        self._connection = Connection(os.dup(parent_end.fileno()))
        self._stopping = False
        self._sending = threading.Lock()
        self._waiting: dict[int, queue.SimpleQueue] = {}
        self._ids = itertools.count()
        self._death = ""
        self._send((-1, "setup", (factory, llm.model_dump(), answer.model_dump(), str(models_dir))))
        threading.Thread(target=self._receive, name="reader-replies", daemon=True).start()

    @property
    def alive(self) -> bool:
        return not self._death and self._process.poll() is None

    @property
    def crashed(self) -> bool:
        """Whether it died (rather than was stopped)."""
        return not self._stopping and (bool(self._death) or self._process.poll() is not None)

    @property
    def pid(self) -> int:
        return self._process.pid

    def call(self, method: str, *args: Any) -> Any:
        """The method's value, computed in the child."""
        for kind, value in self._replies(method, args):
            if kind == "value":
                return value
        raise AssertionError("unreachable: a call ends in a value or an error")

    def stream(self, method: str, *args: Any) -> Iterator[str]:
        """The method's pieces as the child yields them; closing this iterator closes the child's."""
        replies = self._replies(method, args)
        try:
            for kind, value in replies:
                if kind == "done":
                    return
                yield value
        finally:
            replies.close()

    def _replies(self, method: str, args: tuple) -> Iterator[tuple[str, Any]]:
        call, answers = next(self._ids), queue.SimpleQueue()
        self._waiting[call] = answers
        finished = False
        try:
            self._send((call, method, args))
            while True:
                kind, value = answers.get()
                if kind == "died":
                    finished = True
                    raise GeneratorError(value)
                if kind == "error":
                    finished = True
                    raise value if isinstance(value, Exception) else GeneratorError(str(value))
                finished = kind in ("value", "done")
                yield kind, value
                if finished:
                    return
        finally:
            self._waiting.pop(call, None)
            if not finished and self.alive:
                self._send((call, "close", ()))

    def _send(self, message: tuple) -> None:
        with self._sending:
            try:
                self._connection.send(message)
            except OSError:
                self._died()
                raise GeneratorError(self._death) from None

    def _receive(self) -> None:
        while True:
            try:
                call, kind, value = self._connection.recv()
            except (EOFError, OSError):
                self._connection.close()
                self._died()
                return
            answers = self._waiting.get(call)
            if answers is not None:
                answers.put((kind, value))

    def _died(self) -> None:
        from rag.llama_build import exit_reason

        if self._stopping:
            self._death = "the reader process was stopped"
        elif not self._death:
            try:
                code = self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            self._death = (
                f"the reader process {exit_reason(code)}; this question is answered without it, and the next one "
                "starts it again (`rag models` probes whether the llama.cpp build runs on this CPU)"
            )
            log.error("%s", self._death)
        for answers in list(self._waiting.values()):
            answers.put(("died", self._death))

    def stop(self) -> None:
        """End the child (it ends when its socket does); safe to call again."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


class IsolatedGenerator:
    """A Generator whose model lives in a child process, started on first use and again after it dies."""

    def __init__(
        self, llm: LLMSettings, answer: AnswerSettings, models_dir: Path = DEFAULT_MODELS, factory: str = FACTORY
    ) -> None:
        self._llm, self._answer, self._models_dir, self._factory = llm, answer, models_dir, factory
        self._process: ReaderProcess | None = None
        self._loaded = False
        self._starting = threading.Lock()
        self._crashed_before = 0  # children that died before the present one

    def _child(self) -> ReaderProcess:
        with self._starting:
            if self._process is None or not self._process.alive:
                if self._process is not None:
                    log.warning("starting the reader process again")
                    self._crashed_before += self._process.crashed
                self._loaded = False
                self._process = ReaderProcess(self._factory, self._llm, self._answer, self._models_dir)
                weakref.finalize(self, self._process.stop)  # a generator nobody holds takes its child with it
            return self._process

    @property
    def pid(self) -> int | None:
        """The child's process id (None before the first call)."""
        return self._process.pid if self._process is not None and self._process.alive else None

    @property
    def loaded(self) -> bool:
        return self._loaded and self._process is not None and self._process.alive

    @property
    def crashes(self) -> int:
        return self._crashed_before + (self._process is not None and self._process.crashed)

    def _call(self, method: str, *args: Any) -> Any:
        value = self._child().call(method, *args)
        self._loaded = True  # a model that answered is in memory
        return value

    def load(self) -> None:
        self._call("load")

    def stream(self, question: str, passages: Sequence[str], language: str) -> Iterator[str]:
        yield from self._child().stream("stream", question, list(passages), language)
        self._loaded = True

    def prompt_tokens(self, question: str, passages: Sequence[str], language: str) -> int:
        return self._call("prompt_tokens", question, list(passages), language)

    def question_likelihood_gain(self, question: str, passages: Sequence[str]) -> float | None:
        return self._call("question_likelihood_gain", question, list(passages))

    def answer_spans(
        self, question: str, passages: Sequence[str], starts: Sequence[int], max_words: int
    ) -> list[ScoredSpan]:
        return self._call("answer_spans", question, list(passages), list(starts), max_words)

    def close(self) -> None:
        """Stop the child (it also stops by itself when this process ends)."""
        if self._process is not None:
            self._process.stop()
            self._process = None


def serve(connection: Connection) -> None:
    """The child's side: build the generator from the first message, then answer calls until the parent goes."""
    _, _, (factory, llm, answer, models_dir) = connection.recv()
    module, _, name = factory.partition(":")
    make: Callable[..., Generator] = getattr(__import__(module, fromlist=[name]), name)
    generator = make(LLMSettings(**llm), AnswerSettings(**answer), Path(models_dir))
    sending = threading.Lock()
    closed: set[int] = set()

    def reply(call: int, kind: str, value: Any) -> None:
        with sending:
            connection.send((call, kind, value))

    def run(call: int, method: str, args: tuple) -> None:
        try:
            value = getattr(generator, method)(*args)
            if method == "stream":
                for piece in value:
                    if call in closed:
                        value.close()
                        break
                    reply(call, "piece", piece)
                reply(call, "done", None)
            else:
                reply(call, "value", value)
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller
            try:
                reply(call, "error", error)
            except Exception:  # noqa: BLE001 - an exception that does not pickle goes back as text
                reply(call, "error", f"{type(error).__name__}: {error}")
        finally:
            closed.discard(call)

    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="reader") as calls:
        while True:
            try:
                call, method, args = connection.recv()
            except (EOFError, OSError):
                return
            if method == "close":
                closed.add(call)
            else:
                calls.submit(run, call, method, args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    serve(Connection(int(sys.argv[1])))
