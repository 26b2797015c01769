"""rag/server/auth.py: bearer keys, the chat's login, and no unprotected exposure beyond loopback (no models)."""

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from rag.config import ServerSettings
from rag.server.auth import bearer_key, chat_login, exposure_problem, is_loopback


def keyed_app(keys: frozenset[str] = frozenset()) -> FastAPI:
    app = FastAPI()

    @app.post("/echo", dependencies=[Depends(bearer_key(keys))])
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    return app


def test_bearer_key_is_required_when_keys_are_set():
    client = TestClient(keyed_app(frozenset({"k1", "k2"})))
    assert client.post("/echo").status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "k1"}).status_code == 401
    assert client.post("/echo", headers={"Authorization": "Bearer k2"}).status_code == 200
    assert TestClient(keyed_app()).post("/echo").status_code == 200


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


def test_behind_a_proxy_keys_logins_and_the_served_names_are_required():
    """Behind a proxy every request comes from loopback: the loopback exemption does not hold."""
    proxied = ServerSettings(behind_proxy=True)
    problem = exposure_problem(proxied)
    assert problem and "behind a proxy" in problem and "API keys" in problem and "chat logins" in problem
    assert "ALLOWED_HOSTS" in problem and "\n" not in problem
    complete = proxied.model_copy(update={"api_keys": "k", "ui_auth": "ana:secret", "allowed_hosts": "news.example"})
    assert exposure_problem(complete) is None
    assert "ALLOWED_HOSTS" in (exposure_problem(complete.model_copy(update={"allowed_hosts": ""})) or "")


def test_the_chat_login_obeys_the_keys():
    assert chat_login(ServerSettings()) is None  # nothing set: no login
    keyed = chat_login(ServerSettings(api_keys="k1"))
    assert keyed is not None and keyed("anyone", "k1") and not keyed("anyone", "k2") and not keyed("k1", "")
    both = chat_login(ServerSettings(api_keys="k1", ui_auth="ana:secret"))
    assert both is not None and both("ana", "secret") and both("bo", "k1")
    assert not both("bo", "secret") and not both("ana", "wrong")
