"""One Settings object: every default lives here, overridable by environment (RAG_*) or CLI flags."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.renamed import with_renamed

EmbedDtype = Literal["auto", "float32", "bfloat16", "int8"]
DEFAULT_CACHE = Path.home() / ".cache" / "rag-news"
DEFAULT_MODELS = DEFAULT_CACHE / "models"


class EmbedderSettings(BaseModel):
    """The embedder: which model (provisioned, any sentence-transformers model, or a server) and how it runs."""

    model: str = Field(
        "embeddinggemma-300m",
        description="Sentence-transformers model: 'embeddinggemma-300m' (provisioned offline), "
        "any local path / name sentence-transformers can load, or the base URL of an OpenAI-compatible "
        "embeddings server (another `rag serve`, vLLM, llama.cpp's server), e.g. 'http://127.0.0.1:8000/v1'.",
    )
    api_key: str = Field("", description="Bearer key for an embedding server (empty: none sent).")
    server_model: str = Field("", description="Model name sent to an embedding server (empty: none sent).")
    timeout: float = Field(60.0, gt=0, description="Seconds an embedding server may take per request.")
    tokenizer: str = Field(
        "",
        description="Tokenizer that measures chunks for an embedding server (a folder or name transformers can "
        "load, or 'embeddinggemma-300m'); empty: the tokenizer of the model the server reports, when it is one "
        "provisioned here.",
    )
    query_prompt: str = Field(
        "",
        description="For embedding servers that do not apply the model's prompts (all but `rag serve`): text put "
        "before each query, e.g. 'task: search result | query: ' for EmbeddingGemma.",
    )
    document_prompt: str = Field(
        "",
        description="Likewise before each document; 'title: none' in it takes the chunk's article title, e.g. "
        "'title: none | text: ' for EmbeddingGemma.",
    )
    dtype: EmbedDtype = Field(
        "auto",
        description="Embedder arithmetic: int8 linear layers (per-token activation scales) ran ~2x float32 on CPUs "
        "with AVX-512 VNNI, with float32's XQuAD recall, but ~60x slower than float32 on a CPU without (torch's "
        "int8 product falls back to a slow kernel); 'auto' takes int8 where the CPU has native int8 products "
        "and float32 elsewhere. bfloat16 is fast only with AVX-512 BF16; float32 is the reference.",
        validate_default=True,
    )
    batch_size: int = Field(
        4, ge=1, description="Documents per encode batch (measured: int8 ~18 % faster at 4 than 10, bfloat16 level)."
    )
    titles: bool = Field(
        True, description="Give the embedder each chunk's article title (where its document prompt has a title slot)."
    )
    cache: Path | None = Field(
        DEFAULT_CACHE / "embeddings",
        description="Document embeddings by (model, dtype, text hash), shared by `rag index` and `rag eval` (which "
        "keeps its questions' vectors there too; a user's questions never are); None: off.",
    )

    @field_validator("cache", mode="before")
    @classmethod
    def _empty_is_off(cls, folder: object) -> object:
        return None if folder == "" else folder

    @field_validator("dtype")
    @classmethod
    def _resolve_auto(cls, dtype: EmbedDtype) -> EmbedDtype:
        return ("int8" if has_native_int8() else "float32") if dtype == "auto" else dtype

    @property
    def is_server(self) -> bool:
        """Whether `model` is the base URL of an embedding server."""
        return is_server(self.model)


class LLMSettings(BaseModel):
    """The reader: which LLM (provisioned, a GGUF file, or a server) and how it runs."""

    model: str = Field(
        "gemma-3-270m",
        description="LLM for answers: 'gemma-3-270m' (base model, default), 'smollm2-135m-instruct', a path to any "
        ".gguf file, or the base URL of an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama), e.g. "
        "'http://127.0.0.1:8080/v1'.",
    )
    api_key: str = Field("", description="Bearer key for an LLM server (empty: none sent).")
    server_model: str = Field("", description="Model name sent to an LLM server (empty: the first it lists).")
    timeout: float = Field(
        60.0, gt=0, description="Seconds an LLM server may take to connect and between two pieces of an answer."
    )
    logprobs: bool = Field(
        True,
        description="Ask an LLM server for the prompt log-probabilities the likelihood signal needs (/v1/completions "
        "with echo). Turn off for servers that compute them slowly: llama-cpp-python's own server took minutes a "
        "question for Gemma's 262k-token vocabulary (it sorts the vocabulary in Python for every prompt token); "
        "llama.cpp's C++ server and vLLM do not.",
    )
    process: bool = Field(
        True,
        description="Run a local GGUF in a child process, so that a reader that crashes (llama.cpp on an instruction "
        "the system does not enable) fails that question, not the server; the next question starts it again "
        "(bench/reader_process.py measures what it costs an answer).",
    )
    prompt: Literal["auto", "chat", "completion"] = Field(
        "auto",
        description="How the question is put to the LLM: chat messages, or the few-shot completion prompt. auto: chat "
        "when a local GGUF has a chat template; completion for a server (it works with base and instruct models, "
        "and only completions give prompt log-probabilities).",
    )
    context: int = Field(4096, ge=512, description="llama.cpp context window in tokens.")
    threads: int | None = Field(
        None,
        ge=1,
        description="llama.cpp threads (None: llama-cpp-python's default, half the cores; 1 and 2 threads gave the "
        "same time to first token here, bench/calibrate/trials.py).",
    )
    contexts: int = Field(
        2,
        ge=1,
        le=8,
        description="llama.cpp contexts of the model, each answering one question at a time on `threads` threads; "
        "the second is made when two answers overlap (about 430 MB more). On 2 cores, two threads sharing an "
        "Assistant made 1.41 answers/s with two contexts, 1.18 with one (bench/calibrate/llm_contexts.py, seed questions).",
    )

    @property
    def is_server(self) -> bool:
        """Whether `model` is the base URL of an LLM server."""
        return is_server(self.model)


def is_server(model: str) -> bool:
    """Whether a model setting names a server (its base URL) rather than a model here."""
    return model.startswith(("http://", "https://"))


def has_native_int8() -> bool:
    """Whether the CPU multiplies int8 natively (AVX-512 VNNI or AMX), which int8 embedding needs to be fast."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        return bool(re.search(r"\b(avx512_vnni|amx_int8)\b", cpuinfo.read_text()))
    return False  # elsewhere float32, the safe choice


