"""The entry point: `python app.py` serves the chat page and the HTTP API (as `rag serve` does)."""

import logging

from rag.server.start import serve

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    serve()
