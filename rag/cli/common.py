"""What every `rag` command shares: the app, the options, the settings with the command's overrides, one-line
failures, and `run`, the entry point."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from rag.config import Settings

app = typer.Typer(
    help="Offline question answering over news articles, with cited passages.",
    no_args_is_help=True,
    rich_markup_mode=None,  # help texts are plain: "[n]" is a citation mark, not markup
)
READER_CANNOT_RUN = 3  # `rag models`: the reader probe failed (the Makefile then builds llama.cpp a level down)
log = logging.getLogger("rag")

IndexOption = Annotated[Path | None, typer.Option("--index", help="Index folder (default: settings.index_dir).")]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Index store: a folder, a Milvus Lite file (*.db) or a Milvus server URL (RAG_STORE__URI)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object (the scripting contract).")]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="URL of a running `rag serve` to use instead of loading models here."),
]
KeyOption = Annotated[
    str | None, typer.Option("--api-key", envvar="RAG_API_KEY", help="API key for --server (or RAG_API_KEY).")
]
SinceOption = Annotated[str | None, typer.Option("--since", help="Only articles dated on or after this day.")]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only articles dated on or before this day.")]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only articles from this source or site (repeat for more).")
]


def settings_for(store: str | None = None, **overrides: Any) -> Settings:
    """The settings, with the command's --store and other overrides (None: left as configured)."""
    settings = Settings()
    if store:  # validated again: a folder URI sets index_dir
        settings = Settings(store=settings.store.model_copy(update={"uri": store}))
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def where(settings: Settings) -> str:
    """Where the index is, as a user would name it: its folder, or the Milvus URI and collection prefix."""
    uri = settings.store.uri
    return f"{uri} (collections {settings.store.collection}_*)" if settings.store.is_milvus else str(settings.index_dir)


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def open_index(settings: Settings):  # untyped: a lazy import keeps `rag --help` fast
    from rag.retrieval import Index
    from rag.stores import IndexProblem

    try:
        return Index(settings)
    except IndexProblem as error:
        fail(str(error))


def stop_on_sigterm() -> None:
    """Let SIGTERM (`kill`, service managers) unwind like Ctrl-C, so `finally` blocks clean up."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


def run() -> None:
    """The `rag` command: an embedding server that fails mid-command ends it with one line, not a traceback."""
    from rag.embedders import EmbedderError

    code: object = 0
    try:
        app()
    except EmbedderError as error:
        typer.echo(f"error: {error}", err=True)
        code = 2
    except SystemExit as done:
        code = done.code
    leave(code)


def leave(code: object) -> NoReturn:
    """End the process as `sys.exit(code)` would, but for the interpreter's teardown of torch, transformers and
    their kin (about 1 s of every command that loaded a model, `bench/cold_start.py`): threads are joined and exit
    handlers run as at any exit, standard streams and logs are flushed, Milvus Lite engines are stopped (they
    stop in a finaliser otherwise), then the process ends."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else int(code)  # type: ignore[call-overload]
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # an interpreter without it: the usual way out
        sys.exit(status)
    shutdown()  # non-daemon threads, executors' workers included, as at a normal exit
    atexit._run_exitfuncs()
    if (lite := sys.modules.get("milvus_lite.server_manager")) is not None:
        lite.server_manager_instance.release_all()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
