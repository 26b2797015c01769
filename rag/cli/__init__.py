"""The `rag` command (`rag.cli:run`), one module per kind of command: building the index, asking, serving."""

from rag.cli import asking, building, serving  # noqa: F401 - each registers its commands on the app
from rag.cli.common import READER_CANNOT_RUN, app, run

__all__ = ["READER_CANNOT_RUN", "app", "run"]
