"""The pool of LLM contexts: one call per context, a new one only when all are busy, the best cached prefix first."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from rag.generators.contexts import ContextPool


class FakeContext:
    """A context whose KV cache holds `tokens`."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.tokens: list[int] = []


def held_prefix(context: FakeContext, prompt: Sequence[int]) -> int:
    shared = 0
    for mine, theirs in zip(context.tokens, prompt, strict=False):
        if mine != theirs:
            break
        shared += 1
    return shared


def pool_of(size: int) -> ContextPool[FakeContext]:
    made: list[FakeContext] = []

    def make() -> FakeContext:
        made.append(FakeContext(len(made)))
        return made[-1]

    return ContextPool(make, size, held_prefix)


def test_a_second_context_is_made_only_while_the_first_is_busy():
    pool = pool_of(2)
    with pool.taken() as first:
        pass
    with pool.taken() as again:
        assert again is first and pool.made == 1
        with pool.taken() as second:
            assert second is not first and pool.made == 2
    assert pool.first() is first


def test_a_call_gets_the_free_context_holding_most_of_its_prompt():
    pool = pool_of(2)
    with pool.taken() as one, pool.taken() as two:
        one.tokens, two.tokens = [1, 2, 3], [1, 5, 6, 7]
    with pool.taken([1, 5, 6, 9]) as chosen:
        assert chosen is two
    with pool.taken([1, 2, 3, 4]) as chosen:
        assert chosen is one


def test_never_more_contexts_than_the_size_and_each_used_by_one_thread_at_a_time():
    pool = pool_of(2)
    in_use: set[int] = set()
    overlaps: list[int] = []
    guard = threading.Lock()
    both_busy = threading.Barrier(2, timeout=10)

    def work(number: int) -> None:
        with pool.taken() as context:
            with guard:
                if context.number in in_use:
                    overlaps.append(context.number)
                in_use.add(context.number)
            if number < 2:
                both_busy.wait()  # the first two calls hold both contexts at once
            with guard:
                in_use.discard(context.number)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads[:2]:
        thread.start()
    for thread in threads[2:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert pool.made == 2 and not overlaps


def test_a_context_that_fails_to_load_frees_its_place():
    attempts: list[int] = []

    def make() -> FakeContext:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("no model file")
        return FakeContext(len(attempts))

    pool = ContextPool(make, 1, held_prefix)
    with pytest.raises(OSError, match="no model file"):
        pool.first()
    assert pool.first().number == 2 and pool.made == 1
