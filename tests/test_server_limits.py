"""rag/server/limits.py and auth.py: bounded workers, the body limit, keys and exposure (no models)."""

import asyncio
import threading

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from rag.config import ServerSettings
from rag.server.auth import bearer_key, exposure_problem, is_loopback
from rag.server.limits import BodyLimit, Busy, TimedOut, Workers


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


def test_bearer_key_is_required_when_keys_are_set():
    client = TestClient(small_app(frozenset({"k1", "k2"})))
    assert client.post("/echo").status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "k1"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer k2"}).status_code == 200
    assert TestClient(small_app()).post("/echo").status_code == 200


def test_exposure_needs_keys_and_logins_off_loopback(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert exposure_problem(ServerSettings()) is None
    problem = exposure_problem(ServerSettings(host="0.0.0.0"))
    assert problem and "API keys" in problem and "chat logins" in problem and "\n" not in problem
    keyfile = tmp_path / "keys"
    keyfile.write_text("# team\nk3\n")
    keyed = ServerSettings(host="0.0.0.0", api_keys="k1, k2", api_key_file=keyfile)
    assert keyed.keys() == {"k1", "k2", "k3"}
    assert "chat logins" in (exposure_problem(keyed) or "")
    assert exposure_problem(keyed.model_copy(update={"ui_auth": "ana:secret"})) is None
    with pytest.raises(ValueError, match="user:password"):
        ServerSettings(ui_auth="nopassword").users()
