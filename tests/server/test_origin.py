"""rag/server/origin.py: a request must name this server in its Host, and one that changes something must come
from this server's own origin when it says where it comes from."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from rag.config import ServerSettings
from rag.server.origin import SameOrigin, allowed_hosts

SERVER = "http://127.0.0.1:7860"
reached: list[str] = []


async def endpoint(request) -> PlainTextResponse:
    reached.append(request.method)
    return PlainTextResponse("ok")


async def socket(websocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def client(server: ServerSettings | None = None) -> TestClient:
    app = Starlette(routes=[Route("/v1/articles", endpoint, methods=["GET", "POST"]), WebSocketRoute("/ws", socket)])
    return TestClient(SameOrigin(app, allowed_hosts(server or ServerSettings())), base_url=SERVER)


def test_a_page_on_another_site_cannot_upload_or_rebuild():
    """The report's curl: a multipart POST with a foreign Origin is refused before any route sees it."""
    reached.clear()
    refused = client().post(
        "/v1/articles", headers={"Origin": "https://evil.example"}, files={"files": ("a.txt", b"x")}
    )
    assert refused.status_code == 403 and "https://evil.example" in refused.json()["detail"] and reached == []
    for origin in ("null", "http://127.0.0.1:9999", "file://"):
        assert client().post("/v1/articles", headers={"Origin": origin}).status_code == 403
    assert client().post("/v1/articles", headers={"Origin": SERVER}).status_code == 200  # the chat page itself
    assert client().post("/v1/articles").status_code == 200  # no Origin: curl, scripts, the Python client
    assert client().get("/v1/articles", headers={"Origin": "https://evil.example"}).status_code == 200  # reads only
    assert reached == ["POST", "POST", "GET"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:7860", "127.0.0.1.evil.example", "", "[bad"])
def test_a_host_that_is_not_this_server_is_refused(host: str):
    """DNS rebinding: the page's own name resolved to 127.0.0.1 still says its name in Host."""
    answer = client().get("/v1/articles", headers={"Host": host})
    assert answer.status_code == 403 and "does not answer to the host" in answer.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860", "LOCALHOST"])
def test_loopback_names_are_this_server(host: str):
    assert client().get("/v1/articles", headers={"Host": host}).status_code == 200


def test_the_hosts_follow_the_settings():
    assert allowed_hosts(ServerSettings()) == {"127.0.0.1", "localhost", "::1"}
    named = allowed_hosts(ServerSettings(host="10.1.2.3", allowed_hosts="news.example, Team.Example"))
    assert named == {"127.0.0.1", "localhost", "::1", "10.1.2.3", "news.example", "team.example"}
    assert allowed_hosts(ServerSettings(host="0.0.0.0")) is None  # any: keys and logins guard such a server
    behind = client(ServerSettings(host="0.0.0.0", allowed_hosts="news.example"))
    assert behind.get("/v1/articles", headers={"Host": "news.example"}).status_code == 200
    assert behind.get("/v1/articles", headers={"Host": "evil.example"}).status_code == 403


def test_a_websocket_from_another_site_is_closed():
    with client().websocket_connect("ws://127.0.0.1:7860/ws", headers={"Origin": SERVER}) as ws:
        assert ws.receive_text() == "hello"
    with (
        pytest.raises(WebSocketDisconnect),
        client().websocket_connect("ws://127.0.0.1:7860/ws", headers={"Origin": "https://evil.example"}) as ws,
    ):
        ws.receive_text()
