"""`rag serve`, `rag milvus-lite` and `rag models`: the server, Milvus Lite's server, and the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import (
    READER_CANNOT_RUN,
    IndexOption,
    StoreOption,
    app,
    fail,
    settings_for,
    stop_on_sigterm,
)
from rag.config import Settings


@app.command()
def serve(
    index_dir: IndexOption = None,
    store: StoreOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings.server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.server.port).")] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy", help="Served through a reverse proxy here: keys, logins and allowed hosts required."
        ),
    ] = False,
) -> None:
    """Start the chat page and the HTTP API (docs at /docs). SIGTERM lets requests in flight finish."""
    from rag.server.start import serve as start
    from rag.stores import IndexProblem

    settings = settings_for(store, index_dir=index_dir)
    stop_on_sigterm()  # uvicorn drains requests first, then raises the signal again: it ends here, cleanly
    given = {"host": host, "port": port, "behind_proxy": behind_proxy or None}
    server = settings.server.model_copy(update={k: v for k, v in given.items() if v})
    try:
        start(settings.model_copy(update={"server": server}))
    except IndexProblem as error:
        fail(str(error))


@app.command("milvus-lite")
def milvus_lite(
    file: Annotated[Path, typer.Argument(help="The Milvus Lite file (*.db; made when missing).")],
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 19530,
    unprotected: Annotated[
        bool, typer.Option("--unprotected", help="Serve off loopback although Milvus Lite asks for no password.")
    ] = False,
) -> None:
    """Serve a Milvus Lite file on a port, for several processes (`--store http://HOST:PORT`); Ctrl-C stops."""
    from rag.stores.milvus.lite import exposure_problem, serve_lite

    if problem := exposure_problem(host, unprotected):
        fail(problem)
    stop_on_sigterm()
    typer.echo(f"serving {file} at http://{host}:{port} (Ctrl-C to stop)")
    try:
        serve_lite(file, f"{host}:{port}")
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:
        fail(str(error))


@app.command()
def models() -> None:
    """Download, verify and assemble the configured models into the model cache, then run the reader once in a
    child process (load, decode a few tokens; once per llama.cpp build and model) and say what it runs on; exit 3
    if it cannot run here."""
    from rag.generators.probe import check_reader
    from rag.models import embedder_location, llm_location

    settings = Settings()
    if settings.embedder.is_server:
        typer.echo(f"embedder: the server at {settings.embedder.model} (nothing to provision)")
    else:
        typer.echo(f"embedder: {embedder_location(settings.embedder.model, settings.models_dir)}")
    if settings.llm.is_server:
        typer.echo(f"llm: the server at {settings.llm.model} (nothing to provision)")
        return
    path = llm_location(settings.llm.model, settings.models_dir)
    typer.echo(f"llm: {path}")
    runs, line = check_reader(path, settings.llm.threads)
    if not runs:
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(READER_CANNOT_RUN)
    typer.echo(f"reader: {line}")
