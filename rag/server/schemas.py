"""Request and response bodies of the HTTP API that are not public values of the Python API (those live in
rag.schemas and are used as they are): requests, health, uploads, and the OpenAI chat completion shapes."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rag.schemas import AnswerRecord, CitationRecord
from rag.server.builds import BuildStatus
from rag.types import Scope

MAX_SOURCES = 100  # sources one request may keep to
MAX_EMBEDDING_INPUTS = 256  # texts in one /v1/embeddings request (the body limit applies too)
MAX_EMBEDDING_CHARS = 50_000  # characters of one text to embed: the embedder reads 2,048 tokens at most
SourceName = Annotated[str, StringConstraints(max_length=512)]
TextToEmbed = Annotated[str, StringConstraints(max_length=MAX_EMBEDDING_CHARS)]


class ScopeFields(BaseModel):
    """Which articles to draw on (filtered inside retrieval): dates inclusive, sources by name or site."""

    since: datetime.date | None = Field(None, description="Only articles dated on or after (YYYY-MM-DD).")
    until: datetime.date | None = Field(None, description="Only articles dated on or before (YYYY-MM-DD).")
    sources: list[SourceName] = Field(
        default_factory=list,
        max_length=MAX_SOURCES,
        description=f"Only these sources: names or sites, any case (at most {MAX_SOURCES}).",
    )

    def scope(self) -> Scope:
        return Scope(
            since=self.since.isoformat() if self.since else None,
            until=self.until.isoformat() if self.until else None,
            sources=tuple(self.sources),
        )


class SearchRequest(ScopeFields):
    query: str = Field(min_length=1)
    k: int = Field(5, ge=1, le=100)
    mode: Literal["dense", "lexical", "hybrid"] | None = Field(None, description="Default: settings.retrieval.mode.")


class AskRequest(ScopeFields):
    question: str = Field(min_length=1)
    history: list[str] = Field(default_factory=list, description="Earlier questions of the conversation, oldest first.")
    stream: bool = Field(
        False,
        description="Server-Sent Events: {type: progress}, {type: delta, text} while the model writes (a draft), "
        "then {type: answer, answer} (the checked answer, which replaces the draft), then [DONE].",
    )


class Health(BaseModel):
    status: Literal["loading", "ready"]
    generation: str
    articles: int
    chunks: int
    embedder: str
    llm: str
    answer_mode: str


class UploadResult(BaseModel):
    saved: list[str] = Field(description="Names the files were stored under in the articles folder.")
    refused: list[str] = Field(description="One line per file not stored, with the reason.")
    build: BuildStatus | None = Field(description="The build that indexes them (None when nothing was stored).")


class Deleted(BaseModel):
    deleted: str
    build: BuildStatus


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The message's text (content parts of type text joined)."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(ScopeFields):
    """OpenAI's chat completion request (plus our since / until / sources); fields other than these
    (temperature, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = "rag-news"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatChoiceMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, plus `citations` (the passages the [n] marks cite) and `answer` (the whole
    answer object of /v1/ask)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    citations: list[CitationRecord]
    answer: AnswerRecord


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request, plus which of the embedder's prompts to use (and titles for documents)."""

    model_config = ConfigDict(extra="allow")

    input: TextToEmbed | list[TextToEmbed] = Field(
        description=f"A text or a list of texts (at most {MAX_EMBEDDING_INPUTS}, each of at most "
        f"{MAX_EMBEDDING_CHARS:,} characters)."
    )
    model: str = "rag-news"
    input_type: Literal["query", "document"] = Field(
        "document", description="The embedder's query prompt (questions) or document prompt (passages)."
    )
    titles: list[Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        None, description="For documents: each text's article title (EmbeddingGemma)."
    )

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float]


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """OpenAI's embeddings response: unit vectors (cosine = dot product), in the order of the inputs."""

    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str = Field(description="The embedder that made the vectors (as recorded in index manifests).")
    usage: EmbeddingUsage