class ChunkSettings(BaseModel):
    """Sentence-aware chunking budgeted in the embedder's tokens."""

    max_tokens: int = Field(200, ge=2, description="Token budget of one chunk.")
    overlap_tokens: int = Field(30, ge=0, description="Trailing sentences carried into the next chunk, in tokens.")

    @model_validator(mode="after")
    def _overlap_below_budget(self) -> ChunkSettings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError(
                f"chunking.overlap_tokens ({self.overlap_tokens}) must be below chunking.max_tokens ({self.max_tokens})"
            )
        return self


class RetrievalSettings(BaseModel):
    """How passages are found and what counts as relevant."""

    k: int = Field(5, ge=1, le=100, description="Passages returned by search.")
    mode: Literal["dense", "lexical", "hybrid"] = Field(
        "hybrid", description="dense (FAISS), lexical (BM25) or hybrid (both, fused)."
    )
    candidates: int = Field(50, ge=1, description="Candidates taken from each retriever before fusion.")
    lexical_weight: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Weight of normalised BM25 against cosine in hybrid mode (bench/calibrate/fusion_sweep.py chose it).",
    )
    cross_lingual_lexical_weight: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Lexical weight when the query's language differs from the passages' (BM25 can't bridge it).",
    )
    hnsw_from: int = Field(
        50_000,
        ge=1,
        description="Indexes of this many chunks or more search vectors through an HNSW graph (approximate) "
        "instead of exactly: at 100k chunks exact search took 20 ms a query here.",
    )
    min_score: float = Field(
        0.20,
        ge=-1.0,
        le=1.0,
        description="Cosine below which a passage is not relevant (abstain if none pass); measured by "
        "bench/calibrate/relevance_threshold.py: keeps 100% of answerable XQuAD and seed questions, lets 2.3% of "
        "out-of-scope ones through.",
    )


