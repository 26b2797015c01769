"""Fits `retrieval.min_score`. Measure where to put retrieval.min_score: top-1 cosine of answerable vs unanswerable questions.

Answerable: XQuAD questions (Arabic, and English over Arabic) searched in an index of their own
passages. Unanswerable: the same questions searched in the seed-article index, which cannot answer
them, plus the seed's own unanswerable questions. Prints the score quantiles and, per candidate
threshold, the share of answerable questions kept and of unanswerable ones let through.

    python -m bench.calibrate.relevance_threshold [--limit 400]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.paths import ROOT, SHARED
from rag import Index, Settings, build_index
from rag.embedding import Embedder

REPO = ROOT


def questions(path: Path, limit: int) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[:limit]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=400, help="questions per set")
    args = parser.parse_args()
    settings = Settings()
    embedder = Embedder(settings.embedder, settings.models_dir)
    with tempfile.TemporaryDirectory() as tmp:
        seeds = Path(tmp) / "seeds"
        seeds.mkdir()
        passages = [json.loads(line) for line in (SHARED / "eval/xquad_ar/passages.jsonl").read_text().splitlines()]
        (seeds / "xquad.jsonl").write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in passages))
        xquad = settings.model_copy(update={"seeds_dir": seeds, "index_dir": Path(tmp) / "xquad"})
        seed = settings.model_copy(update={"seeds_dir": REPO / "seeds", "index_dir": Path(tmp) / "seed"})
        build_index(xquad, embedder)
        build_index(seed, embedder)
        xquad_index, seed_index = Index(xquad, embedder), Index(seed, embedder)
        answerable: list[float] = []
        unanswerable: list[float] = []
        for name in ("xquad_ar", "xquad_en2ar"):
            for q in questions(SHARED / f"eval/{name}/questions.jsonl", args.limit):
                hits = xquad_index.search(q["question"], k=5)
                gold = [h.score for h in hits if h.article_id == f"xquad.jsonl#{q['passage_id']}"]
                if gold:
                    answerable.append(hits[0].score)
                unanswerable.append(seed_index.search(q["question"], k=1)[0].score)
        for q in questions(SHARED / "eval/seed_qa.jsonl", 100):
            score = seed_index.search(q["question"], k=1)[0].score
            (answerable if q["answerable"] else unanswerable).append(score)
            print(f"seed {q['id']}: top-1 {score:.3f}")
    a, u = np.array(answerable), np.array(unanswerable)
    print(f"answerable n={len(a)} quantiles 1/5/50%: {np.quantile(a, [0.01, 0.05, 0.5]).round(3)}")
    print(f"unanswerable n={len(u)} quantiles 50/95/99/max: {np.quantile(u, [0.5, 0.95, 0.99, 1]).round(3)}")
    print("threshold  answerable_kept  unanswerable_passed")
    for threshold in np.arange(0.10, 0.42, 0.02):
        print(f"{threshold:9.2f}  {np.mean(a >= threshold):15.3f}  {np.mean(u >= threshold):19.3f}")


if __name__ == "__main__":
    main()
