"""rag/generators/remote.py: the answering LLM behind an OpenAI-compatible server.

End to end against llama-cpp-python's own server (`python -m llama_cpp.server`) on a free loopback port with the
same Gemma GGUF as in-process: the seed questions get the same abstain / answer decisions and valid citations in
both answer modes. Failures (refused, timeout, 5xx, a malformed stream) against small misbehaving servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from rag import Answer, Assistant, Index, Settings
from rag.generators import GeneratorError, load_generator
from rag.generators.remote import RemoteGenerator
from rag.models import llm_location
from rag.schemas import AnswerRecord
from tests.helpers import REPO, SEED_QA, free_port, serving


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the default GGUF; its base URL."""
    settings = Settings()
    port = free_port()
    model = llm_location(settings.llm.model, settings.models_dir)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(settings.llm.context)]
    log = tmp_path_factory.mktemp("llm-server") / "server.log"  # a file: llama.cpp's log would fill a pipe
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            raise AssertionError("the LLM server did not start within 180 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def seed(seed_index: Path) -> Index:
    """The shared seed index, opened here (read only)."""
    return Index(Settings(index_dir=seed_index))


def assistant(index: Index, mode: str, llm: str | None = None) -> Assistant:
    settings = index.settings.model_copy(deep=True)
    settings.answer.mode = mode
    if llm is None:
        return Assistant(Index(settings, embedder=index.embedder))
    # llama-cpp-python's server computes prompt log-probabilities far too slowly for Gemma's vocabulary: the
    # abstention model without them is used, as for any server that does not give them.
    reader = settings.llm.model_copy(update={"model": llm, "logprobs": False})
    return Assistant(Index(settings, embedder=index.embedder), RemoteGenerator(reader, settings.answer))


def valid(answer: Answer) -> bool:
    """An abstention cites nothing; an answer cites, each citation marked in the text, its span in its passage."""
    if answer.abstained:
        return not answer.citations
    marked = all(f"[{c.n}" in answer.text or f", {c.n}]" in answer.text for c in answer.citations)
    inside = all(c.hit.start <= c.span_start < c.span_end <= c.hit.end for c in answer.citations)
    return bool(answer.citations) and marked and inside


@pytest.mark.parametrize("mode", ["extractive", "generate"])
def test_seed_questions_decided_alike_through_the_server(llm_server: str, seed: Index, mode: str):
    questions = [json.loads(line) for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    here, there = assistant(seed, mode), assistant(seed, mode, llm_server)
    for question in questions:
        local, remote = here.ask(question["question"]), there.ask(question["question"])
        assert remote.abstained == local.abstained, (question["question"], local.text, remote.text)
        assert valid(remote), remote
        assert not remote.notice
        if mode == "generate" and not remote.abstained:
            assert remote.method in ("generated", "fallback")


class Misbehaving(BaseHTTPRequestHandler):
    """/slow/v1 never answers in time, /broken/v1 answers 500, /garbled/v1 streams nonsense."""

    def do_GET(self) -> None:
        self.reply(200, b'{"data": [{"id": "m"}]}', "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.startswith("/slow/"):
            time.sleep(3)
            self.reply(200, b"data: [DONE]\n\n", "text/event-stream")
        elif self.path.startswith("/broken/"):
            self.reply(500, b'{"error": "model crashed"}', "application/json")
        else:
            self.reply(200, b'data: {"choices": [{"text": "par"}]}\n\ndata: {not json\n\n', "text/event-stream")

    def reply(self, status: int, body: bytes, media_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout case)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    with serving(Misbehaving) as url:
        yield url


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("closed", "cannot reach the LLM server at"),
        ("slow", "did not answer within 1 s"),
        ("broken", 'answered 500: {"error": "model crashed"}'),
        ("garbled", "sent a malformed stream"),
    ],
)
def test_server_failures_give_a_clear_notice_and_the_quoted_evidence(
    misbehaving: str, seed: Index, where: str, reason: str
):
    url = f"http://127.0.0.1:{free_port()}/v1" if where == "closed" else f"{misbehaving}/{where}/v1"
    settings = seed.settings.model_copy(deep=True)
    settings.answer.mode = "generate"
    reader = settings.llm.model_copy(update={"model": url, "timeout": 1.0})
    generator = RemoteGenerator(reader, settings.answer)
    with pytest.raises(GeneratorError, match="LLM server"):
        list(generator.stream("سؤال؟", ["نص."], "ar"))
    started = time.monotonic()
    answer = Assistant(Index(settings, embedder=seed.embedder), generator).ask("من هو كبير المفاوضين الأوكرانيين؟")
    assert time.monotonic() - started < 60
    assert reason in answer.notice and "the best evidence is quoted instead" in answer.notice
    assert answer.method == "fallback" and not answer.abstained and "رستم أوميروف" in answer.citations[0].span_text
    assert AnswerRecord.of(answer).model_dump()["notice"] == answer.notice


def test_prompt_log_probabilities_are_read_from_echoed_tokens():
    """The question's log-probability is the sum over its own echoed tokens (a server speaking OpenAI's format)."""

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            prompt = body["prompt"]
            start = prompt.rindex(" ")  # the question is the last word here
            reply = {
                "choices": [
                    {
                        "logprobs": {
                            "text_offset": [0, start, len(prompt)],
                            "token_logprobs": [None, -2.0 if "zzqq" in prompt else -5.0, -0.5],
                        }
                    }
                ]
            }
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Echo) as url:
        settings = Settings()
        reader = settings.llm.model_copy(update={"model": f"{url}/v1", "server_model": "m"})
        generator = load_generator(reader, settings.answer)
        assert isinstance(generator, RemoteGenerator) and generator.loaded
        assert generator.question_likelihood_gain("Who?", ["zzqq"]) == pytest.approx(3.0)


def test_llm_url_is_not_provisioned():
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "models"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
        env={**os.environ, "RAG_LLM__MODEL": "http://127.0.0.1:9/v1"},
    )
    assert done.returncode == 0 and "llm: the server at http://127.0.0.1:9/v1 (nothing to provision)" in done.stdout