class AnswerSettings(BaseModel):
    """How the cited answer is made, checked and, when the evidence is too weak, refused."""

    mode: Literal["generate", "extractive"] = Field(
        "extractive",
        description="generate: the LLM writes from the evidence, each sentence is verified, extractive fallback; "
        "extractive: the best evidence sentence, quoted with its citation.",
    )
    passages: int = Field(4, ge=1, le=20, description="Relevant passages whose sentences compete as evidence.")
    evidence: int = Field(3, ge=1, le=20, description="Evidence sentences given to the model, numbered [n].")
    evidence_margin: float = Field(
        0.2, ge=0.0, le=2.0, description="Only evidence scoring within this of the best sentence reaches the model."
    )
    evidence_window: int = Field(
        2,
        ge=1,
        le=3,
        description="Consecutive sentences that form one piece of evidence (quoted whole); on XQuAD-ar the best "
        "evidence held the answer 0.855 of the time with 2, 0.765 with 1.",
    )
    evidence_lexical_weight: float = Field(
        0.3, ge=0.0, le=1.0, description="Weight of question-term overlap against cosine when ranking evidence."
    )
    evidence_rank_cost: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Taken off a sentence's evidence score for each place its article stands below the first hit's "
        "(questions in the articles' language; an article's chunks share its rank). Every question: the best evidence "
        "from the gold passage 0.942 -> 0.944 (XQuAD-ar), 0.737 -> 0.786 (ARCD-train) (bench/calibrate/evidence_rank.py); "
        "applied across languages it answered the first 200 XQuAD en->ar questions worse (0.855 -> 0.845).",
    )
    abstention_weights: tuple[float, float, float, float, float] = Field(
        (-8.6672, 6.07, 9.4794, 2.9454, 0.0441),
        description="Answer only when w0 + w1*evidence score + w2*phrase similarity + w3*idf coverage + w4*question "
        "likelihood gain (rag/answerability.py) is positive. Fitted for the default models by "
        "bench/calibrate/abstention_signal.py on XQuAD-ar questions 200-399 (false abstention 0.10 there); on the "
        "first 200: 0.075 false abstention, 0.80 abstention with the gold passage left out.",
    )
    abstention_weights_without_likelihood: tuple[float, float, float, float, float] = Field(
        (-8.875, 7.528, 10.35, 2.817, 0.0),
        description="The abstention model without the likelihood signal, for an LLM server that gives no prompt "
        "log-probabilities: fitted by bench/calibrate/abstention_signal.py like the default (its 'score + phrase_similarity + "
        "coverage' row); on XQuAD-ar questions 0-199: 0.100 false abstention, 0.82 abstention with the gold "
        "passage left out.",
    )
    min_evidence_cross_lingual: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="Abstain below this evidence score when the question's language differs from the articles' (cosine only, "
        "weaker separation, so set for accuracy); XQuAD en->ar: 0.5% false abstention, 16% abstention.",
    )
    min_follow_up_similarity: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="A follow-up with words of its own ('and how old is he?') is answered only when they match a 12-word "
        "stretch of the evidence at this cosine or more (bench/data/follow_ups: answered follow-ups 0.30-0.75, "
        "unanswerable ones 0.12-0.28).",
    )
    span_min_confidence: float = Field(
        -1.454,
        le=0.0,
        description="Show the answer span first only when the LLM's log-probability of answering exactly that span is "
        "at least this: fitted by bench/calibrate/answer_span.py for precision >= 0.90 on XQuAD-ar and en->ar questions "
        "200-299, where Gemma-3-270M's spans held the gold answer too rarely for any lower threshold (1 of 190 kept).",
    )
    support_overlap: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of an answer sentence's terms its cited evidence must contain."
    )
    support_similarity: float = Field(
        0.6, ge=-1.0, le=1.0, description="Cosine to the cited evidence that also counts as support (other language)."
    )
    max_tokens: int = Field(96, ge=8, description="Longest generated answer, in model tokens.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0: greedy).")


