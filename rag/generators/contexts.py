"""A small pool of llama.cpp contexts, so that a few answers are made at once: a context serves one call at a time
(llama.cpp is not safe for concurrent calls on one context), and a call gets the free context whose KV cache
already holds the longest prefix of its prompt (an answer's second pass reuses its first's prompt)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

C = TypeVar("C")


class ContextPool(Generic[C]):
    """Up to `size` contexts, made by `make` on demand: a second only when every one made is busy."""

    def __init__(self, make: Callable[[], C], size: int, cached_prefix: Callable[[C, Sequence[int]], int]) -> None:
        self._make = make
        self._size = size
        self._cached_prefix = cached_prefix  # how many of a prompt's tokens a context's KV cache already holds
        self._made: list[C] = []
        self._free: list[C] = []
        self._making = 0
        self._changed = threading.Condition()

    @property
    def made(self) -> int:
        """Contexts made so far."""
        return len(self._made)

    def first(self) -> C:
        """The first context (made now if none is), for what any context can tell: metadata, tokens. Not for
        evaluating anything: another call may be using it."""
        with self._changed:
            if self._made:
                return self._made[0]
        with self.taken():
            return self._made[0]

    @contextmanager
    def taken(self, prompt: Sequence[int] = ()) -> Iterator[C]:
        """A context for this thread alone until the block ends: the free one whose cache holds the most of
        `prompt`, else a new one while fewer than `size` exist, else the first to be given back."""
        context = self._take(prompt)
        try:
            yield context
        finally:
            with self._changed:
                self._free.append(context)
                self._changed.notify()

    def _take(self, prompt: Sequence[int]) -> C:
        with self._changed:
            while not self._free and len(self._made) + self._making >= self._size:
                self._changed.wait()
            if self._free:
                best = max(self._free, key=lambda c: self._cached_prefix(c, prompt) if prompt else 0)
                self._free.remove(best)
                return best
            self._making += 1
        try:
            context = self._make()
        except BaseException:
            with self._changed:
                self._making -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._making -= 1
            self._made.append(context)
        return context
