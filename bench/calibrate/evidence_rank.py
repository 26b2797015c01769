"""Fits `answer.evidence_rank_cost`. Does the passage's retrieval rank help choose the evidence? For each question (gold passage indexed), every
candidate sentence run of the relevant passages with its evidence score and its article's retrieval rank; for each
`answer.evidence_rank_cost`, the share of questions whose best evidence comes from the gold passage, from a
passage holding a gold answer, and is itself a sentence holding one. Each cost is chosen on one set and read
on the others (leave one dataset out).

    python -m bench.calibrate.evidence_rank [--sets xquad_ar,xquad_en2ar,arcd_train] [--limit N]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.paths import SHARED
from rag import Assistant, Settings
from rag.evaluate import contains_answer, gold_article_id, read_jsonl, temporary_index
from rag.evidence import article_places

COSTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def candidates(name: str, limit: int | None) -> list[np.ndarray]:
    """Per question, rows of (evidence score, article rank, from the gold passage, passage holds an answer,
    sentence holds an answer) for every candidate."""
    questions = read_jsonl(SHARED / f"eval/{name}/questions.jsonl", limit)
    found = []
    with temporary_index(Settings(), read_jsonl(SHARED / f"eval/{name}/passages.jsonl")) as index:
        assistant = Assistant(index)
        for q in questions:
            passages = assistant.passages(assistant.retrieve(q["question"]))
            ranked = assistant.candidates(q["question"], passages, rank_cost=0.0)
            place = article_places(passages)
            gold = gold_article_id(q["passage_id"])
            found.append(
                np.array(
                    [
                        (
                            e.score,
                            place[e.hit.article_id],
                            e.hit.article_id == gold,
                            contains_answer(e.hit.text, q["answers"]),
                            contains_answer(e.text, q["answers"]),
                        )
                        for e in ranked
                    ],
                    dtype=float,
                ).reshape(-1, 5)
            )
    return found


def shares(questions: list[np.ndarray], cost: float) -> np.ndarray:
    """(gold passage, passage with an answer, sentence with an answer) shares of the best evidence at `cost`."""
    best = [rows[np.argmax(rows[:, 0] - cost * rows[:, 1])] for rows in questions if len(rows)]
    return np.mean([row[2:] for row in best], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="xquad_ar,xquad_en2ar,arcd_train")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set (default: all)")
    args = parser.parse_args()
    sets = {name: candidates(name, args.limit) for name in args.sets.split(",")}
    figures = {name: {cost: shares(questions, cost) for cost in COSTS} for name, questions in sets.items()}
    asked = f"the first {args.limit} questions" if args.limit else "every question"
    print(f"best evidence of {asked}: from the gold passage / a passage with an answer / "
          "a sentence with an answer")  # fmt: skip
    print(f"{'rank cost':>9s}  " + "  ".join(f"{name:>24s}" for name in sets))
    for cost in COSTS:
        print(f"{cost:9.2f}  " + "  ".join(f"{' / '.join(f'{v:.3f}' for v in figures[n][cost]):>24s}" for n in sets))
    for name in sets:
        for other in (o for o in sets if o != name):
            chosen = max(COSTS, key=lambda cost: (figures[other][cost][0], -cost))
            gold, passage, sentence = figures[name][chosen]
            print(f"{name}: cost {chosen} chosen on {other} gives {gold:.3f} / {passage:.3f} / {sentence:.3f}")


if __name__ == "__main__":
    main()
