"""`rag index`, `rag add` and `rag watch`: keeping the index in line with the articles folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import (
    IndexOption,
    StoreOption,
    app,
    fail,
    settings_for,
    stop_on_sigterm,
    where,
)


@app.command()
def index(
    seeds: Annotated[
        Path | None, typer.Option("--seeds", help="Articles folder (default: settings.seeds_dir).")
    ] = None,
    index_dir: IndexOption = None,
    store: StoreOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything, even unchanged articles.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Exit if another build is running.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Build in this process even when a running `rag serve` / `rag watch` could.")
    ] = False,
    ray: Annotated[
        bool, typer.Option("--ray", help="Chunk and embed on a Ray cluster (Ray Data, embedder actors).")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="The cluster for --ray, e.g. ray://head:10001 (default: RAY_ADDRESS, a `ray start` cluster on this "
            "machine, else a new local one).",
        ),
    ] = None,
) -> None:
    """Bring the index in line with the articles folder, embedding only new and changed articles.

    While `rag serve` or `rag watch` runs on the same index, the build is done there, by its loaded embedder
    (not with --ray or --local)."""
    from rag.handoff import HandoffError, build_in_running_process
    from rag.indexing import build_index
    from rag.stores import IndexBusyError

    settings = settings_for(store, seeds_dir=seeds, index_dir=index_dir)
    if ray_address:
        settings.ray.address = ray_address

    def accepted(pid: int) -> None:
        typer.echo(f"building in the running process {pid}, whose embedder is loaded", err=True)

    try:
        report = None if local or ray else build_in_running_process(settings, rebuild, not no_wait, accepted)
        if report is None:
            report = build_index(settings, force=rebuild, wait=not no_wait, ray=ray)
    except (FileNotFoundError, IndexBusyError, HandoffError, ImportError, ConnectionError) as error:
        fail(str(error))
    for problem in report.problems:
        typer.echo(f"warning: {problem}", err=True)
    for line in report.merged:
        typer.echo(f"note: {line}", err=True)
    if report.built:
        typer.echo(
            f"indexed {report.articles} articles ({report.added} added, {report.updated} updated, "
            f"{report.removed} removed, {report.unchanged} unchanged): {report.chunks} chunks, "
            f"{report.embedded} embedded, in {report.seconds:.1f}s ({report.reason}) -> {where(settings)}"
        )
    else:
        typer.echo(f"index is up to date ({report.articles} articles unchanged) in {where(settings)}")
    if report.problems:
        raise typer.Exit(1)


@app.command()
def add(
    urls: Annotated[list[str] | None, typer.Argument(help="Article pages to fetch (http or https).")] = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="An RSS or Atom feed whose new articles to fetch (repeat).")
    ] = None,
    seeds: Annotated[
        Path | None, typer.Option("--seeds", help="Articles folder (default: settings.seeds_dir).")
    ] = None,
    then_index: Annotated[bool, typer.Option("--index", help="Bring the index up to date afterwards.")] = False,
) -> None:
    """Fetch web pages, or the new articles of feeds, into the articles folder (as .html, with their address)."""
    from rag.fetching import AddReport, add_feed, add_urls

    if not urls and not feed:
        fail("give one or more URLs, or --feed URL")
    settings = settings_for(seeds_dir=seeds)
    settings.seeds_dir.mkdir(parents=True, exist_ok=True)
    reports = [add_urls(urls or [], settings.seeds_dir, settings.fetch)]
    reports += [add_feed(url, settings.seeds_dir, settings.fetch) for url in feed or []]
    total = AddReport()
    for report in reports:
        for name in ("saved", "seen", "problems", "notes"):
            getattr(total, name).extend(getattr(report, name))
    for line in total.notes:
        typer.echo(f"note: {line}", err=True)
    for line in total.problems:
        typer.echo(f"warning: {line}", err=True)
    for path in total.saved:
        typer.echo(f"saved {path}")
    typer.echo(f"{len(total.saved)} saved, {len(total.seen)} already saved, {len(total.problems)} failed")
    if then_index and total.saved:
        index(
            seeds=settings.seeds_dir,
            index_dir=None,
            rebuild=False,
            no_wait=False,
            local=False,
            ray=False,
            ray_address=None,
        )
    elif total.saved:
        typer.echo("run `rag index` to index them (a running `rag watch` does it by itself)")
    if total.problems:
        raise typer.Exit(1)


@app.command()
def watch(
    seeds: Annotated[
        Path | None, typer.Option("--seeds", help="Articles folder (default: settings.seeds_dir).")
    ] = None,
    index_dir: IndexOption = None,
    store: StoreOption = None,
) -> None:
    """Keep the index in line with the articles folder: re-index whenever its files change (Ctrl-C stops)."""
    from rag.embedding import Embedder
    from rag.handoff import BuildService
    from rag.indexing import BuildReport
    from rag.watching import watch as watch_folder

    settings = settings_for(store, seeds_dir=seeds, index_dir=index_dir)
    embedder = Embedder(settings.embedder, settings.models_dir)
    service = BuildService(settings, embedder)  # `rag index` hands its builds to this process
    stop_on_sigterm()

    def report(result: BuildReport) -> None:
        for problem in result.problems:
            typer.echo(f"warning: {problem}", err=True)
        typer.echo(
            f"{result.articles} articles: {result.added} added, {result.updated} updated, {result.removed} removed, "
            f"{result.unchanged} unchanged ({result.seconds:.1f}s)"
        )

    typer.echo(f"watching {settings.seeds_dir} (Ctrl-C to stop)")
    service.start()
    try:
        embedder.encode_query("warm up")  # load the embedder now, not at the first change or hand-over
        watch_folder(settings, report, embedder=embedder)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
