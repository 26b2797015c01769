"""Milvus Lite's server mode (`rag milvus-lite`): one Milvus Lite file served over gRPC to several processes."""

from __future__ import annotations

import threading
from pathlib import Path


def exposure_problem(host: str, unprotected: bool) -> str | None:
    """Why Milvus Lite must not serve on `host` (one line), or None: it asks no one for a password, so whoever
    reaches its port reads, changes and deletes the index."""
    from rag.server.auth import is_loopback

    if is_loopback(host) or unprotected:
        return None
    return (
        f"refusing to serve Milvus Lite on {host}: it has no passwords, so anyone who reaches the port could read "
        "and delete the index; keep it on 127.0.0.1 (replicas on this machine), use Milvus Standalone with "
        "authentication across machines, or pass --unprotected on a network you trust"
    )


def serve_lite(path: Path, address: str) -> None:
    """Milvus Lite's server mode: its engine (a process of its own) serves the file on `address` (host:port) to
    any number of processes, until this one is stopped (Ctrl-C, SIGTERM)."""
    from milvus_lite.server import Server

    server = Server(str(path), address)
    if not server.start():
        raise RuntimeError(f"Milvus Lite could not serve {path}: is it open in another process?")
    try:
        threading.Event().wait()
    finally:
        server.stop()
