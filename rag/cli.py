"""The `rag` command: index, search, ask, serve, models."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.config import Settings

app = typer.Typer(help="Offline question answering over news articles, with cited passages.", no_args_is_help=True)
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


def _settings(store: str | None = None, **overrides: Any) -> Settings:
    settings = Settings()
    if store:  # validated again: a folder URI sets index_dir
        settings = Settings(store=settings.store.model_copy(update={"uri": store}))
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _where(settings: Settings) -> str:
    """Where the index is, as a user would name it: its folder, or the Milvus URI and collection prefix."""
    uri = settings.store.uri
    return f"{uri} (collections {settings.store.collection}_*)" if settings.store.is_milvus else str(settings.index_dir)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _open_index(settings: Settings):  # untyped: a lazy import keeps `rag --help` fast
    from rag.retrieval import Index
    from rag.stores import IndexProblem

    try:
        return Index(settings)
    except IndexProblem as error:
        _fail(str(error))


def _stop_on_sigterm() -> None:
    """Let SIGTERM (`kill`, service managers) unwind like Ctrl-C, so `finally` blocks clean up."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


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

    settings = _settings(store, seeds_dir=seeds, index_dir=index_dir)
    if ray_address:
        settings.ray.address = ray_address

    def accepted(pid: int) -> None:
        typer.echo(f"building in the running process {pid}, whose embedder is loaded", err=True)

    try:
        report = None if local or ray else build_in_running_process(settings, rebuild, not no_wait, accepted)
        if report is None:
            report = build_index(settings, force=rebuild, wait=not no_wait, ray=ray)
    except (FileNotFoundError, IndexBusyError, HandoffError, ImportError, ConnectionError) as error:
        _fail(str(error))
    for problem in report.problems:
        typer.echo(f"warning: {problem}", err=True)
    for line in report.merged:
        typer.echo(f"note: {line}", err=True)
    if report.built:
        typer.echo(
            f"indexed {report.articles} articles ({report.added} added, {report.updated} updated, "
            f"{report.removed} removed, {report.unchanged} unchanged): {report.chunks} chunks, "
            f"{report.embedded} embedded, in {report.seconds:.1f}s ({report.reason}) -> {_where(settings)}"
        )
    else:
        typer.echo(f"index is up to date ({report.articles} articles unchanged) in {_where(settings)}")
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
        _fail("give one or more URLs, or --feed URL")
    settings = _settings(seeds_dir=seeds)
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
def search(
    query: str,
    index_dir: IndexOption = None,
    store: StoreOption = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many passages.")] = 5,
    as_json: JsonOption = False,
    server: ServerOption = None,
    api_key: KeyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
) -> None:
    """Print the passages most similar to the query."""
    from rag.client import Client, ServerError
    from rag.schemas import SearchResult

    scope = _scope(since, until, source)
    if server:
        try:
            result = Client(server, api_key).search(query, k, scope=scope)
        except ServerError as error:
            _fail(str(error))
    else:
        result = SearchResult.of(
            query, _open_index(_settings(store, index_dir=index_dir)).search(query, k, scope=scope)
        )
    if as_json:
        typer.echo(json.dumps(result.model_dump(), ensure_ascii=False, indent=2))
        return
    if not result.hits:
        typer.echo("no passages (none indexed, or none in the --since / --until / --source range)", err=True)
    for hit in result.hits:
        about = " · ".join(p for p in (hit.source, hit.date) if p)
        typer.echo(f"{hit.rank}. [{hit.score:.3f}] {hit.title}{f' · {about}' if about else ''} ({hit.article_id})")
        typer.echo(f"   {hit.text}\n")


