"""`make eval`: the quality check for everyone, one table across datasets (XQuAD-ar, XQuAD en→ar, ARCD-train).

Per dataset: hybrid recall@1 / @5 over every question (strict: a chunk of the gold passage; "text": also a chunk
of a passage repeating the gold one's text, see `gold_text_rank`); over the first `--answers` questions (default 50)
answer accuracy, citation support (a cited passage holds a gold answer) beside citation precision (the
gold passage is cited), false abstention, and with the gold passage left out abstention on all of them and
on the really unanswerable ones (no other passage holds a gold answer). The embedding cache makes re-runs
fast. Figures go to `bench/results.json` under `quality.datasets`.

    python -m bench.eval_table [--answers 50] [--datasets xquad_ar,xquad_en2ar,arcd_train]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.paths import ROOT, SHARED
from rag.answering import Assistant
from rag.config import Settings
from rag.evaluate import evaluate_answers, evaluate_retrieval, read_jsonl, temporary_index

RESULTS_JSON = ROOT / "bench" / "results.json"
DATASETS = ("xquad_ar", "xquad_en2ar", "arcd_train")
COLUMNS = {
    "recall@1": "R@1",
    "recall@5": "R@5",
    "gold_text_recall@1": "R@1 text",
    "answer_accuracy": "accuracy",
    "citation_support": "cite supp",
    "citation_precision": "cite prec",
    "false_abstention_rate": "false abst",
    "abstention_rate": "abst (all)",
    "abstention_rate_true_unanswerable": "abst (true)",
}


def measure(name: str, answers: int) -> dict[str, Any]:
    """The figures of one dataset."""
    folder = SHARED / "eval" / name
    questions = read_jsonl(folder / "questions.jsonl")
    started = time.perf_counter()
    with temporary_index(Settings(), read_jsonl(folder / "passages.jsonl")) as index:
        retrieval = evaluate_retrieval(index, questions, (1, 5), "hybrid", show_progress=False)
        assistant = Assistant(index)
        asked = questions[:answers]
        answered = evaluate_answers(assistant, asked, unanswerable=False, show_progress=False, cold=False)
        gold_out = evaluate_answers(assistant, asked, unanswerable=True, show_progress=False, cold=False)
    return {
        "questions": len(questions),
        "answered_questions": len(asked),
        "recall@1": retrieval["recall@1"],
        "recall@5": retrieval["recall@5"],
        "gold_text_recall@1": retrieval["gold_text_recall@1"],
        "gold_text_recall@5": retrieval["gold_text_recall@5"],
        **{k: answered[k] for k in ("answer_accuracy", "citation_support", "citation_precision")},
        "citation_span_support": answered["citation_span_support"],
        "false_abstention_rate": answered["false_abstention_rate"],
        "abstention_rate": gold_out["abstention_rate"],
        "abstention_rate_true_unanswerable": gold_out["abstention_rate_true_unanswerable"],
        "n_true_unanswerable": gold_out["n_true_unanswerable"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def table(figures: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'dataset':12} " + " ".join(f"{label:>11}" for label in COLUMNS.values())]
    for name, row in figures.items():
        lines.append(f"{name:12} " + " ".join(f"{row[key]:11.3f}" for key in COLUMNS))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=50, help="Questions answered per dataset.")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    arguments = parser.parse_args()
    started = time.perf_counter()
    figures = {name: measure(name, arguments.answers) for name in arguments.datasets.split(",")}
    print(table(figures))
    print(
        f"({time.perf_counter() - started:.0f} s; answers and abstention over the first {arguments.answers} questions)"
    )
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {"sections": {}}
    results["sections"].setdefault("quality", {})["datasets"] = figures
    RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
