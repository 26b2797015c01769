"""Index builds started over HTTP: one at a time in a background thread, with progress and the last report."""

from __future__ import annotations

import logging
import threading
import time

from pydantic import BaseModel

from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import BuildReport, build_index

log = logging.getLogger(__name__)


class BuildStatus(BaseModel):
    """Whether a build runs, how far it is, and how the last one ended."""

    state: str  # idle | building
    started_at: float | None = None
    embedded: int = 0
    to_embed: int = 0
    queued: bool = False  # another build follows this one (articles changed while it ran)
    last: BuildReport | None = None
    error: str | None = None


class BuildAlreadyRunning(RuntimeError):
    """A build is running; its progress is at GET /v1/index."""


class Builder:
    """Runs builds of the index with the server's loaded embedder, one at a time."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._lock = threading.Lock()
        self._status = BuildStatus(state="idle")
        self._thread: threading.Thread | None = None

    def status(self) -> BuildStatus:
        with self._lock:
            return self._status.model_copy()

    def start(self, force: bool = False) -> BuildStatus:
        """Start a build; raises BuildAlreadyRunning when one runs."""
        with self._lock:
            if self._status.state == "building":
                raise BuildAlreadyRunning("a build is already running; see GET /v1/index")
            return self._begin(force)

    def request(self) -> BuildStatus:
        """Start a build, or have one follow the running build (the articles changed since it began)."""
        with self._lock:
            if self._status.state == "building":
                self._status.queued = True
                return self._status.model_copy()
            return self._begin(False)

    def _begin(self, force: bool) -> BuildStatus:
        self._status = self._status.model_copy(
            update={"state": "building", "started_at": time.time(), "embedded": 0, "to_embed": 0, "queued": False}
        )
        self._thread = threading.Thread(target=self._run, args=(force,), name="index-build", daemon=True)
        self._thread.start()
        return self._status.model_copy()

    def _progress(self, embedded: int, to_embed: int) -> None:
        with self._lock:
            self._status.embedded, self._status.to_embed = embedded, to_embed

    def _run(self, force: bool) -> None:
        while True:
            report, error = None, None
            try:
                report = build_index(self.settings, self.embedder, force, show_progress=False, progress=self._progress)
            except Exception as failure:  # reported at GET /v1/index; the server goes on with the old index
                log.exception("index build failed")
                error = f"{type(failure).__name__}: {failure}"
            with self._lock:
                again = self._status.queued
                self._status = self._status.model_copy(
                    update={"last": report, "error": error, "queued": False, "embedded": 0, "to_embed": 0}
                )
                if not again:
                    self._status.state = "idle"
                    return
                self._status.started_at = time.time()
            force = False

    def wait(self, timeout: float | None = None) -> None:
        """Until the running build (if any) ends."""
        if self._thread is not None:
            self._thread.join(timeout)
