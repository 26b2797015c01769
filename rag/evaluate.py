"""`rag eval`: retrieval (recall@k, MRR@10) and answer quality on QA files, through a temporary index
built by the real pipeline."""

from __future__ import annotations

import contextlib
import gzip
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.answering import Assistant
from rag.citations import parse_citations
from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import build_index
from rag.retrieval import Index
from rag.text import normalize
from rag.types import Answer

PASSAGES_FILE = "passages.jsonl"
DISTRACTORS_FILE = "distractors.jsonl"


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of a JSON Lines file (optionally gzip-compressed)."""
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                records.append(json.loads(line))
                if limit is not None and len(records) >= limit:
                    break
    return records


def gold_article_id(passage_id: str) -> str:
    """The article id the pipeline gives a passage of the passages file."""
    return f"{PASSAGES_FILE}#{passage_id}"


@contextmanager
def temporary_index(
    settings: Settings,
    passages: Sequence[dict[str, Any]],
    distractors: Sequence[dict[str, Any]] = (),
    embedder: Embedder | None = None,
) -> Iterator[Index]:
    """An index of the passages (and distractors) in a temporary folder; `index/` is never touched."""
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        seeds = Path(tmp) / "seeds"
        seeds.mkdir()
        for name, records in ((PASSAGES_FILE, passages), (DISTRACTORS_FILE, distractors)):
            if records:
                lines = (
                    json.dumps({k: r[k] for k in ("id", "title", "text") if k in r}, ensure_ascii=False)
                    for r in records
                )
                (seeds / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        temporary = settings.model_copy(update={"seeds_dir": seeds, "index_dir": Path(tmp) / "index"})
        embedder = embedder or Embedder(settings.models)
        build_index(temporary, embedder)
        yield Index(temporary, embedder)


def first_gold_rank(article_ids: Sequence[str], gold: str) -> int | None:
    """1-based rank of the first hit from the gold article, None if absent."""
    return next((rank for rank, a in enumerate(article_ids, start=1) if a == gold), None)


def retrieval_metrics(ranks: Sequence[int | None], ks: Sequence[int]) -> dict[str, float]:
    """recall@k for each k and MRR@10 from the gold ranks of a set of questions."""
    n = len(ranks)
    metrics: dict[str, float] = {"n_questions": n}
    for k in ks:
        metrics[f"recall@{k}"] = sum(1 for r in ranks if r is not None and r <= k) / n if n else 0.0
    metrics["mrr@10"] = sum(1 / r for r in ranks if r is not None and r <= 10) / n if n else 0.0
    return metrics


def evaluate_retrieval(
    index: Index, questions: Sequence[dict[str, Any]], ks: Sequence[int], mode: str, show_progress: bool = True
) -> dict[str, Any]:
    """Overall and per-language retrieval metrics of `index` on the questions."""
    from tqdm import tqdm

    depth = max(*ks, 10)
    ranks: dict[str, list[int | None]] = defaultdict(list)
    for question in tqdm(questions, desc=f"searching ({mode})", unit="q", disable=not show_progress):
        hits = index.search(question["question"], k=depth, mode=mode)
        rank = first_gold_rank([h.article_id for h in hits], gold_article_id(question["passage_id"]))
        ranks["all"].append(rank)
        ranks[question.get("lang", "?")].append(rank)
    result: dict[str, Any] = {"mode": mode, **retrieval_metrics(ranks.pop("all"), ks)}
    result["by_lang"] = {lang: retrieval_metrics(r, ks) for lang, r in sorted(ranks.items())}
    return result


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """The answer text holds one of the gold answers, after Arabic normalisation of both."""
    folded = " ".join(normalize(text).split())
    return any(" ".join(normalize(a).split()) in folded for a in answers if a.strip())


def invalid_citations(answer: Answer, index: Index) -> int:
    """Markers without a citation, and citations whose span is not the article text inside their passage."""
    marked = set(parse_citations(answer.text, 10**6).numbers)
    bad = len(marked - {c.n for c in answer.citations})
    for citation in answer.citations:
        hit = citation.hit
        inside = hit.start <= citation.span_start < citation.span_end <= hit.end
        text = index.article_text(hit.article_id)
        if not inside or text[citation.span_start : citation.span_end] != citation.span_text:
            bad += 1
    return bad


def evaluate_answers(
    assistant: Assistant,
    questions: Sequence[dict[str, Any]],
    unanswerable: bool = False,
    show_progress: bool = True,
    cold: bool = True,
) -> dict[str, Any]:
    """Answer metrics; with `unanswerable`, each question is asked with its gold passage left out.

    With `cold`, timings use no cached query or evidence embeddings (a fresh question about new
    passages); otherwise cached ones are reused, which is faster but understates latency."""
    from tqdm import tqdm

    correct = cited_gold = answered = abstained = invalid = 0
    first_token: list[float] = []
    total: list[float] = []
    prompt_tokens: list[int] = []
    methods: dict[str, int] = defaultdict(int)
    label = "answering (gold passage left out)" if unanswerable else "answering"
    for question in tqdm(questions, desc=label, unit="q", disable=not show_progress):
        gold = gold_article_id(question["passage_id"])
        embedder = assistant.index.embedder
        if cold:
            embedder.encode_query.cache_clear()
        started = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        with embedder.uncached() if cold else contextlib.nullcontext():
            hidden = frozenset({gold}) if unanswerable else frozenset()
            for event in assistant.stream(question["question"], exclude=hidden):
                first = first if first is not None else time.perf_counter() - started
                answer = event if isinstance(event, Answer) else answer
        assert answer is not None and first is not None
        total.append(time.perf_counter() - started)
        first_token.append(first)
        methods[answer.method] += 1
        invalid += invalid_citations(answer, assistant.index)
        if answer.prompt_tokens:
            prompt_tokens.append(answer.prompt_tokens)
        if answer.abstained:
            abstained += 1
            continue
        answered += 1
        golds = list(question.get("answers", []))
        if question.get("lang") != "ar":
            golds += question.get("answers_alt", [])
        correct += contains_answer(answer.text, golds)
        cited_gold += any(c.hit.article_id == gold for c in answer.citations)
    n = len(questions)
    result: dict[str, Any] = {
        "n_questions": n,
        "unanswerable_mode": unanswerable,
        "answer_accuracy": correct / n if n else 0.0,
        "citation_precision": cited_gold / answered if answered else 0.0,
        "invalid_citations": invalid,
        "ttft_median_s": statistics.median(first_token) if first_token else 0.0,
        "answer_median_s": statistics.median(total) if total else 0.0,
        "prompt_tokens_median": statistics.median(prompt_tokens) if prompt_tokens else 0,
        "methods": dict(methods),
        "cold_timings": cold,
    }
    rate = abstained / n if n else 0.0
    result["abstention_rate" if unanswerable else "false_abstention_rate"] = rate
    return result
