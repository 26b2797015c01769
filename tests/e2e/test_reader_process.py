"""`rag serve` does not die with its reader: the reader (the real Gemma GGUF) runs in a child process; when that
child dies by SIGSEGV in the middle of a question, that question is answered without it and says so, the server
lives on, and the next question starts a new reader and is answered as before."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from rag.prompts import READER_STOPPED
from tests.helpers import children, command_line, ready, running_app

QUESTION = "من هو كبير المفاوضين الأوكرانيين؟"


def reader_pid(server_pid: int) -> int:
    (pid,) = [p for p in children(server_pid) if "rag.generators.isolated" in command_line(p)]
    return pid


def test_the_server_answers_on_when_its_reader_dies_by_sigsegv(seed_index: Path):
    with running_app(seed_index) as (server, url), httpx.Client(base_url=url, timeout=180) as client:
        ready(url)
        before = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert not before["abstained"] and "رستم أوميروف" in before["answer"] and before["notice"] == ""
        reader = reader_pid(server.pid)

        # The reader is held still, a question is sent (it waits on the reader), and the reader then dies by a
        # real SIGSEGV while the question is in it.
        os.kill(reader, signal.SIGSTOP)
        asked: dict = {}
        asking = threading.Thread(target=lambda: asked.update(r=client.post("/v1/ask", json={"question": QUESTION})))
        asking.start()
        time.sleep(3)  # the question reaches the reader in well under a second (retrieval, then the reader)
        os.kill(reader, signal.SIGSEGV)
        os.kill(reader, signal.SIGCONT)
        asking.join(timeout=180)
        during = asked["r"]
        assert during.status_code == 200, during.text
        assert during.json()["notice"] == READER_STOPPED
        assert server.poll() is None, "the server died with its reader"

        after = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert after["notice"] == "" and after["answer"] == before["answer"]
        assert reader_pid(server.pid) != reader
        assert httpx.get(url + "health").json()["status"] == "ready"
