"""The HTTP API beside the chat: routes, keys and limits (`create_api`); app.py mounts the chat page on it."""

from rag.server.auth import exposure_problem
from rag.server.http import create_api

__all__ = ["create_api", "exposure_problem"]
