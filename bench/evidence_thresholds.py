"""Choose the evidence settings by measurement (no LLM needed): for each question, the best evidence
sentence with the gold passage present and with it left out. Prints, per lexical weight, how often
the best sentence holds the gold answer (extractive accuracy) and, per abstention threshold, the false
abstention rate (gold present) against the abstention rate (gold left out).

    python bench/evidence_thresholds.py [--limit 200] [--set xquad_ar]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rag import Assistant, Settings
from rag.evaluate import contains_answer, gold_article_id, read_jsonl, temporary_index

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=200, help="questions per set")
    parser.add_argument("--set", default="xquad_ar", help="eval folder under shared/eval")
    parser.add_argument("--weights", default="0.3", help="evidence lexical weights (ignored across languages)")
    parser.add_argument("--windows", default="1,2", help="sentences per piece of evidence")
    args = parser.parse_args()
    settings = Settings()
    passages = read_jsonl(SHARED / f"eval/{args.set}/passages.jsonl")
    questions = read_jsonl(SHARED / f"eval/{args.set}/questions.jsonl", args.limit)
    with temporary_index(settings, passages) as index:
        variants = [(float(w), int(n)) for w in args.weights.split(",") for n in args.windows.split(",")]
        for weight, window in variants:
            answer = settings.answer.model_copy(
                update={"evidence_lexical_weight": weight, "evidence_window": window, "evidence_margin": 2.0}
            )
            index.settings = settings.model_copy(update={"answer": answer, "index_dir": index.settings.index_dir})
            assistant = Assistant(index)
            present, absent, correct = [], [], []
            for q in questions:
                golds = q["answers"] + (q.get("answers_alt", []) if q["lang"] != "ar" else [])
                gold = frozenset({gold_article_id(q["passage_id"])})
                with_gold = assistant.evidence(q["question"], assistant.retrieve(q["question"]))
                without = assistant.evidence(q["question"], assistant.retrieve(q["question"], exclude=gold))
                present.append(with_gold[0].score if with_gold else -1.0)
                absent.append(without[0].score if without else -1.0)
                correct.append(bool(with_gold) and contains_answer(with_gold[0].text, golds))
            p, a = np.array(present), np.array(absent)
            print(
                f"\n{args.set} lexical weight {weight}, window {window}: best evidence holds the answer "
                f"{np.mean(correct):.3f}"
            )
            print("min_evidence  false_abstention  abstention(gold out)  accuracy_kept")
            for threshold in np.arange(0.2, 0.75, 0.05):
                kept = np.mean([c and s >= threshold for c, s in zip(correct, present)])
                print(
                    f"{threshold:12.2f}  {np.mean(p < threshold):16.3f}  {np.mean(a < threshold):20.3f}  {kept:13.3f}"
                )


if __name__ == "__main__":
    main()
