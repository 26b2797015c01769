"""`rag eval`: retrieval (recall@k, MRR@10; strict and by the gold passage's text) and answer quality on QA
files, through a temporary index built by the real pipeline."""

from __future__ import annotations

import contextlib
import gzip
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
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
from rag.stores import engine_for
from rag.text import normalize, tokens
from rag.types import Answer, Hit

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
        update: dict[str, Any] = {"seeds_dir": seeds, "index_dir": Path(tmp) / "index"}
        if settings.store.is_milvus:  # the same engine: a Milvus Lite file here, or new collections there
            uri = str(Path(tmp) / "eval.db") if settings.store.uri.endswith(".db") else settings.store.uri
            prefix = f"{settings.store.collection}_eval_{uuid.uuid4().hex[:8]}"
            update["store"] = settings.store.model_copy(update={"uri": uri, "collection": prefix})
        temporary = settings.model_copy(update=update)
        embedder = embedder or Embedder(settings.embedder, settings.models_dir, keep_queries=True)
        try:
            build_index(temporary, embedder)
            yield Index(temporary, embedder)
        finally:
            engine_for(temporary).drop()


def first_gold_rank(article_ids: Sequence[str], gold: str) -> int | None:
    """1-based rank of the first hit from the gold article, None if absent."""
    return next((rank for rank, a in enumerate(article_ids, start=1) if a == gold), None)


def gold_text_rank(hits: Sequence[Hit], gold: str, gold_text: str) -> int | None:
    """1-based rank of the first hit showing the gold passage's own text: from the gold article, or a chunk whose
    text lies inside the gold passage or holds all of it (whitespace aside). A QA set may repeat a passage inside
    another (ARCD repeats an article's lead paragraph in the next one): the strict rank counts that twin a miss."""
    folded = " ".join(gold_text.split())

    def same_text(hit: Hit) -> bool:
        text = " ".join(hit.text.split())
        return hit.article_id == gold or bool(folded) and (text in folded or folded in text)

    return next((rank for rank, hit in enumerate(hits, start=1) if same_text(hit)), None)


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
    text_ranks: list[int | None] = []
    for question in tqdm(questions, desc=f"searching ({mode})", unit="q", disable=not show_progress):
        hits = index.search(question["question"], k=depth, mode=mode)
        gold, gold_text = gold_article_id(question["passage_id"]), ""
        rank = first_gold_rank([h.article_id for h in hits], gold)
        ranks["all"].append(rank)
        ranks[question.get("lang", "?")].append(rank)
        with contextlib.suppress(KeyError):  # not indexed (merged into a near-duplicate): its id alone
            gold_text = index.article_text(gold)
        text_ranks.append(gold_text_rank(hits, gold, gold_text))
    result: dict[str, Any] = {"mode": mode, **retrieval_metrics(ranks.pop("all"), ks)}
    result |= {f"gold_text_{k}": v for k, v in retrieval_metrics(text_ranks, ks).items() if k != "n_questions"}
    result["by_lang"] = {lang: retrieval_metrics(r, ks) for lang, r in sorted(ranks.items())}
    return result


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """The answer text holds one of the gold answers, after Arabic normalisation of both."""
    folded = " ".join(normalize(text).split())
    return any(" ".join(normalize(a).split()) in folded for a in answers if a.strip())


def answer_found_elsewhere(index: Index, questions: Sequence[dict[str, Any]]) -> list[bool]:
    """For each question, whether an indexed article other than its gold passage holds a gold answer
    (string match after Arabic normalisation): asked without its gold passage, it is still answerable."""
    folded = {a.id: " ".join(normalize(index.article_text(a.id)).split()) for a in index.store.articles()}
    found = []
    for question in questions:
        answers = [" ".join(normalize(a).split()) for a in gold_answers(question) if a.strip()]
        gold = gold_article_id(question["passage_id"])
        found.append(any(a in text for article, text in folded.items() if article != gold for a in answers))
    return found


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


def span_scores(span: str, answers: Sequence[str]) -> tuple[bool, float]:
    """Exact match and token F1 of a span against the best of the gold answers (SQuAD's way, after Arabic
    normalisation)."""
    predicted = tokens(span)
    best_match, best_f1 = False, 0.0
    for answer in answers:
        gold = tokens(answer)
        if not gold:
            continue
        shared = sum((Counter(predicted) & Counter(gold)).values())
        f1 = 2 * shared / (len(predicted) + len(gold)) if shared else 0.0
        best_match, best_f1 = best_match or predicted == gold, max(best_f1, f1)
    return best_match, best_f1


def gold_answers(question: dict[str, Any]) -> list[str]:
    """The answers a reply may hold: the gold ones, and for questions in another language their alternatives."""
    golds = list(question.get("answers", []))
    if question.get("lang") != "ar":
        golds += question.get("answers_alt", [])
    return golds


