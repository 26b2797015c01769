"""The HTTP API beside the chat: routes, keys and limits (`create_api`); rag/server/start.py serves it
with the chat page (rag/ui.py) mounted on it."""

from rag.server.auth import exposure_problem
from rag.server.http import create_api

__all__ = ["create_api", "exposure_problem"]
