"""`rag eval`: retrieval quality (recall@k, MRR@10) on QA files, through a temporary index built by the real pipeline."""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embedding import Embedder
from rag.indexing import build_index
from rag.retrieval import Index

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
                lines = (json.dumps({k: r[k] for k in ("id", "title", "text") if k in r}, ensure_ascii=False) for r in records)
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
