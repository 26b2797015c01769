"""Retrieval quality that a speed change must keep: XQuAD-ar hybrid recall@5 with the default (bfloat16)
embedder and with float32.

    python bench/quality.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.evaluate import evaluate_retrieval, read_jsonl, temporary_index

SHARED = Path(__file__).resolve().parents[2] / "shared"


def recall(dtype: str, passages: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, float]:
    settings = Settings()
    settings.models.embed_dtype = dtype  # type: ignore[assignment]
    with temporary_index(settings, passages) as index:
        return evaluate_retrieval(index, questions, (1, 5), "hybrid", show_progress=False)


def run() -> dict[str, Any]:
    xquad = SHARED / "eval/xquad_ar"
    passages, questions = read_jsonl(xquad / "passages.jsonl"), read_jsonl(xquad / "questions.jsonl")
    default, fp32 = recall("bfloat16", passages, questions), recall("float32", passages, questions)
    return {
        "xquad_ar_questions": len(questions),
        "xquad_ar_recall@1": default["recall@1"],
        "xquad_ar_recall@5": default["recall@5"],
        "xquad_ar_recall@1_fp32": fp32["recall@1"],
        "xquad_ar_recall@5_fp32": fp32["recall@5"],
    }


def main() -> None:
    for key, value in run().items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