@app.command()
def ask(
    question: str,
    index_dir: IndexOption = None,
    store: StoreOption = None,
    history: Annotated[
        list[str] | None,
        typer.Option("--history", help="An earlier question of the conversation (repeat, oldest first)."),
    ] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    api_key: KeyOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
) -> None:
    """Answer a question from the articles, citing the supporting sentences as [n]."""
    from rag.client import Client, ServerError
    from rag.schemas import AnswerRecord

    scope = _scope(since, until, source)
    if server:
        try:
            record = Client(server, api_key).ask(question, history or [], scope=scope)
        except ServerError as error:
            _fail(str(error))
    else:
        settings = _settings(store, index_dir=index_dir)
        record = AnswerRecord.of(_answer_here(question, history or [], settings, scope, live=not as_json))
    if as_json:
        typer.echo(json.dumps(record.model_dump(), ensure_ascii=False, indent=2))
        return
    typer.echo(record.answer)
    if record.notice:
        typer.echo(f"note: {record.notice}", err=True)
    for citation in record.citations:
        link = f"\n    {citation.url}" if citation.url else ""
        typer.echo(f"\n[{citation.n}] {citation.label()}\n    {citation.span_text}{link}")


def _scope(since: str | None, until: str | None, sources: list[str] | None):  # -> Scope (lazy import)
    """The --since / --until / --source options as a Scope; a date that cannot be read stops with why."""
    from rag.dates import iso_date
    from rag.types import Scope

    dates = []
    for flag, value in (("--since", since), ("--until", until)):
        day = iso_date(value) if value else None
        if value and day is None:
            _fail(f"{flag} {value!r}: not a date (write it as YYYY-MM-DD, or e.g. '3 March 2025')")
        dates.append(day)
    return Scope(since=dates[0], until=dates[1], sources=tuple(sources or ()))


def _answer_here(question: str, history: list[str], settings: Settings, scope, live: bool):  # lazy types
    """Answer with models loaded in this process; the model's raw words shown dimmed on stderr meanwhile."""
    from rag.answering import Assistant
    from rag.types import Answer

    assistant = Assistant(_open_index(settings))
    live = live and sys.stderr.isatty()
    shown = ""
    answer: Answer | None = None
    for event in assistant.stream(question, history, scope=scope):
        if isinstance(event, Answer):
            answer = event
        elif live and isinstance(event, str):
            typer.secho(event[len(shown) :], nl=False, err=True, dim=True)
            shown = event
    assert answer is not None
    if shown:
        typer.echo("", err=True)
    return answer


