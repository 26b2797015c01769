"""The reader in a child process: calls cross as they would in process, a reader that dies (a real SIGSEGV) fails
the calls it was making with one line, and the next call starts it again."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.config import AnswerSettings, LLMSettings
from rag.generators import GeneratorError, ScoredSpan, load_generator
from rag.generators.isolated import IsolatedGenerator
from tests.helpers import REPO

FACTORY = "tests.fake_reader:FakeReader"


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(REPO)  # the child imports tests.fake_reader from here
    generator = IsolatedGenerator(LLMSettings(), AnswerSettings(), factory=FACTORY)
    yield generator
    generator.close()


def test_calls_cross_to_the_child_and_back(reader: IsolatedGenerator):
    assert not reader.loaded and reader.pid is None
    reader.load()
    assert reader.loaded and reader.pid != os.getpid()
    assert reader.question_likelihood_gain("who spoke", ["a passage"]) == 9.0
    assert reader.answer_spans("who", ["ab"], [0, 3], 8) == [ScoredSpan(0, 1, -0.0), ScoredSpan(3, 4, -1.0)]
    assert reader.prompt_tokens("who spoke", ["a b c"], "en") == 5
    assert "".join(reader.stream("who spoke today", [], "en")) == "who spoke today "


def test_a_reader_that_dies_fails_that_call_and_the_next_starts_it_again(reader: IsolatedGenerator):
    reader.load()
    first = reader.pid
    with pytest.raises(GeneratorError, match="the reader process died by SIGSEGV"):
        reader.question_likelihood_gain("crash", [])
    assert not reader.loaded
    assert reader.question_likelihood_gain("again", []) == 5.0
    assert reader.pid not in (None, first) and reader.loaded  # the call that started it again loaded it
    with pytest.raises(GeneratorError, match="SIGSEGV"):
        list(reader.stream("one two crash", [], "en"))
    assert reader.answer_spans("fine", ["x"], [0], 1) == [ScoredSpan(0, 1, -0.0)]


def test_calls_in_flight_when_it_dies_all_fail_and_none_hangs(reader: IsolatedGenerator):
    reader.load()
    with ThreadPoolExecutor(2) as threads:
        slow = threads.submit(reader.question_likelihood_gain, "slow", [])
        time.sleep(0.3)
        crash = threads.submit(reader.question_likelihood_gain, "crash", [])
        for call in (slow, crash):
            with pytest.raises(GeneratorError, match="SIGSEGV"):
                call.result(timeout=30)
    assert reader.question_likelihood_gain("next", []) == 4.0


def test_calls_run_at_once_in_the_child(reader: IsolatedGenerator):
    reader.load()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as threads:
        assert list(threads.map(lambda q: reader.question_likelihood_gain(q, []), ["slow", "slow"])) == [4.0, 4.0]
    assert time.monotonic() - started < 2.9  # two sleeps of 1.5 s, side by side


def test_errors_come_back_as_errors(reader: IsolatedGenerator):
    with pytest.raises(GeneratorError, match="the fake reader refuses"):
        reader.question_likelihood_gain("fail", [])
    with pytest.raises(TypeError):
        reader.answer_spans("who", ["ab"], [0], "eight")  # a bug in a call is raised as itself
    assert reader.question_likelihood_gain("ok", []) == 2.0  # the child lived through both


def test_a_stream_closed_early_leaves_the_child_serving(reader: IsolatedGenerator):
    pieces = reader.stream("one two three four", [], "en")
    assert next(pieces) == "one "
    pieces.close()
    assert "".join(reader.stream("five six", [], "en")) == "five six "


def test_a_killed_child_is_started_again_at_the_next_call(reader: IsolatedGenerator):
    reader.load()
    os.kill(reader.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while reader.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.question_likelihood_gain("back", []) == 4.0


def test_the_child_ends_with_its_parent(reader: IsolatedGenerator):
    reader.load()
    child = reader.pid
    reader.close()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_a_generator_nobody_holds_takes_its_child_with_it(monkeypatch: pytest.MonkeyPatch):
    import gc

    monkeypatch.chdir(REPO)
    generator = IsolatedGenerator(LLMSettings(), AnswerSettings(), factory=FACTORY)
    generator.load()
    child = generator.pid
    del generator
    gc.collect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        os.waitpid(child, os.WNOHANG)  # reaped here if it is still this process's zombie
        time.sleep(0.05)
    else:
        raise AssertionError("the child outlived its generator")


def test_a_local_model_runs_in_a_child_unless_told_otherwise():
    from rag.generators.llama import LlamaGenerator

    assert isinstance(load_generator(LLMSettings(), AnswerSettings()), IsolatedGenerator)
    assert isinstance(load_generator(LLMSettings(process=False), AnswerSettings()), LlamaGenerator)


def test_crashes_are_counted_and_a_stop_is_not_one(reader: IsolatedGenerator):
    assert reader.crashes == 0
    reader.load()
    with pytest.raises(GeneratorError):
        reader.question_likelihood_gain("crash", [])
    assert reader.crashes == 1  # known at once, before the next call starts a new child
    reader.question_likelihood_gain("again", [])
    assert reader.crashes == 1
    reader.close()
    assert reader.crashes == 1
