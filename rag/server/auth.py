"""Who may use the server: bearer API keys on /v1, logins on the chat page (which obey the keys too), who a
request counts against, and no unprotected exposure beyond loopback."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from rag.config import ServerSettings


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(server: ServerSettings) -> str | None:
    """Why the server must not start as configured (one line), or None. Off loopback, anyone on the network could
    upload, delete and rebuild: API keys and chat logins are required there, and behind a reverse proxy (where
    every request comes from loopback), with the names the proxy serves."""
    exposed = not is_loopback(server.host)
    if not (exposed or server.behind_proxy):
        return None
    needed = [
        ("API keys (RAG_SERVER__API_KEYS or RAG_SERVER__API_KEY_FILE)", bool(server.keys())),
        ("chat logins (RAG_SERVER__UI_AUTH=user:password)", bool(server.users())),
    ]
    if server.behind_proxy:
        needed.append(("the names the proxy serves (RAG_SERVER__ALLOWED_HOSTS)", bool(server.allowed_hosts.strip())))
    missing = [what for what, present in needed if not present]
    if not missing:
        return None
    where = f"behind a proxy on {server.host}" if server.behind_proxy else f"on {server.host}"
    return f"refusing to serve {where} without {' and '.join(missing)}: anyone on the network could change the articles"


def chat_login(server: ServerSettings) -> Callable[[str, str], bool] | None:
    """Who may log in to the chat page: the ui_auth pairs, and while API keys are set any user name with a key as
    its password (so that the chat obeys the keys as /v1 does); None (no login) when neither is set."""
    users, keys = server.users(), server.keys()
    if not users and not keys:
        return None

    def check(user: str, password: str) -> bool:
        pairs = any(matches(user, u) and matches(password, p) for u, p in users)
        return pairs or any(matches(password, key) for key in keys)

    return check


def matches(given: str, expected: str) -> bool:
    """A comparison that takes as long whatever the two hold."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: Request) -> str:
    """The token of an 'Authorization: Bearer TOKEN' header ('' when there is none)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def client_name(request: Request, keys: frozenset[str]) -> str:
    """Who a request counts against for the rate limit: its API key when it carries one of them, else its
    address (behind a proxy, the address the proxy forwarded)."""
    token = bearer_token(request)
    if token and token in keys:
        return f"key:{hashlib.sha256(token.encode()).hexdigest()[:16]}"
    return f"address:{request.client.host if request.client else '?'}"


def bearer_key(keys: frozenset[str]) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: with keys configured, 'Authorization: Bearer KEY' must carry one of them (401)."""

    async def check(request: Request) -> None:
        if not keys:
            return
        token = bearer_token(request)
        if not token or not any(matches(token, k) for k in keys):
            raise HTTPException(
                401, "a valid API key is required: Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"}
            )

    return check
