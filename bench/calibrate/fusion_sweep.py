"""Fits `retrieval.lexical_weight and retrieval.cross_lingual_lexical_weight`. Choose the hybrid fusion by measurement: sweep the lexical weight of the convex mix (and RRF for
comparison) on every eval set (each with its own passages), with and without distractors, and on the slices
where one retriever is clearly ahead; then the weight each Arabic set would get when fitted on the others
only (leave one dataset out). Scores are computed once per question; the sweep itself is pure arithmetic.

    python -m bench.calibrate.fusion_sweep [--distractors 500] [--limit N] [--sets xquad_ar,xquad_en2ar,arcd_train]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench.paths import SHARED
from rag import Settings
from rag.evaluate import first_gold_rank, gold_article_id, read_jsonl, retrieval_metrics, temporary_index
from rag.fusion import convex_mix
from rag.text import detect_language
from rag.types import Scope

WEIGHTS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0]
SETS = ("xquad_ar", "xquad_en2ar", "arcd_train")
DEPTH = 50


def rrf(dense: dict[int, float], lexical: dict[int, float], weight: float) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion (k=60), for comparison."""
    fused: dict[int, float] = {}
    for scores, w in ((dense, 1 - weight), (lexical, weight)):
        ranked = sorted((i for i in scores if scores[i] > 0 or scores is dense), key=lambda i: -scores[i])
        for rank, i in enumerate(ranked, start=1):
            fused[i] = fused.get(i, 0.0) + w / (60 + rank)
    return sorted(fused.items(), key=lambda item: -item[1])


def gather(index, questions: list[dict]) -> list[tuple[dict, dict, dict, dict]]:
    """Per question: its row, dense and lexical scores of the union of both retrievers' top DEPTH, chunk → article."""
    store, everywhere = index.store, Scope()
    cases = []
    for q in questions:
        vector = index.embedder.encode_query(q["question"])
        dense_top = store.dense(vector, DEPTH, everywhere)
        lexical_top = store.lexical(q["question"], DEPTH, everywhere)
        ids = list(dict.fromkeys([i for i, _ in dense_top] + [i for i, _ in lexical_top]))
        dense = store.similarities(vector, ids)
        lexical = store.lexical_scores(q["question"], ids)
        article = {h.chunk_id: h.article_id for h in store.hits([(i, 0.0) for i in ids], dense)}
        cases.append((q, dense, lexical, article))
    return cases


def ranks(fuse: Callable[[dict, dict], list[tuple[int, float]]], subset: list) -> list[int | None]:
    return [
        first_gold_rank([article[i] for i, _ in fuse(d, lex)[:10]], gold_article_id(q["passage_id"]))
        for q, d, lex, article in subset
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distractors", type=int, default=500, help="corpus articles mixed in (0: none)")
    parser.add_argument("--limit", type=int, default=None, help="questions per set")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated eval sets")
    args = parser.parse_args()
    settings = Settings()
    extra = read_jsonl(SHARED / "corpus/antcorpus-ar-news.jsonl.gz", args.distractors) if args.distractors else []
    convex_r1: dict[str, dict[float, float]] = {}
    for name in args.sets.split(","):
        passages = read_jsonl(SHARED / f"eval/{name}/passages.jsonl")
        with temporary_index(settings, passages, extra) as index:
            cases = gather(index, read_jsonl(SHARED / f"eval/{name}/questions.jsonl", args.limit))
        dense_r5 = ranks(lambda d, lex: convex_mix(d, lex, 0.0), cases)
        lexical_r5 = ranks(lambda d, lex: convex_mix({i: 0.0 for i in d}, lex, 1.0), cases)
        slices = {
            "all": cases,
            "dense ahead": [c for c, d, x in zip(cases, dense_r5, lexical_r5) if d and d <= 5 and not (x and x <= 5)],
            "lexical ahead": [c for c, d, x in zip(cases, dense_r5, lexical_r5) if x and x <= 5 and not (d and d <= 5)],
        }
        cross = sum(detect_language(q["question"]) != "ar" for q, *_ in cases)
        print(f"\n## {name}: {len(cases)} questions, {len(extra)} distractors, {cross} not in Arabic")
        print(f"{'fusion':14} {'weight':>6} " + " ".join(f"{s + ' r@1/r@5':>24}" for s in slices))
        for label, fuse in (("lexical only", None), ("convex", convex_mix), ("rrf", rrf)):
            for weight in [1.0] if fuse is None else WEIGHTS:

                def run(d: dict, lex: dict, w: float = weight, f=fuse) -> list[tuple[int, float]]:
                    return convex_mix({i: 0.0 for i in d}, lex, 1.0) if f is None else f(d, lex, w)

                cells = []
                for subset in slices.values():
                    m = retrieval_metrics(ranks(run, subset), [1, 5])
                    cells.append(f"{m['recall@1']:.3f}/{m['recall@5']:.3f} (n={len(subset)})")
                    if fuse is convex_mix and subset is cases:
                        convex_r1.setdefault(name, {})[weight] = m["recall@1"]
                print(f"{label:14} {weight:6.2f} " + " ".join(f"{c:>24}" for c in cells))
    arabic = [name for name in convex_r1 if name != "xquad_en2ar"]  # en→ar questions use the cross-lingual weight
    if len(arabic) > 1:
        print("\n## Leave one dataset out (convex weight for Arabic questions, by mean recall@1 of the other sets)")
        for held_out in arabic:
            others = [n for n in arabic if n != held_out]
            chosen = max(WEIGHTS, key=lambda w: sum(convex_r1[n][w] for n in others))
            best = max(WEIGHTS, key=lambda w: convex_r1[held_out][w])
            print(
                f"{held_out}: fitted on {', '.join(others)} → weight {chosen:.2f}, recall@1 {convex_r1[held_out][chosen]:.3f} "
                f"(its own best: {best:.2f}, {convex_r1[held_out][best]:.3f})"
            )


if __name__ == "__main__":
    main()
