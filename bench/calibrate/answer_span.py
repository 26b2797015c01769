"""Fits `answer.span_min_confidence`. Fit the confidence threshold above which the answer span is shown first (answer.span_min_confidence).

Questions 200-299 of each set (held back from the figures) are answered with every span shown; the
threshold is the lowest log-probability at which the spans at or above it, all sets pooled, hold the gold
answer at least `--precision` of the time. Then the first 200 questions of each set are answered with that
threshold: span exact match, token F1, share shown, precision when shown, and answer accuracy (the README's
figures).

    python -m bench.calibrate.answer_span [--sets xquad_ar,xquad_en2ar] [--precision 0.9] [--fit 200:300] [--test 0:200]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.paths import EVAL, RESULTS
from rag import Assistant, Settings
from rag.embedding import Embedder
from rag.evaluate import evaluate_answers, read_jsonl, temporary_index

SHOW_ALL = -1e9


def fit_threshold(rows: list[dict[str, Any]], precision: float) -> tuple[float, float, int]:
    """The lowest confidence whose spans at or above it hold the answer >= `precision` of the time:
    (threshold, precision reached, spans kept)."""
    spans = sorted(
        ((r["span_confidence"], r["span_holds_answer"]) for r in rows if r.get("span") is not None),
        key=lambda item: -item[0],
    )
    best = (0.0, 1.0, 0)
    held = 0
    for kept, (confidence, holds) in enumerate(spans, start=1):
        held += holds
        if held / kept >= precision:
            best = (confidence, held / kept, kept)
    return best


def with_threshold(settings: Settings, threshold: float) -> Settings:
    return settings.model_copy(update={"answer": settings.answer.model_copy(update={"span_min_confidence": threshold})})


def slice_of(text: str) -> slice:
    start, end = (int(x) for x in text.split(":"))
    return slice(start, end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="xquad_ar,xquad_en2ar")
    parser.add_argument("--precision", type=float, default=0.90)
    parser.add_argument("--fit", default="200:300", help="questions the threshold is fitted on (all sets pooled)")
    parser.add_argument("--test", default="0:200", help="questions the figures are measured on")
    parser.add_argument("--threshold", type=float, help="skip the fit and measure this threshold")
    args = parser.parse_args()
    settings = Settings()
    embedder = Embedder(settings.embedder, settings.models_dir)
    names = args.sets.split(",")
    threshold, reached, kept = args.threshold, float("nan"), 0
    if threshold is None:
        rows: list[dict[str, Any]] = []
        for name in names:
            with temporary_index(settings, read_jsonl(EVAL / name / "passages.jsonl"), embedder=embedder) as index:
                index.settings = with_threshold(index.settings, SHOW_ALL)
                questions = read_jsonl(EVAL / name / "questions.jsonl")[slice_of(args.fit)]
                rows += evaluate_answers(Assistant(index), questions, cold=False)["details"]
        (RESULTS / "answer_span_fit.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        threshold, reached, kept = fit_threshold(rows, args.precision)
        spans = sum(r["span"] is not None for r in rows)
        print(
            f"fit on questions {args.fit} of {', '.join(names)}: threshold {threshold:.3f} keeps {kept} of {spans} "
            f"spans at precision {reached:.3f}",
            file=sys.stderr,
        )
    report: dict[str, Any] = {"threshold": threshold, "fit": args.fit, "fit_precision": reached, "fit_kept": kept}
    for name in names:
        with temporary_index(settings, read_jsonl(EVAL / name / "passages.jsonl"), embedder=embedder) as index:
            index.settings = with_threshold(index.settings, threshold)
            questions = read_jsonl(EVAL / name / "questions.jsonl")[slice_of(args.test)]
            tested = evaluate_answers(Assistant(index), questions, cold=False)
        report[name] = {k: v for k, v in tested.items() if k != "details"}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"answer_span_{name}.json").write_text(
            json.dumps({**report, name: report[name], "details": tested["details"]}, ensure_ascii=False, indent=1)
            + "\n"
        )
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
