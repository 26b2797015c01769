"""The Gradio chat UI: streamed, cited answers with a sources panel; calls only the public `rag` API."""

from __future__ import annotations

import html
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Answer, Assistant, BuildReport, Index, Settings, build_index
from rag.articles import SUFFIXES
from rag.handoff import BuildService

log = logging.getLogger(__name__)

# Each paragraph takes the direction of its first strong letter, so Arabic, English and mixed
# lines all read correctly in the same conversation.
CSS = """
#chat p, #chat li, .source p, .source .title { unicode-bidi: plaintext; text-align: start; }
.source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; margin-bottom: 8px; }
.source .title { font-weight: 600; margin-bottom: 4px; }
.source mark { background: #ffe58a; color: inherit; padding: 0 2px; }
"""
NO_SOURCES = "<p class='source-empty'>Sources of the last answer appear here.</p>"
HOW_ANSWERED = {
    "generated": "Written by the model from the highlighted sentences; every sentence was checked against its source.",
    "extractive": "Quoted from the highlighted sentence of the article.",
    "fallback": "The model's answer could not be verified, so the best evidence is quoted instead.",
}
NOTHING_RELEVANT = "<p class='source-empty' dir='auto'>No passage was relevant enough to answer from.</p>"


def sources_html(answer: Answer) -> str:
    """One box per citation: article title, the passage, the cited span highlighted."""
    if not answer.citations:
        return NOTHING_RELEVANT if answer.abstained else NO_SOURCES
    boxes = []
    for citation in answer.citations:
        hit = citation.hit
        before = hit.text[: citation.span_start - hit.start]
        after = hit.text[citation.span_end - hit.start :]
        passage = f"{html.escape(before)}<mark>{html.escape(citation.span_text)}</mark>{html.escape(after)}"
        boxes.append(
            f"<div class='source' dir='auto'><div class='title'>[{citation.n}] {html.escape(hit.title)}</div>"
            f"<p>{passage}</p><small>{html.escape(hit.article_id)} · {hit.start}–{hit.end}</small></div>"
        )
    note = HOW_ANSWERED.get(answer.method, "")
    return "\n".join(boxes) + (f"<p class='how'><small>{html.escape(note)}</small></p>" if note else "")


def build_summary(report: BuildReport) -> str:
    """One line on what a build did, then one line per skipped file."""
    if report.built:
        line = (
            f"Indexed {report.articles} articles: {report.added} added, {report.updated} updated, "
            f"{report.removed} removed, {report.unchanged} unchanged ({report.seconds:.1f}s)."
        )
    else:
        line = f"The index is up to date ({report.articles} articles)."
    return "\n".join([line, *(f"- {p}" for p in report.problems)])


def add_articles(paths: list[str], seeds_dir: Path, max_mb: float) -> list[str]:
    """Copy uploaded files into the articles folder; returns one line per file refused."""
    refused = []
    for path in map(Path, paths or []):
        name = path.name
        if path.suffix.lower() not in SUFFIXES or name.startswith("."):
            refused.append(f"{name}: not an article file ({', '.join(SUFFIXES)})")
        elif path.stat().st_size > max_mb * 2**20:
            refused.append(f"{name}: {path.stat().st_size / 2**20:.1f} MB is over the {max_mb:g} MB limit")
        else:
            shutil.copyfile(path, seeds_dir / name)
    return refused


def build_app(assistant: Assistant) -> gr.Blocks:
    """The chat page: conversation on the left, sources of the latest answer on the right."""
    settings = assistant.index.settings

    def rebuild(progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 - Gradio's idiom
        return build_summary(build_index(settings, assistant.index.embedder))

    def upload(paths: list[str], progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[None, str]:  # noqa: B008
        refused = add_articles(paths, settings.seeds_dir, settings.max_article_mb)
        summary = build_summary(build_index(settings, assistant.index.embedder))
        return None, "\n".join([summary, *(f"- refused {r}" for r in refused)])

    def respond(message: str, history: list[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], str, str]]:
        message = (message or "").strip()
        if not message:
            yield history, NO_SOURCES, ""
            return
        asked = [str(m["content"]) for m in history if m.get("role") == "user"]
        history = [*history, {"role": "user", "content": message}, {"role": "assistant", "content": "…"}]
        yield history, NO_SOURCES, ""
        for event in assistant.stream(message, asked):
            if isinstance(event, Answer):
                history[-1] = {"role": "assistant", "content": event.text}
                yield history, sources_html(event), ""
            else:
                history[-1] = {"role": "assistant", "content": event}
                yield history, NO_SOURCES, ""

    with gr.Blocks(title="News QA") as demo:
        gr.Markdown("## News QA\nAsk in Arabic or English; answers cite the article passages as [n].")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(elem_id="chat", height=520, label="Conversation")
                question = gr.Textbox(placeholder="اسأل عن المقالات… / Ask about the articles…", show_label=False)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    clear = gr.Button("New conversation")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(NO_SOURCES)
                with gr.Accordion("Articles", open=False):
                    files = gr.File(
                        file_count="multiple",
                        file_types=list(SUFFIXES),
                        label=f"Add articles (≤ {settings.max_article_mb:g} MB each)",
                    )
                    with gr.Row():
                        add = gr.Button("Add and index")
                        rebuild_button = gr.Button("Rebuild index")
                    status = gr.Markdown()
        outputs = [chat, sources, question]
        question.submit(respond, [question, chat], outputs, api_name="ask")
        send.click(respond, [question, chat], outputs, api_name=False)
        clear.click(lambda: ([], NO_SOURCES, ""), None, outputs, api_name=False)
        add.click(upload, files, [files, status], api_name="add_articles")
        rebuild_button.click(rebuild, None, status, api_name="rebuild")
    return demo


def serve(settings: Settings | None = None) -> None:
    """Load the models, then serve the UI on settings.server (127.0.0.1:7860 by default)."""
    settings = settings or Settings()
    assistant = Assistant(Index(settings))

    def load_models() -> None:
        assistant.index.embedder.encode_query("warm up")
        if settings.answer.mode == "generate":
            assistant.generator.llm  # noqa: B018 - property access loads the model

    # The models load while the UI starts; a question asked meanwhile waits for them (the loading lock).
    threading.Thread(target=load_models, name="load-models", daemon=True).start()
    service = BuildService(settings, assistant.index.embedder)  # `rag index` hands its builds to the app
    service.start()
    demo = build_app(assistant)
    try:
        demo.queue().launch(
            server_name=settings.server.host, server_port=settings.server.port or None, css=CSS, footer_links=["api"]
        )
    finally:
        service.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    serve()
