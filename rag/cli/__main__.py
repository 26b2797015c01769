"""`python -m rag.cli`: the `rag` command."""

from rag.cli import run

run()
