"""Retrieval quality that a speed change must keep: XQuAD-ar recall@1 / @5 of hybrid search (the default)
and of dense search alone (which shows an embedder change more), for the float32, bfloat16 and int8
embedder. The un-suffixed keys are the default `embedder.dtype`.

    python -m bench.quality
"""

from __future__ import annotations

from typing import Any

from bench.paths import SHARED
from rag.config import Settings
from rag.evaluate import evaluate_retrieval, read_jsonl, temporary_index


def recall(dtype: str, passages: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, float]:
    settings = Settings()
    settings.embedder.dtype = dtype  # type: ignore[assignment]
    with temporary_index(settings, passages) as index:
        figures = evaluate_retrieval(index, questions, (1, 5), "hybrid", show_progress=False)
        dense = evaluate_retrieval(index, questions, (1, 5), "dense", show_progress=False)
    return figures | {f"dense_{k}": v for k, v in dense.items() if k.startswith("recall@")}


def run() -> dict[str, Any]:
    xquad = SHARED / "eval/xquad_ar"
    passages, questions = read_jsonl(xquad / "passages.jsonl"), read_jsonl(xquad / "questions.jsonl")
    figures: dict[str, Any] = {"xquad_ar_questions": len(questions), "embed_dtype": Settings().embedder.dtype}
    suffixes = {"float32": "_fp32", "bfloat16": "_bf16", "int8": "_int8"}
    for dtype, suffix in suffixes.items():
        measured = recall(dtype, passages, questions)
        for key in ("recall@1", "recall@5", "dense_recall@1", "dense_recall@5"):
            figures[f"xquad_ar_{key}{suffix}"] = measured[key]
            if dtype == figures["embed_dtype"]:
                figures[f"xquad_ar_{key}"] = measured[key]
    return figures


def main() -> None:
    for key, value in run().items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
