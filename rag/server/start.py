"""Starting the server: the models, the build service, the HTTP API with the chat page mounted on it (one process,
one copy of the models, one set of limits), and uvicorn, which SIGTERM stops once requests in flight are done."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import FrameType

import gradio as gr
import uvicorn
from starlette.routing import Mount

from rag.answering import Assistant
from rag.config import Settings
from rag.generators import warm_up
from rag.handoff import BuildService
from rag.retrieval import Index
from rag.server.auth import chat_login, exposure_problem
from rag.server.http import create_api
from rag.server.limits import Limits
from rag.ui import CSS, build_app

log = logging.getLogger(__name__)


def serve(settings: Settings | None = None) -> None:
    """Load the models, then serve the chat page and the HTTP API on settings.server (127.0.0.1:7860 by default).
    Exits with a one-line reason when the server would be reachable from the network without keys and logins."""
    settings = settings or Settings()
    server = settings.server
    if problem := exposure_problem(server):
        raise SystemExit(f"error: {problem}")
    assistant = Assistant(Index(settings))

    # The models load while the server starts, the reader (in its own process) beside the embedder; a question
    # asked meanwhile waits for them (the loading locks).
    warm_up(assistant.generator)  # (extractive answers use it too: the abstention signal and the answer span)
    threading.Thread(
        target=assistant.index.embedder.encode_query, args=("warm up",), name="load-embedder", daemon=True
    ).start()
    service = BuildService(settings, assistant.index.embedder)  # `rag index` hands its builds to the app
    service.start()
    limits = Limits.of(server)
    api = create_api(assistant, limits=limits)
    demo = build_app(assistant, limits)
    gr.mount_gradio_app(
        api,
        demo,
        path="",
        auth=chat_login(server),
        css=CSS,
        footer_links=["api"],
        max_file_size=int(settings.max_article_mb * 2**20),
        enable_monitoring=False,
        ssr_mode=False,
        show_error=True,
    )
    pages = next(route.app for route in api.routes if isinstance(route, Mount))  # the mounted Gradio app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The chat page's heartbeat streams never end by themselves: end them, so that shutting down waits
            # only for the requests in flight (answers, uploads), as for the API.
            # The signal handler runs in the event loop's thread.
            demo.is_running = False
            asyncio.get_running_loop().call_soon_threadsafe(pages.stop_event.set)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        api,
        host=server.host,
        port=server.port,
        log_level="warning",
        timeout_graceful_shutdown=int(server.request_timeout),
        # X-Forwarded-For names the client only behind a proxy, and only from the proxy: elsewhere a local
        # client could pick the address it counts against.
        proxy_headers=server.behind_proxy,
        forwarded_allow_ips=server.proxy_addresses,
    )
    log.info("serving on http://%s:%s (API docs at /docs)", server.host, server.port)
    try:
        Server(config).run()
    finally:
        service.stop()
