"""The HTTP API: search, ask (JSON or Server-Sent Events), OpenAI-compatible chat completions, articles and
builds, on the process's loaded models. rag/server/start.py mounts the chat page on the app this returns."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from rag.answering import Assistant
from rag.embedders import EmbedderError
from rag.schemas import AnswerRecord, ArticleRecord, SearchResult
from rag.server.auth import bearer_key, client_name
from rag.server.builds import BuildAlreadyRunning, Builder, BuildStatus
from rag.server.limits import END, BodyLimit, Busy, Limits, TimedOut, length_problem
from rag.server.origin import SameOrigin, allowed_hosts
from rag.server.schemas import (
    MAX_EMBEDDING_INPUTS,
    AskRequest,
    ChatChoice,
    ChatChoiceMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Deleted,
    EmbeddingData,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    Health,
    SearchRequest,
    UploadResult,
)
from rag.types import Answer, Progress, Scope
from rag.uploads import ArticleNotFound, UploadRefused, delete_article, save_uploads


def create_api(assistant: Assistant, builder: Builder | None = None, limits: Limits | None = None) -> FastAPI:
    """The API over one Assistant (its index, embedder and LLM are shared by every request), within `limits`
    (shared with the chat page when it is mounted on this app)."""
    index = assistant.index
    settings = index.settings
    server = settings.server
    builder = builder or Builder(settings, index.embedder)
    limits = limits or Limits.of(server)
    answers, searches = limits.answers, limits.searches
    timeout = server.request_timeout
    keys = server.keys()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        limits.shutdown()  # SIGTERM: uvicorn stops accepting, in-flight requests finish, then the pools drain

    api = FastAPI(
        title="rag-news",
        summary="Offline question answering over news articles, with cited passages.",
        version="0.1.0",
        lifespan=lifespan,
    )
    api.add_middleware(BodyLimit, max_bytes=int(server.max_request_mb * 2**20))
    api.add_middleware(SameOrigin, hosts=allowed_hosts(server))  # outermost: before anything reads the request

    @api.exception_handler(Busy)
    async def busy(request: Request, error: Busy) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 429, {"Retry-After": str(error.retry_after)})

    @api.exception_handler(EmbedderError)
    async def embedder_failed(request: Request, error: EmbedderError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 502)

    @api.exception_handler(TimedOut)
    async def timed_out(request: Request, error: TimedOut) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 504)

    def checked_text(text: str, what: str) -> str:
        text = text.strip()
        if not text:
            raise HTTPException(422, f"{what} is empty")
        if problem := length_problem(text, what, server.max_question_chars):
            raise HTTPException(422, problem)
        return text

    def checked_history(history: list[str]) -> list[str]:
        if len(history) > server.max_history:
            raise HTTPException(422, f"history has {len(history)} questions, over the limit of {server.max_history}")
        return [checked_text(h, "a history question") for h in history]

    @api.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Whether the models are loaded, and what the index holds."""
        store = index.store
        generator = assistant.generator
        ready = index.embedder.loaded and (settings.answer.mode == "extractive" or generator.loaded)
        return Health(
            status="ready" if ready else "loading",
            generation=store.generation,
            articles=len(store.manifest.articles),
            chunks=store.size,
            embedder=settings.embedder.model,
            llm=settings.llm.model,
            answer_mode=settings.answer.mode,
        )

    async def rate_limit(request: Request) -> None:
        limits.rate.take(client_name(request, keys))

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(bearer_key(keys)), Depends(rate_limit)])

    @v1.post("/search", response_model=SearchResult, tags=["questions"])
    async def search(request: SearchRequest) -> SearchResult:
        """The k passages most similar to the query (the `rag search --json` object)."""
        query = checked_text(request.query, "query")
        started = time.perf_counter()
        hits = await searches.run(timeout, index.search, query, request.k, request.mode, frozenset(), request.scope())
        response = as_json(SearchResult.of(query, hits))
        response.headers["Server-Timing"] = f"search;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    def answer_stream(question: str, history: list[str], scope: Scope) -> asyncio.Queue[Any]:
        """The events of answering, put into a queue by a worker (Busy when none is free), then END."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        answers.hand_over(
            lambda: assistant.stream(question, history, progress=True, scope=scope),
            lambda item: loop.call_soon_threadsafe(queue.put_nowait, item),
        )
        return queue

    async def events(queue: asyncio.Queue[Any]) -> AsyncIterator[str | Answer | Progress | Exception]:
        """The queue's events until the answer ends, or a TimedOut past the request timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                yield TimedOut(f"no answer within {timeout:g} s")
                return
            if item is END:
                return
            yield item

    @v1.post(
        "/ask",
        response_model=AnswerRecord,
        tags=["questions"],
        responses={200: {"content": {"text/event-stream": {}}, "description": "The answer, or its events."}},
    )
    async def ask(request: AskRequest) -> Any:
        """Answer a question from the articles with cited passages (the `rag ask --json` object)."""
        question = checked_text(request.question, "question")
        history = checked_history(request.history)
        queue = answer_stream(question, history, request.scope())
        if request.stream:
            return StreamingResponse(sse(ask_events(events(queue))), media_type="text/event-stream")
        answer = await final_answer(events(queue))
        return as_json(AnswerRecord.of(answer))

    async def final_answer(stream: AsyncIterator[Any]) -> Answer:
        answer = None
        async for event in stream:
            if isinstance(event, Exception):
                raise event if isinstance(event, TimedOut) else HTTPException(500, f"answering failed: {event}")
            if isinstance(event, Answer):
                answer = event
        if answer is None:
            raise HTTPException(500, "the answer stream ended without an answer")
        return answer

    async def ask_events(stream: AsyncIterator[Any]) -> AsyncIterator[dict[str, Any]]:
        written = ""
        async for event in stream:
            if isinstance(event, Progress):
                yield {"type": "progress", "stage": event.stage}
            elif isinstance(event, str):
                yield {"type": "delta", "text": event[len(written) :]}
                written = event
            elif isinstance(event, Answer):
                if not written:  # a quoted (or refused) answer has no draft: its text is the one delta
                    yield {"type": "delta", "text": event.text}
                yield {"type": "answer", "answer": AnswerRecord.of(event).model_dump()}
            else:
                yield {"type": "error", "detail": str(event)}

    @v1.post("/embeddings", response_model=EmbeddingResponse, tags=["openai"])
    async def embeddings(request: EmbeddingRequest) -> Any:
        """OpenAI-compatible embeddings from the loaded embedder, so that one process can embed for others:
        `input_type` picks its query or document prompt (default document)."""
        texts = request.texts()
        if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
            raise HTTPException(422, f"input holds {len(texts)} texts; 1 to {MAX_EMBEDDING_INPUTS} are taken")
        if request.titles is not None and len(request.titles) != len(texts):
            raise HTTPException(422, f"{len(request.titles)} titles for {len(texts)} texts")

        def embed() -> tuple[Any, int]:
            if request.input_type == "query":
                vectors = [index.embedder.encode_query(text) for text in texts]
            else:
                vectors = list(index.embedder.encode_documents(texts, titles=request.titles))
            return vectors, sum(index.embedder.count_tokens(text) for text in texts)

        vectors, tokens = await searches.run(timeout, embed)
        data = [EmbeddingData(index=i, embedding=[float(x) for x in v]) for i, v in enumerate(vectors)]
        usage = EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
        return as_json(EmbeddingResponse(data=data, model=index.embedder.name, usage=usage))

    @v1.post(
        "/chat/completions",
        response_model=ChatCompletion,
        tags=["openai"],
        responses={200: {"content": {"text/event-stream": {}}, "description": "The completion, or its chunks."}},
    )
    async def chat_completions(request: ChatCompletionRequest) -> Any:
        """OpenAI-compatible: the last user message is the question, earlier user messages its history. The
        answer text carries [n] marks; `citations` holds the passages (in the stream, on the last chunk). When
        streaming, only the checked answer is sent (a chat client cannot take back a draft)."""
        asked = [m.text for m in request.messages if m.role == "user"]
        if not asked:
            raise HTTPException(422, "messages hold no user message")
        question = checked_text(asked[-1], "the last user message")
        history = checked_history(asked[:-1][-server.max_history :])
        queue = answer_stream(question, history, request.scope())
        made = f"chatcmpl-{uuid.uuid4().hex}"
        if not request.stream:
            answer = AnswerRecord.of(await final_answer(events(queue)))
            return ChatCompletion(
                id=made,
                created=int(time.time()),
                model=request.model,
                choices=[ChatChoice(message=ChatChoiceMessage(content=answer.as_text()))],
                citations=answer.citations,
                answer=answer,
            )
        return StreamingResponse(sse(chunks(made, request.model, events(queue))), media_type="text/event-stream")

    async def chunks(made: str, model: str, stream: AsyncIterator[Any]) -> AsyncIterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {"id": made, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": [choice], **extra}  # fmt: skip

        yield chunk({"role": "assistant", "content": ""})
        async for event in stream:
            if isinstance(event, Answer):
                answer = AnswerRecord.of(event)
                for piece in words(answer.as_text()):
                    yield chunk({"content": piece})
                citations = [c.model_dump() for c in answer.citations]
                yield chunk({}, "stop", citations=citations, answer=answer.model_dump())
            elif isinstance(event, Exception):
                yield {"error": {"message": str(event), "type": type(event).__name__}}

    @v1.get("/articles", response_model=list[ArticleRecord], tags=["articles"])
    def articles() -> list[ArticleRecord]:
        """The indexed articles."""
        return index.store.articles()

    @v1.post("/articles", response_model=UploadResult, status_code=202, tags=["articles"])
    async def upload(files: list[UploadFile] = File(...), replace: bool = False) -> UploadResult:  # noqa: B008
        """Add article files (field `files`, one or more) to the articles folder, then index them in the
        background (progress at GET /v1/index). A file of an existing name is refused unless `replace`."""
        if len(files) > server.max_files_per_upload:
            raise HTTPException(413, f"{len(files)} files, over the limit of {server.max_files_per_upload} per upload")
        max_bytes = int(settings.max_article_mb * 2**20)
        received = []
        for file in files:  # a file over the limit is refused by its size, unread
            size = file.size or 0
            data = await file.read(max_bytes + 1) if size <= max_bytes else b""
            received.append((file.filename or "", data, size))
        report = await asyncio.to_thread(
            save_uploads, settings.seeds_dir, received, max_bytes, server.max_records_per_file, replace
        )
        return UploadResult(
            saved=report.saved, refused=report.refused, build=builder.request() if report.saved else None
        )

    @v1.delete("/articles/{article_id:path}", response_model=Deleted, status_code=202, tags=["articles"])
    def delete(article_id: str) -> Deleted:
        """Delete an article's file from the articles folder, then index the change in the background."""
        try:
            deleted = delete_article(settings.seeds_dir, article_id)
        except ArticleNotFound:
            raise HTTPException(404, f"no article file {article_id!r} in the articles folder") from None
        except UploadRefused as refused:
            raise HTTPException(409, str(refused)) from None
        return Deleted(deleted=deleted, build=builder.request())

    @v1.post("/index", response_model=BuildStatus, status_code=202, tags=["articles"])
    def build(rebuild: bool = False) -> BuildStatus:
        """Bring the index in line with the articles folder (`rebuild`: re-embed everything); 409 while a build runs."""
        try:
            return builder.start(force=rebuild)
        except BuildAlreadyRunning as running:
            raise HTTPException(409, str(running)) from None

    @v1.get("/index", response_model=BuildStatus, tags=["articles"])
    def build_status() -> BuildStatus:
        """The running build's progress, and the last build's report."""
        return builder.status()

    api.include_router(v1)
    return api


def as_json(record: BaseModel) -> Response:
    """A record as a JSON response, serialised once (FastAPI would validate it against the response model again)."""
    return Response(record.model_dump_json(), media_type="application/json")


async def sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """Server-Sent Events: one `data:` line of JSON per event, then `data: [DONE]`."""
    async for event in events:
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def words(text: str, size: int = 4) -> list[str]:
    """The text in pieces of a few words (spaces kept), as a model would stream it."""
    tokens = text.split(" ")
    return [
        " ".join(tokens[i : i + size]) + (" " if i + size < len(tokens) else "") for i in range(0, len(tokens), size)
    ]
