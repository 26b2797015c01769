"""Hand-off of `rag index` to a running `rag serve` / `rag watch`, whose embedder is already loaded.

A new process spends seconds importing torch and loading the embedder before it embeds a single
chunk; a running app has both. It listens on a Unix socket named after its index folder (readable by
its user only); `rag index` sends its settings there and prints the report it gets back. Nobody
listening, or a listener with a different embedder: `rag index` builds in its own process."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import BuildReport, build_index
from rag.stores import IndexBusyError, location_key

log = logging.getLogger(__name__)

# The model settings a borrowed embedder must share with the build that borrows it.
EMBEDDER_FIELDS = {"model", "dtype", "titles", "cache"}


class HandoffError(RuntimeError):
    """The running process took the build and it failed there."""


def socket_path(location: str) -> Path:
    """Where the process serving the index at `location` (`location_key`) listens (short, per user: Unix socket
    paths are limited)."""
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return folder / f"rag-index-{os.getuid()}-{digest}.sock"


def _embedder_settings(settings: Settings) -> dict:
    return {
        **settings.embedder.model_dump(mode="json", include=EMBEDDER_FIELDS),
        "models_dir": str(settings.models_dir),
    }


class BuildService:
    """Builds the index on request with this process's embedder, one request per connection."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.path = socket_path(location_key(settings))
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> bool:
        """Listen in a background thread; False when another live process already serves this index."""
        if self.path.exists():
            if not _ours(self.path) or _listening(self.path):
                log.info("another process already takes builds of %s", self.settings.index_dir)
                return False
            self.path.unlink()  # left by a process that died
        service = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline()
                if line.strip():  # an empty connection is another process checking we are alive
                    service.serve(json.loads(line), self._send)

            def _send(self, message: dict) -> None:
                try:
                    self.wfile.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
                    self.wfile.flush()
                except OSError:  # the client went away; the build goes on
                    pass

        old_umask = os.umask(0o177)  # the socket file is created 0600: only this user can connect
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        finally:
            os.umask(old_umask)
        self._server.daemon_threads = True
        serve = functools.partial(self._server.serve_forever, poll_interval=0.1)  # stop() waits one interval
        threading.Thread(target=serve, name="build-service", daemon=True).start()
        log.info("taking builds of %s on %s", self.settings.index_dir, self.path)
        return True

    def serve(self, request: dict, send: Callable[[dict], None]) -> None:
        """Run one build request ({"settings": Settings JSON, "rebuild": bool, "wait": bool}), sending
        {"accepted": pid}, {"progress": [embedded, to_embed]}..., then {"report": ...} or the reason not."""
        try:
            settings = Settings.model_validate(request["settings"])
        except (KeyError, ValueError) as error:  # e.g. from another version of rag
            return send({"declined": f"unreadable request ({error})"})
        if location_key(settings) != location_key(self.settings):
            return send({"declined": f"this process serves {location_key(self.settings)}"})
        if _embedder_settings(settings) != _embedder_settings(self.settings):
            return send({"declined": "this process has a different embedder configuration"})
        send({"accepted": os.getpid()})
        try:
            report = build_index(
                settings,
                self.embedder,
                force=bool(request.get("rebuild")),
                show_progress=False,
                wait=bool(request.get("wait", True)),
                progress=lambda done, total: send({"progress": [done, total]}),
            )
        except IndexBusyError as error:
            return send({"busy": str(error)})
        except Exception as error:  # reported to the client, which fails with the message
            log.exception("build requested over %s failed", self.path)
            return send({"error": f"{type(error).__name__}: {error}"})
        send({"report": dataclasses.asdict(report)})

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self.path.unlink(missing_ok=True)
            self._server = None


def _ours(path: Path) -> bool:
    """The socket file belongs to this user (in a shared temp folder, anyone could create one)."""
    return path.stat().st_uid == os.getuid()


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def build_in_running_process(
    settings: Settings,
    rebuild: bool = False,
    wait: bool = True,
    on_accept: Callable[[int], None] | None = None,
    show_progress: bool = True,
) -> BuildReport | None:
    """Have the running app or watcher of `settings.index_dir` build it and return its report, or None
    when no process takes the build (then build here). `on_accept(pid)` is called when one does.
    Raises IndexBusyError like `build_index`, HandoffError when the build failed over there."""
    from tqdm import tqdm

    path = socket_path(location_key(settings))
    if not path.exists() or not _ours(path):
        return None
    request = {"settings": settings.model_dump(mode="json"), "rebuild": rebuild, "wait": wait}
    bar: tqdm | None = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(str(path))
        except OSError:  # a socket left by a process that died
            return None
        connection.sendall((json.dumps(request, ensure_ascii=False) + "\n").encode())
        try:
            for reply in map(json.loads, connection.makefile("rb")):
                if "declined" in reply:
                    log.info("the running process declined the build (%s); building here", reply["declined"])
                    return None
                if "accepted" in reply and on_accept:
                    on_accept(reply["accepted"])
                if "progress" in reply and show_progress:
                    done, total = reply["progress"]
                    bar = bar or tqdm(total=total, desc="embedding", unit="chunk")
                    bar.update(done - bar.n)
                if "busy" in reply:
                    raise IndexBusyError(reply["busy"])
                if "error" in reply:
                    raise HandoffError(f"the running process failed to build: {reply['error']}")
                if "report" in reply:
                    return BuildReport(**reply["report"])
        finally:
            if bar:
                bar.close()
    log.warning("the process serving %s stopped during the build; building here", settings.index_dir)
    return None
