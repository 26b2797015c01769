"""Nobody else's web page drives the server: an ASGI middleware over the whole app (the HTTP API and the chat).

- Host allow-list: a request must name this server in its Host header (the loopback names, `server.host`, and
  `server.allowed_hosts`), so that a page whose own domain was made to resolve to 127.0.0.1 (DNS rebinding)
  cannot read any route. A server bound to every interface (0.0.0.0) with no allowed_hosts takes any Host:
  there keys and logins are required (`exposure_problem`).
- Origin check: a request that can change something (POST, PUT, PATCH, DELETE, and websocket handshakes) and
  carries an Origin (browsers send one) must come from this server's own origin, so that a page the user has
  open cannot upload, replace or rebuild with a "simple" cross-site request. Requests without an Origin (curl,
  scripts, the Python client) are not from a browser and pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from rag.config import ServerSettings

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def allowed_hosts(server: ServerSettings) -> frozenset[str] | None:
    """The host names requests may name (lower case, no port); None: any (a wildcard bind, no list given)."""
    named = {h.strip().lower().strip("[]") for h in server.allowed_hosts.split(",") if h.strip()}
    if server.host in WILDCARDS and not named:
        return None
    return frozenset(LOOPBACK | named | ({server.host.lower().strip("[]")} - WILDCARDS))


def host_name(value: str) -> str | None:
    """'example.org:7860' -> 'example.org', '[::1]:7860' -> '::1'; None when it is not a host."""
    try:
        return urlsplit(f"//{value}").hostname
    except ValueError:
        return None


class SameOrigin:
    """ASGI middleware: 403 with one line for a Host not allowed, or an unsafe request from another origin."""

    def __init__(self, app: Any, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            await self._refuse(scope, send, f"this server does not answer to the host {host!r}")
            return
        origin = headers.get("origin")
        changes = scope["type"] == "websocket" or scope.get("method", "GET") in UNSAFE
        if changes and origin is not None and not self._same(origin, host):
            await self._refuse(scope, send, f"requests from {origin} may not change anything here")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _same(origin: str, host: str) -> bool:
        """Whether the Origin header names the origin the request was sent to (scheme aside)."""
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()

    @staticmethod
    async def _refuse(scope: dict, send: Callable, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
