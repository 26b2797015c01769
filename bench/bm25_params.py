"""Hybrid retrieval recall@1 / @5 on XQuAD-ar, XQuAD en->ar and ARCD-train for a grid of BM25 parameters
(k1, b; bm25s's defaults 1.5 / 0.75 are what both stores use). Each cell is a temporary index built by the real
pipeline (embeddings from the cache), so only the lexical side changes. Prints a table.

    python bench/bm25_params.py [--k1 0.9,1.2,1.5,2.0,3.0] [--b 0.75,0.85,0.9,1.0]
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import bm25s

from rag.config import Settings
from rag.embedding import Embedder
from rag.evaluate import evaluate_retrieval, read_jsonl, temporary_index

EVAL = Path(__file__).resolve().parents[2] / "shared/eval"
SETS = ("xquad_ar", "xquad_en2ar", "arcd_train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k1", default="0.9,1.2,1.5,2.0,3.0")
    parser.add_argument("--b", default="0.75,0.85,0.9,1.0")
    args = parser.parse_args()
    settings = Settings()
    embedder = Embedder(settings.models, keep_queries=True)
    data = {
        name: (read_jsonl(EVAL / name / "passages.jsonl"), read_jsonl(EVAL / name / "questions.jsonl")) for name in SETS
    }
    default = bm25s.BM25.__init__
    print("| k1 | b | " + " | ".join(f"{name} R@1 / R@5" for name in SETS) + " |")
    print("|---|---|" + "---|" * len(SETS))
    try:
        for b in map(float, args.b.split(",")):
            for k1 in map(float, args.k1.split(",")):
                bm25s.BM25.__init__ = functools.partialmethod(default, k1=k1, b=b)
                cells = []
                for passages, questions in data.values():
                    with temporary_index(settings, passages, embedder=embedder) as index:
                        found = evaluate_retrieval(index, questions, [1, 5], "hybrid", show_progress=False)
                    cells.append(f"{found['recall@1']:.3f} / {found['recall@5']:.3f}")
                print(f"| {k1} | {b} | " + " | ".join(cells) + " |", flush=True)
    finally:
        bm25s.BM25.__init__ = default


if __name__ == "__main__":
    main()