def answer_row(question: dict[str, Any], answer: Answer, index: Index) -> dict[str, Any]:
    """How one answer scored against its question's gold answers and passage. `cited_gold` is the strict
    check (the gold passage is cited); `cites_answer` / `cited_span_holds_answer` are what a reader needs
    (a cited passage / a cited span holds a gold answer, wherever it comes from)."""
    golds = gold_answers(question)
    gold = gold_article_id(question["passage_id"])
    span = answer.answer_span
    row: dict[str, Any] = {
        "id": question.get("id"),
        "follow_up": bool(question.get("history")),
        "answerable": question.get("answerable", True),
        "abstained": answer.abstained,
        "method": answer.method,
        "correct": not answer.abstained and contains_answer(answer.text, golds),
        "cited_gold": any(c.hit.article_id == gold for c in answer.citations),
        "cites_answer": any(contains_answer(c.hit.text, golds) for c in answer.citations),
        "cited_span_holds_answer": any(contains_answer(c.span_text, golds) for c in answer.citations),
        "invalid_citations": invalid_citations(answer, index),
        "span": span.text if span else None,
        "span_confidence": span.confidence if span else None,
    }
    if span is not None:
        row["span_exact_match"], row["span_f1"] = span_scores(span.text, golds)
        row["span_holds_answer"] = contains_answer(span.text, golds)
    return row


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Answer metrics of a set of scored answers (questions marked unanswerable count only as abstention)."""
    answerable = [r for r in rows if r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    shown = [r for r in answered if r["span"] is not None]
    n = len(answerable)
    result: dict[str, Any] = {
        "n_questions": len(rows),
        "answer_accuracy": sum(r["correct"] for r in answerable) / n if n else 0.0,
        "citation_precision": sum(r["cited_gold"] for r in answered) / len(answered) if answered else 0.0,
        "citation_support": sum(r["cites_answer"] for r in answered) / len(answered) if answered else 0.0,
        "citation_span_support": (
            sum(r["cited_span_holds_answer"] for r in answered) / len(answered) if answered else 0.0
        ),
        "correctly_cited_rate": sum(r["cited_gold"] and r["correct"] for r in answerable) / n if n else 0.0,
        "invalid_citations": sum(r["invalid_citations"] for r in rows),
        "abstention_rate_answerable": sum(r["abstained"] for r in answerable) / n if n else 0.0,
        "span_shown_rate": len(shown) / len(answered) if answered else 0.0,
        "span_exact_match": sum(r["span_exact_match"] for r in shown) / len(shown) if shown else 0.0,
        "span_f1": sum(r["span_f1"] for r in shown) / len(shown) if shown else 0.0,
        "span_precision_when_shown": sum(r["span_holds_answer"] for r in shown) / len(shown) if shown else 0.0,
    }
    if unanswerable := [r for r in rows if not r["answerable"]]:
        result["n_unanswerable"] = len(unanswerable)
        result["abstention_rate_unanswerable"] = sum(r["abstained"] for r in unanswerable) / len(unanswerable)
    return result


def evaluate_answers(
    assistant: Assistant,
    questions: Sequence[dict[str, Any]],
    unanswerable: bool = False,
    show_progress: bool = True,
    cold: bool = True,
) -> dict[str, Any]:
    """Answer metrics; with `unanswerable`, each question is asked with its gold passage left out.

    A question with a `history` (earlier questions of its conversation) is asked as a follow-up of them.
    With `cold`, timings use no cached query or evidence embeddings (a fresh question about new
    passages); otherwise cached ones are reused, which is faster but understates latency."""
    from tqdm import tqdm

    first_token: list[float] = []
    total: list[float] = []
    prompt_tokens: list[int] = []
    methods: dict[str, int] = defaultdict(int)
    rows: list[dict[str, Any]] = []
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
            for event in assistant.stream(question["question"], question.get("history", []), exclude=hidden):
                first = first if first is not None else time.perf_counter() - started
                answer = event if isinstance(event, Answer) else answer
        assert answer is not None and first is not None
        total.append(time.perf_counter() - started)
        first_token.append(first)
        methods[answer.method] += 1
        if answer.prompt_tokens:
            prompt_tokens.append(answer.prompt_tokens)
        rows.append(answer_row(question, answer, assistant.index))
    result: dict[str, Any] = {
        **summarize(rows),
        "unanswerable_mode": unanswerable,
        "ttft_median_s": statistics.median(first_token) if first_token else 0.0,
        "answer_median_s": statistics.median(total) if total else 0.0,
        "prompt_tokens_median": statistics.median(prompt_tokens) if prompt_tokens else 0,
        "methods": dict(methods),
        "cold_timings": cold,
    }
    if any(r["follow_up"] for r in rows):
        result["first_turns"] = summarize([r for r in rows if not r["follow_up"]])
        result["follow_ups"] = summarize([r for r in rows if r["follow_up"]])
    rate = sum(r["abstained"] for r in rows) / len(rows) if rows else 0.0
    result["abstention_rate" if unanswerable else "false_abstention_rate"] = rate
    if unanswerable:  # the label is not always right: another passage may state the answer too
        answered_elsewhere = answer_found_elsewhere(assistant.index, questions)
        for row, elsewhere in zip(rows, answered_elsewhere):
            row["answer_in_other_passages"] = elsewhere
        really = [r for r in rows if not r["answer_in_other_passages"]]
        result["n_true_unanswerable"] = len(really)
        result["abstention_rate_true_unanswerable"] = (
            sum(r["abstained"] for r in really) / len(really) if really else 0.0
        )
        result["answered_with_a_gold_answer"] = sum(not r["abstained"] and r["correct"] for r in rows)
    result["details"] = rows
    return result