class ServerSettings(BaseModel):
    """Where `rag serve` listens (the chat page and the HTTP API, one process), who may use it, and its limits."""

    host: str = Field("127.0.0.1", description="Bind address; 127.0.0.1 keeps the server local.")
    port: int = Field(7860, ge=0, le=65535, description="Port (0: any free port).")
    allowed_hosts: str = Field(
        "",
        description="Comma-separated host names requests may name in their Host header besides the loopback names "
        "and `host` (the names a proxy or the network reaches the server by); others get 403. A server bound to "
        "0.0.0.0 with none set takes any Host (keys and logins are required there).",
    )
    api_keys: str = Field(
        "",
        description="Comma-separated API keys; when set, every /v1 route needs 'Authorization: Bearer KEY'. "
        "Required (with ui_auth) to serve on an address other than loopback.",
    )
    api_key_file: Path | None = Field(None, description="A file of API keys, one per line (added to api_keys).")
    ui_auth: str = Field(
        "",
        description="Comma-separated user:password pairs that may log in to the chat page (Gradio auth). While API "
        "keys are set, the chat page always asks for a login: one of these, or any user name with an API key as "
        "its password.",
    )
    behind_proxy: bool = Field(
        False,
        description="Served through a reverse proxy on this machine (`rag serve --behind-proxy`): every request then "
        "comes from loopback, so keys, chat logins and allowed_hosts (the names the proxy serves, passed on in "
        "Host) are required as off loopback, and the client address is read from X-Forwarded-For when the "
        "connection comes from proxy_addresses.",
    )
    proxy_addresses: str = Field(
        "127.0.0.1", description="Comma-separated addresses of the reverse proxy whose X-Forwarded-For is believed."
    )
    max_question_chars: int = Field(
        2000,
        ge=1,
        description="Longer questions, queries and feedback comments are refused (422 / a line in the chat).",
    )
    max_history: int = Field(20, ge=0, description="Earlier questions sent with one question, at most (422).")
    max_request_mb: float = Field(
        100.0, gt=0, description="Largest request body (uploads included); checked before it is read (413)."
    )
    max_files_per_upload: int = Field(20, ge=1, description="Files in one upload, at most (413).")
    max_records_per_file: int = Field(10_000, ge=1, description="Articles in one uploaded JSON/JSONL file, at most.")
    answer_workers: int = Field(
        2,
        ge=1,
        le=8,
        description="Answers made at once (in the HTTP API and the chat); each holds one of llm.contexts "
        "while it uses the LLM, so more workers than contexts only wait there.",
    )
    search_workers: int = Field(2, ge=1, le=32, description="Searches run at once (the embedder is shared).")
    max_waiting: int = Field(
        16, ge=0, description="Requests waiting for a worker, per kind; past it a request gets 429 at once."
    )
    rate_limit: int = Field(
        600,
        ge=0,
        description="Requests a minute one client (its API key, its chat login, else its address) may make to /v1 "
        "and the chat, in bursts of as many; past it 429 with Retry-After (a line in the chat). 0: no limit.",
    )
    request_timeout: float = Field(
        120.0, gt=0, description="Seconds a request may wait and run before it gets 504 (or an error event)."
    )

    def keys(self) -> frozenset[str]:
        """The API keys from api_keys and api_key_file."""
        keys = [k.strip() for k in self.api_keys.split(",")]
        if self.api_key_file is not None:
            keys += [line.strip() for line in self.api_key_file.read_text().splitlines()]
        return frozenset(k for k in keys if k and not k.startswith("#"))

    def users(self) -> list[tuple[str, str]]:
        """The (user, password) pairs of ui_auth."""
        pairs = [p.strip().split(":", 1) for p in self.ui_auth.split(",") if p.strip()]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise ValueError("server.ui_auth takes comma-separated user:password pairs")
        return [(p[0], p[1]) for p in pairs]


