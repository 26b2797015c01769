"""The chat page (Gradio): streamed, cited answers with a sources panel; calls only the public `rag` API.
rag/server/start.py mounts it on the HTTP API."""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gradio as gr

from rag import Answer, Assistant, BuildReport, Citation, Hit, Progress, Span, build_index
from rag.articles import SUFFIXES
from rag.readers.web import web_url
from rag.schemas import AnswerRecord
from rag.server.limits import Busy, Limits, TimedOut, length_problem
from rag.uploads import save_uploads

log = logging.getLogger(__name__)

# Each paragraph takes the direction of its first strong letter, so Arabic, English and mixed
# lines all read correctly in the same conversation.
CSS = """
#chat .message p, #chat .message li, #chat .message span.md, .source p, .source .title { unicode-bidi: plaintext; text-align: start; }
#chat .message .prose, #chat .message .message-content { direction: ltr; }
.source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px; margin-bottom: 8px; }
.source .title { font-weight: 600; margin-bottom: 4px; }
.source mark { background: #ffe58a; color: inherit; padding: 0 2px; }
.source mark strong { background: #ffc53d; }
#answer-text textarea { unicode-bidi: plaintext; }
"""
STAGES = {
    "searching": "Searching the articles… / جارٍ البحث في المقالات…",
    "reading": "Reading the passages… / جارٍ قراءة المقاطع…",
    "writing": "Writing the answer… / جارٍ كتابة الإجابة…",
}
FEEDBACK_FILE = "feedback.jsonl"
NO_SOURCES = "<p class='source-empty'>Sources of the last answer appear here.</p>"
HOW_ANSWERED = {
    "generated": "Written by the model from the highlighted sentences; every sentence was checked against its source.",
    "extractive": "Quoted from the highlighted sentence of the article.",
    "fallback": "The model's answer could not be verified, so the best evidence is quoted instead.",
}
NOTHING_RELEVANT = "<p class='source-empty' dir='auto'>No passage was relevant enough to answer from.</p>"


def sources_html(answer: Answer) -> str:
    """One box per citation: title · source · date, the passage with the cited span highlighted, and a link to
    the original article (or its file name when it has no address)."""
    if not answer.citations:
        return NOTHING_RELEVANT if answer.abstained else NO_SOURCES
    boxes = []
    for citation in answer.citations:
        hit = citation.hit
        before = hit.text[: citation.span_start - hit.start]
        after = hit.text[citation.span_end - hit.start :]
        passage = f"{html.escape(before)}<mark>{marked_span(citation, answer.answer_span)}</mark>{html.escape(after)}"
        heading = " · ".join(html.escape(part) for part in (hit.title, hit.source, hit.date) if part)
        url = web_url(hit.url)
        where = (
            f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer nofollow'>"
            f"{html.escape(unquote(url))}</a>"
            if url
            else html.escape(hit.path)
        )
        boxes.append(
            f"<div class='source' dir='auto'><div class='title'>[{citation.n}] {heading}</div>"
            f"<p>{passage}</p><small dir='ltr'>{where}</small></div>"
        )
    note = " ".join(part for part in (answer.notice, HOW_ANSWERED.get(answer.method, "")) if part)
    return "\n".join(boxes) + (f"<p class='how'><small>{html.escape(note)}</small></p>" if note else "")


def sources_from_dict(answer: dict[str, Any]) -> str:
    """The Sources panel of an answer kept as its record (rag.schemas.AnswerRecord, restored after a page reload)."""
    return sources_html(answer_from_dict(answer))


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """The parts of an Answer that the UI shows, from its record (rag.schemas.AnswerRecord)."""
    citations = []
    for c in data["citations"]:
        about = {key: c.get(key) for key in ("date", "source", "url", "author")}
        hit = Hit(-1, 0.0, 0.0, c["text"], c["article_id"], c["title"], c["path"], c["start"], c["end"], **about)
        citations.append(Citation(c["n"], hit, c["span_start"], c["span_end"]))
    span = data.get("answer_span")
    answer_span = Span(span["text"], span["start"], span["end"], 0.0) if span else None
    return Answer(
        data["question"],
        data["answer"],
        data["abstained"],
        data["language"],
        tuple(citations),
        method=data.get("method", "generated"),
        answer_span=answer_span,
        notice=data.get("notice", ""),
    )


