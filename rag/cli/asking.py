"""`rag search`, `rag ask` and `rag eval`: questions, here or through a running server, and their measure."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.common import (
    IndexOption,
    JsonOption,
    KeyOption,
    ServerOption,
    SinceOption,
    SourceOption,
    StoreOption,
    UntilOption,
    app,
    fail,
    open_index,
    settings_for,
)
from rag.config import Settings


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
            fail(str(error))
    else:
        result = SearchResult.of(
            query, open_index(settings_for(store, index_dir=index_dir)).search(query, k, scope=scope)
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
            fail(str(error))
    else:
        settings = settings_for(store, index_dir=index_dir)
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
            fail(f"{flag} {value!r}: not a date (write it as YYYY-MM-DD, or e.g. '3 March 2025')")
        dates.append(day)
    return Scope(since=dates[0], until=dates[1], sources=tuple(sources or ()))


def _answer_here(question: str, history: list[str], settings: Settings, scope, live: bool):  # lazy types
    """Answer with models loaded in this process; the model's raw words shown dimmed on stderr meanwhile. The reader
    starts (in its own process) while this one loads the embedder."""
    from rag.answering import Assistant
    from rag.generators import load_generator, warm_up
    from rag.types import Answer

    generator = load_generator(settings.llm, settings.answer, settings.models_dir)
    warm_up(generator)
    assistant = Assistant(open_index(settings), generator)
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

    settings = settings_for(store)
    try:
        ks = sorted({int(x) for x in k.split(",")})
    except ValueError:
        fail(f"--k takes comma-separated whole numbers, got {k!r}")
    modes = (mode or settings.retrieval.mode).split(",")
    if bad := [m for m in modes if m not in MODES]:
        fail(f"--mode must be among {', '.join(MODES)}, got {', '.join(bad)}")
    for path in (passages, questions, distractors):
        if path is not None and not path.is_file():
            fail(f"file not found: {path}")
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
