"""rag/server/limits.py: bounded workers, the rate limit, the body limit (no models)."""

import asyncio
import threading

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from rag.server.auth import bearer_key
from rag.server.limits import BodyLimit, Busy, RateLimit, RateLimited, TimedOut, Workers, length_problem


def test_workers_refuse_past_the_wait_queue_and_free_slots_when_work_ends():
    release = threading.Event()
    workers = Workers("test", workers=1, waiting=1)
    running = workers.submit(release.wait)
    waiting = workers.submit(lambda: "done")
    with pytest.raises(Busy) as busy:
        workers.submit(lambda: None)
    assert busy.value.retry_after >= 1
    release.set()
    assert running.result(5) and waiting.result(5) == "done"
    assert workers.taken == 0
    assert workers.submit(lambda: 1).result(5) == 1


def test_workers_time_out_without_losing_the_slot():
    release = threading.Event()
    workers = Workers("test", workers=1, waiting=0)
    with pytest.raises(TimedOut):
        asyncio.run(workers.run(0.05, release.wait))
    assert workers.taken == 1  # the work still runs: its slot is still taken
    release.set()
    workers.shutdown()
    assert workers.taken == 0


def small_app(keys: frozenset[str] = frozenset()) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=100)

    @app.post("/echo", dependencies=[Depends(bearer_key(keys))])
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    return app


def test_body_limit_refuses_by_length_and_by_bytes_received():
    client = TestClient(small_app())
    assert client.post("/echo", content=b"x" * 100).json() == {"size": 100}
    assert client.post("/echo", content=b"x" * 101).status_code == 413

    def chunked():  # no Content-Length: counted as it arrives
        yield b"x" * 60
        yield b"x" * 60

    refused = client.post("/echo", content=chunked())
    assert refused.status_code == 413 and "limit" in refused.json()["detail"]


def test_the_rate_limit_takes_bursts_then_refills_per_client():
    now = [0.0]
    limit = RateLimit(per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        limit.take("a")
    with pytest.raises(RateLimited) as refused:
        limit.take("a")
    assert refused.value.retry_after == 20 and "3 requests a minute" in str(refused.value)
    limit.take("b")  # another client has its own bucket
    now[0] = 20.0  # one request's worth refilled
    limit.take("a")
    with pytest.raises(RateLimited):
        limit.take("a")
    unlimited = RateLimit(per_minute=0)
    for _ in range(1000):
        unlimited.take("a")


def test_the_rate_limit_forgets_quiet_clients_past_its_size(monkeypatch):
    now = [0.0]
    limit = RateLimit(per_minute=60, clock=lambda: now[0])
    monkeypatch.setattr(RateLimit, "MAX_CLIENTS", 10)
    for i in range(10):
        limit.take(f"old-{i}")
    now[0] = 120.0  # their buckets are full again
    limit.take("new-1")
    limit.take("new-2")
    assert len(limit._buckets) <= 10


def test_iterate_hands_over_items_refuses_when_full_and_raises_what_the_work_raised():
    workers = Workers("test", workers=1, waiting=0)
    assert list(workers.iterate(lambda: iter([1, 2, 3]), timeout=5)) == [1, 2, 3]
    release = threading.Event()

    def blocked():
        release.wait()
        yield "late"

    running = workers.iterate(blocked, timeout=5)
    first = threading.Thread(target=lambda: list(running))
    first.start()
    while workers.taken == 0:
        threading.Event().wait(0.01)
    with pytest.raises(Busy):
        next(workers.iterate(lambda: iter([1]), timeout=5))
    release.set()
    first.join(5)

    def failing():
        yield 1
        raise ValueError("the model failed")

    with pytest.raises(ValueError, match="the model failed"):
        list(workers.iterate(failing, timeout=5))
    slow = threading.Event()
    with pytest.raises(TimedOut):
        list(workers.iterate(lambda: iter([slow.wait(0.5)]), timeout=0.05))


def test_length_problem_names_the_text_and_the_limit():
    assert length_problem("a" * 10, "the question", 10) is None
    assert (
        length_problem("a" * 2001, "the question", 2000) == "the question has 2,001 characters, over the limit of 2,000"
    )