@app.command("eval")
def eval_(
    passages: Annotated[Path, typer.Option(help="Passages JSONL: id, lang, title, text.")],
    questions: Annotated[Path, typer.Option(help="Questions JSONL: id, lang, question, passage_id.")],
    k: Annotated[str, typer.Option("--k", help="Cut-offs for recall, comma-separated.")] = "1,5,10",
    mode: Annotated[
        str | None, typer.Option(help="dense, lexical, hybrid, or a comma list (default: settings.retrieval.mode).")
    ] = None,
    distractors: Annotated[Path | None, typer.Option(help="Extra articles (corpus JSONL[.gz]) mixed in.")] = None,
    max_distractors: Annotated[int, typer.Option(min=0, help="How many distractor articles.")] = 500,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    answers: Annotated[bool, typer.Option("--answers", help="Also answer every question and score it.")] = False,
    unanswerable: Annotated[
        bool, typer.Option("--unanswerable", help="Also ask each question with its gold passage left out.")
    ] = False,
    warm: Annotated[
        bool, typer.Option("--warm", help="Reuse cached embeddings when answering (faster; timings then understate).")
    ] = False,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Measure retrieval (recall@k, MRR@10) and answers on a QA set, with a temporary index built by the real pipeline."""
    from rag.answering import Assistant
    from rag.evaluate import evaluate_answers, evaluate_retrieval, read_jsonl, temporary_index
    from rag.retrieval import MODES

    settings = _settings(store)
    try:
        ks = sorted({int(x) for x in k.split(",")})
    except ValueError:
        _fail(f"--k takes comma-separated whole numbers, got {k!r}")
    modes = (mode or settings.retrieval.mode).split(",")
    if bad := [m for m in modes if m not in MODES]:
        _fail(f"--mode must be among {', '.join(MODES)}, got {', '.join(bad)}")
    for path in (passages, questions, distractors):
        if path is not None and not path.is_file():
            _fail(f"file not found: {path}")
    extra = read_jsonl(distractors, max_distractors) if distractors else []
    with temporary_index(settings, read_jsonl(passages), extra) as index:
        asked = read_jsonl(questions, limit)
        runs = [evaluate_retrieval(index, asked, ks, m, show_progress=not as_json) for m in modes]
        answer_runs = [False] * answers + [True] * unanswerable
        if answer_runs:
            assistant = Assistant(index)
            scored = [evaluate_answers(assistant, asked, u, not as_json, cold=not warm) for u in answer_runs]
    for run in runs:
        run.update(questions=str(questions), distractors=len(extra))
        if answer_runs:
            run.update(answer_mode=settings.answer.mode)
            for result in scored:
                run["unanswerable" if result["unanswerable_mode"] else "answers"] = result
                run.update(
                    {k: v for k, v in result.items() if k not in ("n_questions", "unanswerable_mode")}
                    if not result["unanswerable_mode"]
                    else {k: result[k] for k in ("abstention_rate", "abstention_rate_true_unanswerable")}
                )
    if as_json:
        typer.echo(json.dumps(runs[0] if len(runs) == 1 else {"runs": runs}, ensure_ascii=False, indent=2))
        return
    columns = [f"recall@{x}" for x in ks] + ["mrr@10"]
    typer.echo(f"{questions} ({len(asked)} questions, {len(extra)} distractor articles)")
    typer.echo(f"{'mode':8} {'lang':5} {'n':>5} " + " ".join(f"{c:>9}" for c in columns))
    for run in runs:
        for lang, metrics in [("all", run), *run["by_lang"].items()]:
            figures = " ".join(f"{metrics[c]:9.3f}" for c in columns)
            typer.echo(f"{run['mode']:8} {lang:5} {metrics['n_questions']:5d} {figures}")
        figures = " ".join(f"{run['gold_text_' + c]:9.3f}" for c in columns)
        typer.echo(f"{run['mode']:8} {'text':5} {run['n_questions']:5d} {figures}  (a twin of the gold passage counts)")
    for key in ("answers", "unanswerable"):
        if key in runs[0]:
            summary = {k: v for k, v in runs[0][key].items() if k != "details"}
            typer.echo(f"{key} ({runs[0]['answer_mode']}): " + json.dumps(summary, ensure_ascii=False))


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

    settings = _settings(store, index_dir=index_dir)
    _stop_on_sigterm()  # uvicorn drains requests first, then raises the signal again: it ends here, cleanly
    given = {"host": host, "port": port, "behind_proxy": behind_proxy or None}
    server = settings.server.model_copy(update={k: v for k, v in given.items() if v})
    try:
        start(settings.model_copy(update={"server": server}))
    except IndexProblem as error:
        _fail(str(error))


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
        _fail(problem)
    _stop_on_sigterm()
    typer.echo(f"serving {file} at http://{host}:{port} (Ctrl-C to stop)")
    try:
        serve_lite(file, f"{host}:{port}")
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:
        _fail(str(error))


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

    settings = _settings(store, seeds_dir=seeds, index_dir=index_dir)
    embedder = Embedder(settings.embedder, settings.models_dir)
    service = BuildService(settings, embedder)  # `rag index` hands its builds to this process
    _stop_on_sigterm()

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


@app.command()
def models() -> None:
    """Download, verify and assemble the configured models into the model cache, then run the reader once in a
    child process (load, decode a few tokens; once per llama.cpp build and model) and say what it runs on; exit 3
    if it cannot run here."""
    from rag.embedders import is_remote as is_remote_embedder
    from rag.generators import is_remote
    from rag.generators.probe import check_reader
    from rag.models import embedder_location, llm_location

    settings = Settings()
    if is_remote_embedder(settings.embedder.model):
        typer.echo(f"embedder: the server at {settings.embedder.model} (nothing to provision)")
    else:
        typer.echo(f"embedder: {embedder_location(settings.embedder.model, settings.models_dir)}")
    if is_remote(settings.llm.model):
        typer.echo(f"llm: the server at {settings.llm.model} (nothing to provision)")
        return
    path = llm_location(settings.llm.model, settings.models_dir)
    typer.echo(f"llm: {path}")
    runs, line = check_reader(path, settings.llm.threads)
    if not runs:
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(READER_CANNOT_RUN)
    typer.echo(f"reader: {line}")


def run() -> None:
    """The `rag` command: an embedding server that fails mid-command ends it with one line, not a traceback."""
    from rag.embedders import EmbedderError

    try:
        app()
    except EmbedderError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