class FetchSettings(BaseModel):
    """How `rag add` fetches pages and feeds from the web."""

    timeout: float = Field(20.0, gt=0, description="Seconds to connect and between bytes of a response.")
    deadline: float = Field(
        60.0, gt=0, description="Seconds one page or feed may take in all, its redirects included (then refused)."
    )
    max_page_mb: float = Field(10.0, gt=0, description="Larger pages and feeds are refused while they download.")
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed, each one checked like the first URL.")
    max_feed_items: int = Field(200, ge=1, description="Newest items of a feed that are read; the rest are left.")
    allow_private: bool = Field(
        False,
        description="Allow private, loopback and link-local addresses (an intranet news site). Off, so that a URL "
        "(or a feed's link, or a redirect) cannot reach services on this machine or its network.",
    )
    user_agent: str = Field("rag-news/0.1 (+offline news QA)", description="User-Agent sent with every request.")


class RaySettings(BaseModel):
    """Distributed builds (`rag index --ray`): chunking and embedding by a pool of embedder actors."""

    address: str | None = Field(
        None,
        description="Ray cluster, e.g. 'ray://head:10001' (None: RAY_ADDRESS, a `ray start` cluster here, else a new one).",
    )
    actors: int | None = Field(
        None,
        ge=1,
        description="Embedder actors (each loads the model once); None: the cluster's CPUs / cpus_per_actor.",
    )
    cpus_per_actor: float = Field(
        1.0, gt=0, description="CPUs one actor reserves; its torch uses that many threads (bench/distributed.py)."
    )
    articles_per_batch: int = Field(8, ge=1, description="Articles one actor chunks and embeds per task.")


class StoreSettings(BaseModel):
    """Where the index lives (rag/stores): the local folder by default, or Milvus for large archives and replicas."""

    uri: str = Field(
        "",
        description="Empty: the local index in index_dir; a folder: the local index there; '*.db': a Milvus Lite "
        "file (one process); 'http(s)://host:19530': a Milvus server (Milvus Lite's server mode, Standalone or "
        "Distributed), shared by several app replicas.",
    )
    token: str = Field("", description="Milvus token ('user:password' or an API key; empty: none).")
    collection: str = Field(
        "rag_news", description="Name prefix of the Milvus collections (<prefix>_chunks, _articles, _meta)."
    )
    lease_seconds: float = Field(
        30.0,
        ge=3.0,
        description="A Milvus build's lease on the index, renewed every third of it while the build runs: how long "
        "a build that was killed keeps the next one waiting. Longer where machines' clocks or the network lag.",
    )

    @property
    def is_milvus(self) -> bool:
        """Whether `uri` names Milvus: a Milvus Lite file (`*.db`) or a server (`http(s)://`, `tcp://`, `unix:`)."""
        return self.uri.endswith(".db") or self.uri.startswith(("http://", "https://", "tcp://", "unix:"))


class Settings(BaseSettings):
    """All settings; environment variables RAG_<FIELD> or RAG_<GROUP>__<FIELD>, e.g. RAG_LLM__MODEL."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_nested_delimiter="__", extra="ignore")

    seeds_dir: Path = Field(Path("seeds"), description="Folder of articles to index.")
    index_dir: Path = Field(Path("index"), description="Folder holding the built index.")
    max_article_mb: float = Field(10.0, gt=0, description="Larger article files are skipped with a warning.")
    near_duplicate_similarity: float | None = Field(
        0.8,
        gt=0,
        le=1,
        description="Articles whose word 5-grams are at least this alike (estimated Jaccard, MinHash) are one story, "
        "indexed once with every source kept. ANT corpus (bench/calibrate/near_duplicates.py): the 9 pairs from 0.8 up each "
        "tell one story; 0.7-0.8 mixes reposts with different stories written from one template. None: off.",
    )
    models_dir: Path = Field(DEFAULT_MODELS, description="Where provisioned models live, outside the repo.")
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """The RAG_MODELS__* variables the embedder's and the reader's groups replaced still work (renamed.py)."""
        return with_renamed(data, os.environ) if isinstance(data, dict) else data

    @field_validator("seeds_dir", "index_dir")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()

    @model_validator(mode="after")
    def _store_folder(self) -> Settings:
        """A store URI that names a folder is the local index there."""
        if self.store.uri and not self.store.is_milvus:
            self.index_dir = Path(self.store.uri).expanduser()
        return self
