"""Who may use the server: bearer API keys on /v1, and no unprotected exposure beyond loopback."""

from __future__ import annotations

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
    upload, delete and rebuild: API keys and chat logins are required there."""
    if is_loopback(server.host):
        return None
    missing = [
        what
        for what, present in (
            ("API keys (RAG_SERVER__API_KEYS or RAG_SERVER__API_KEY_FILE)", bool(server.keys())),
            ("chat logins (RAG_SERVER__UI_AUTH=user:password)", bool(server.users())),
        )
        if not present
    ]
    if not missing:
        return None
    return f"refusing to serve on {server.host} without {' and '.join(missing)}: anyone on the network could change the articles"


def bearer_key(keys: frozenset[str]) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: with keys configured, 'Authorization: Bearer KEY' must carry one of them (401)."""

    async def check(request: Request) -> None:
        if not keys:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
            raise HTTPException(
                401, "a valid API key is required: Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"}
            )

    return check