def marked_span(citation: Citation, span: Span | None) -> str:
    """The cited sentence as HTML, the answer span inside it in bold."""
    text = citation.span_text
    if span is None or not citation.span_start <= span.start < span.end <= citation.span_end:
        return html.escape(text)
    start, end = span.start - citation.span_start, span.end - citation.span_start
    return f"{html.escape(text[:start])}<strong>{html.escape(text[start:end])}</strong>{html.escape(text[end:])}"


def as_text(answer: dict[str, Any]) -> str:
    """An answer (its record) with its sources, as plain text to copy."""
    return AnswerRecord.model_validate(answer).as_text()


def feedback_record(
    answer: dict[str, Any], liked: bool, comment: str, history: list[str], generation: str
) -> dict[str, Any]:
    """One line of feedback.jsonl: the rating and the answer it rates, in the `rag eval` question format (id, lang,
    question, history, answers, passage_id, answerable) so that a team can turn it into a test question."""
    span = answer.get("answer_span")
    citations = answer["citations"]
    return {
        "id": f"feedback-{int(time.time() * 1000)}",
        "lang": answer["language"],
        "question": answer["question"],
        "history": history,
        "answers": [span["text"]] if span and liked else [],
        "passage_id": citations[0]["article_id"] if citations else None,
        "answerable": not answer["abstained"] if liked else None,
        "rating": "up" if liked else "down",
        "comment": comment.strip(),
        "answer": answer["answer"],
        "abstained": answer["abstained"],
        "answer_span": span,
        "citations": citations,
        "index_generation": generation,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def build_summary(report: BuildReport) -> str:
    """One line on what a build did, then one line per skipped file."""
    if report.built:
        line = (
            f"Indexed {report.articles} articles: {report.added} added, {report.updated} updated, "
            f"{report.removed} removed, {report.unchanged} unchanged ({report.seconds:.1f}s)."
        )
    else:
        line = f"The index is up to date ({report.articles} articles)."
    return "\n".join([line, *(f"- {p}" for p in report.problems + report.merged)])


def add_articles(paths: list[str], seeds_dir: Path, max_mb: float, max_records: int = 10_000) -> list[str]:
    """Store uploaded files in the articles folder (replacing files of the same name, as an update), with the
    HTTP API's checks; returns one line per file refused."""
    max_bytes = int(max_mb * 2**20)
    files = []
    for path in map(Path, paths or []):
        size = path.stat().st_size
        files.append((path.name, path.read_bytes() if size <= max_bytes else b"", size))  # too large: unread
    return save_uploads(seeds_dir, files, max_bytes, max_records, replace=True).refused


def chat_html(text: str) -> str:
    """A chat message as HTML in which all text is text: article words quoted in an answer (or typed by a user)
    can never become an image, a link, HTML or Markdown in the reader's browser. Only the answer's own bold
    (**span**) is kept. One raw HTML block with no blank line, so the chat's Markdown leaves its inside alone;
    a paragraph per line, each in its own direction."""
    lines = []
    for line in text.split("\n"):
        if line.strip():
            parts = line.split("**")
            if len(parts) % 2 == 0:  # an unpaired ** stays as it is
                parts[-2:] = ["**".join(parts[-2:])]
            inner = "".join(
                f"<strong>{html.escape(p)}</strong>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
            )
            lines.append(f"<p dir='auto'>{inner}</p>")
    return f"<div class='answer'>{''.join(lines)}</div>"


def chat_client(request: gr.Request | None) -> str:
    """Who a chat request counts against for the rate limit: its login, else its address."""
    if request is None:
        return "chat"
    if request.username:
        return f"user:{request.username}"
    return f"address:{request.client.host if request.client else '?'}"


class Chat:
    """The chat's answers: made on the `limits` workers (shared with the HTTP API when both are served), within
    the same limits: question length, a rate per client, and busy when every worker and waiting place is taken."""

    def __init__(self, assistant: Assistant, limits: Limits) -> None:
        self.assistant = assistant
        self.limits = limits
        self.server = assistant.index.settings.server

    def respond(
        self,
        message: str,
        history: list[dict[str, Any]],
        answers: list[dict[str, Any]],
        session: list[Answer],
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, list[dict[str, Any]], list[Answer], str]]:
        """Answer `message` after the conversation so far: yields the page's outputs (chat, sources, question
        box, answers, session, answer as text) as the answer is made; gr.Error when it is refused."""
        message = (message or "").strip()
        if not message:
            yield history, NO_SOURCES, "", answers, session, ""
            return
        if problem := length_problem(message, "the question", self.server.max_question_chars):
            raise gr.Error(f"{problem.capitalize()}.")  # shown on the page; the question stays in its box
        # Earlier turns: their Answers while this page has them, else their questions (after a reload).
        known = {a.question: a for a in session}
        turns = [known.get(a["question"], a["question"]) for a in answers][-self.server.max_history :]
        before = history
        history = [*history, {"role": "user", "content": chat_html(message)}, {"role": "assistant", "content": "…"}]
        try:
            self.limits.rate.take(chat_client(request))
            events = self.limits.answers.iterate(
                lambda: self.assistant.stream(message, turns, progress=True), self.server.request_timeout
            )
            for event in events:
                if isinstance(event, Progress):
                    history[-1] = {"role": "assistant", "content": STAGES[event.stage]}
                    yield history, NO_SOURCES, "", answers, session, ""
                elif isinstance(event, Answer):
                    history[-1] = {"role": "assistant", "content": chat_html(event.text)}
                    answers = [*answers, AnswerRecord.of(event).model_dump()]
                    session = [*session, event]
                    yield history, sources_html(event), "", answers, session, as_text(answers[-1])
                else:
                    history[-1] = {"role": "assistant", "content": chat_html(event)}
                    yield history, NO_SOURCES, "", answers, session, ""
        except (Busy, TimedOut) as error:  # as the HTTP API answers 429 / 504: the page as it was, and why
            yield before, NO_SOURCES, message, answers, session, ""
            raise gr.Error(f"{str(error).capitalize()}.") from None


