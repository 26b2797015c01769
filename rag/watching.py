"""`rag watch`: rebuild the index whenever files in the articles folder change (debounced)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import BuildReport, build_index

log = logging.getLogger(__name__)


def watch(
    settings: Settings,
    on_build: Callable[[BuildReport], None],
    quiet_seconds: float = 2.0,
    stop: threading.Event | None = None,
    embedder: Embedder | None = None,
) -> None:
    """Build once, then again each time the folder has been quiet for `quiet_seconds` after a change."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    changed = threading.Event()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in ("opened", "closed_no_write"):
                changed.set()

    stop = stop or threading.Event()
    embedder = embedder or Embedder(settings.embedder, settings.models_dir)  # loaded once, reused by every rebuild
    on_build(build_index(settings, embedder, show_progress=False))
    observer = Observer()
    observer.schedule(Handler(), str(settings.seeds_dir), recursive=True)
    observer.start()
    try:
        while not stop.is_set():
            if not changed.wait(timeout=0.5):
                continue
            while changed.is_set():  # wait until writes settle
                changed.clear()
                time.sleep(quiet_seconds)
            on_build(build_index(settings, embedder, show_progress=False))
    finally:
        observer.stop()
        observer.join()