def build_app(assistant: Assistant, limits: Limits | None = None) -> gr.Blocks:
    """The chat page: conversation on the left, sources of the latest answer on the right; its answers within
    `limits` (Chat)."""
    settings = assistant.index.settings
    server = settings.server
    replies = Chat(assistant, limits or Limits.of(server))
    feedback_lock = threading.Lock()

    def rebuild(progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 - Gradio's idiom
        return build_summary(build_index(settings, assistant.index.embedder))

    def upload(paths: list[str], progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[None, str]:  # noqa: B008
        if len(paths or []) > server.max_files_per_upload:
            return None, f"{len(paths)} files, over the limit of {server.max_files_per_upload} per upload."
        refused = add_articles(paths, settings.seeds_dir, settings.max_article_mb, settings.server.max_records_per_file)
        summary = build_summary(build_index(settings, assistant.index.embedder))
        return None, "\n".join([summary, *(f"- refused {r}" for r in refused)])

    def saved(history: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, Any]:
        """What the browser keeps of the conversation (restored when the page reloads)."""
        return {"messages": history, "answers": answers}

    def restore(stored: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, str]:
        stored = stored or {}
        messages, answers = stored.get("messages") or [], stored.get("answers") or []
        if not answers:
            return messages, answers, NO_SOURCES, ""
        last = answers[-1]
        return messages, answers, sources_from_dict(last), as_text(last)

    def rate(answers: list[dict[str, Any]], comment: str, like: gr.LikeData) -> tuple[str, str]:
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        turn = (int(index) - 1) // 2  # messages alternate question, answer
        if not 0 <= turn < len(answers):
            return comment, "That answer is no longer known; nothing was recorded."
        liked = like.liked is True or like.liked == "Like"
        if problem := length_problem(comment or "", "the comment", server.max_question_chars):
            return comment, f"{problem.capitalize()}; nothing was recorded."
        record = feedback_record(
            answers[turn],
            liked,
            comment or "",
            [a["question"] for a in answers[:turn]],
            assistant.index.store.generation,
        )
        path = settings.index_dir / FEEDBACK_FILE
        with feedback_lock, path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
        rating = "thumbs up" if liked else "thumbs down"
        return "", f"Thank you: {rating} recorded{' with your comment' if comment.strip() else ''}."

    with gr.Blocks(title="News QA") as demo:
        gr.Markdown("## News QA\nAsk in Arabic or English; answers cite the article passages as [n].")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    elem_id="chat",
                    height=520,
                    label="Conversation",
                    feedback_options=("Like", "Dislike"),
                    latex_delimiters=[],  # article text with $ signs is text, not formulas
                    sanitize_html=True,
                )
                question = gr.Textbox(
                    placeholder="اسأل عن المقالات… / Ask about the articles…",
                    show_label=False,
                    elem_id="question",
                    rtl=False,
                )
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    clear = gr.Button("New conversation")
                comment = gr.Textbox(
                    placeholder="Comment on an answer (optional), then rate it with its thumbs up / down",
                    show_label=False,
                    elem_id="feedback-comment",
                )
                thanks = gr.Markdown(elem_id="feedback-status")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(NO_SOURCES, elem_id="sources")
                copyable = gr.Textbox(
                    label="Answer with its sources, as text",
                    lines=4,
                    buttons=["copy"],
                    interactive=False,
                    elem_id="answer-text",
                )
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
        answers = gr.State([])  # the answers shown, as dicts (kept in the browser with the messages)
        session = gr.State([])  # the same as Answer objects while the page lives (follow-ups reuse them)
        stored = gr.BrowserState({"messages": [], "answers": []}, storage_key="rag-news-conversation")
        inputs = [question, chat, answers, session]
        outputs = [chat, sources, question, answers, session, copyable]
        # The browser's copy is saved after each answer, outside the API (its citations would read as files to
        # gradio_client).
        keep = {"fn": saved, "inputs": [chat, answers], "outputs": stored, "api_name": False}
        # Gradio lets every question reach `respond` at once: the workers (shared with the HTTP API) bound them
        # and say busy past their waiting places.
        unbounded = {"concurrency_limit": None, "concurrency_id": "answer"}
        question.submit(replies.respond, inputs, outputs, api_name="ask", **unbounded).then(**keep)
        send.click(replies.respond, inputs, outputs, api_name=False, **unbounded).then(**keep)
        clear.click(lambda: ([], NO_SOURCES, "", [], [], ""), None, outputs, api_name=False).then(**keep)
        chat.like(rate, [answers, comment], [comment, thanks], api_name=False)
        demo.load(restore, stored, [chat, answers, sources, copyable], api_name=False)
        add.click(upload, files, [files, status], api_name="add_articles")
        rebuild_button.click(rebuild, None, status, api_name="rebuild")
    demo.queue(default_concurrency_limit=server.answer_workers, max_size=server.max_waiting)
    # Gradio's queue polls every millisecond while it is free (every 10 ms for progress): an idle server used 0.08
    # CPU-seconds a second, 0.007 with these. A chat turn takes seconds; 50 ms before it starts is not felt.
    # (Gradio has no public setting for them.)
    demo._queue.sleep_when_free = 0.05
    demo._queue.progress_update_sleep_when_free = 0.1
    return demo
