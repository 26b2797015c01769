"""How far the LLM's answer spans can be trusted: the ceiling behind `answer.span_min_confidence`.

For each question answered (evidence found and judged sufficient, as in `rag ask`), every candidate span of
the best evidence is scored as rag/spans.py scores it, following `--starts` candidate starts (the product
follows 4). Reported per set: how often the gold answer is in the best evidence, in some candidate, and in
the candidate ranked first (by log-probability, and re-ranked by nearness to the question's words); then,
for each confidence measure of the first candidate, the precision of the most confident 10 / 20 / 40 and
whether a threshold fitted for `--precision` on one half of the questions holds on the other half (both
ways). A measure a span can be shown by must reach the precision out of sample.

    python bench/span_ceiling.py [--sets xquad_ar,xquad_en2ar] [--questions 0:400] [--starts 12]
        [--save spans.json | --load spans.json]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import rag.generators.llama as llama_generator
from rag import Assistant, Settings
from rag.embedding import Embedder
from rag.evaluate import contains_answer, gold_answers, read_jsonl, temporary_index
from rag.evidence import content_terms
from rag.spans import MAX_SPAN_WORDS, saying_something_new, span_starts
from rag.text import WORD

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).resolve().parent / "results"
Candidate = tuple[int, int, float, str]  # start, end, log-probability, text


def score_questions(name: str, questions: slice, starts: int, embedder: Embedder) -> list[dict[str, Any]]:
    """Each answered question's best evidence and its scored candidate spans (those saying something new)."""
    llama_generator.SPAN_STARTS = starts
    rows = []
    with temporary_index(Settings(), read_jsonl(SHARED / "eval" / name / "passages.jsonl"), embedder=embedder) as index:
        assistant = Assistant(index)
        for number, q in enumerate(read_jsonl(SHARED / "eval" / name / "questions.jsonl")[questions], questions.start):
            evidence = assistant.evidence(q["question"], assistant.retrieve(q["question"]))
            if not assistant.sufficient(q["question"], evidence):
                continue
            text = evidence[0].text
            scored = assistant.generator.answer_spans(
                q["question"], [e.text for e in evidence], span_starts(text), MAX_SPAN_WORDS
            )
            candidates = [
                (s.start, s.end, s.log_probability) for s in saying_something_new(q["question"], text, scored)
            ]
            rows.append(
                {
                    "set": name,
                    "number": number,
                    "question": q["question"],
                    "golds": gold_answers(q),
                    "evidence": text,
                    "candidates": candidates,
                }
            )
    return rows


def question_words(row: dict[str, Any]) -> list[tuple[int, int]]:
    """Where the best evidence has a word the question shares (kept in the row)."""
    if "question_words" not in row:
        asked = content_terms(row["question"])
        row["question_words"] = [w.span() for w in WORD.finditer(row["evidence"]) if content_terms(w.group()) & asked]
    return row["question_words"]


def gap_to_question(row: dict[str, Any], start: int, end: int) -> int:
    """Words between a span and the nearest evidence word the question shares (10 at most, or none)."""
    text = row["evidence"]
    gaps = [10]
    for word_start, word_end in question_words(row):
        if word_start < end and start < word_end:
            gaps.append(0)
        else:
            gaps.append(len((text[end:word_start] if word_start >= end else text[word_end:start]).split()))
    return min(gaps)


def first(row: dict[str, Any], nearness: float = 0.0) -> Candidate | None:
    """The candidate ranked first: by log-probability, less `nearness` per word away from the question's words."""
    ranked = [(*c, row["evidence"][c[0] : c[1]]) for c in row["candidates"]]
    if not ranked:
        return None
    return max(ranked, key=lambda c: c[2] - nearness * gap_to_question(row, c[0], c[1]))


def share(row: dict[str, Any], chosen: Candidate) -> float:
    """The chosen span's share of all candidates' probability, counting candidates that overlap it."""
    log_probabilities = [c[2] for c in row["candidates"]]
    overlapping = [c[2] for c in row["candidates"] if c[0] < chosen[1] and chosen[0] < c[1]]
    return math.exp(np.logaddexp.reduce(overlapping) - np.logaddexp.reduce(log_probabilities))


def margin(row: dict[str, Any], chosen: Candidate) -> float:
    """How far the chosen span's log-probability is ahead of the best candidate not overlapping it."""
    others = [c[2] for c in row["candidates"] if not (c[0] < chosen[1] and chosen[0] < c[1])]
    return chosen[2] - max(others, default=chosen[2] - 10.0)


MEASURES: dict[str, Callable[[dict[str, Any], Candidate], float]] = {
    "log-probability": lambda row, chosen: chosen[2],
    "share of candidates": share,
    "margin": margin,
    "log-probability + log share": lambda row, chosen: chosen[2] + math.log(share(row, chosen)),
}


def threshold_for(scored: list[tuple[float, bool]], precision: float) -> float | None:
    """The lowest confidence whose spans at or above it hold the answer >= `precision` of the time."""
    found, held = None, 0
    for kept, (confidence, holds) in enumerate(sorted(scored, key=lambda s: -s[0]), start=1):
        held += holds
        if held / kept >= precision:
            found = confidence
    return found


def shown(scored: list[tuple[float, bool]], threshold: float | None) -> str:
    kept = [holds for confidence, holds in scored if threshold is not None and confidence >= threshold]
    return f"{len(kept)} shown, precision {sum(kept) / len(kept):.2f}" if kept else "none shown"


def holding(rows: list[dict[str, Any]], nearness: float = 0.0) -> float:
    """Share of the rows whose first candidate holds a gold answer."""
    return sum(bool(c := first(r, nearness)) and contains_answer(c[3], r["golds"]) for r in rows) / len(rows)


def report(rows: list[dict[str, Any]], precision: float) -> str:
    lines = []
    for name in sorted({r["set"] for r in rows}) + ["all"]:
        group = [r for r in rows if name in ("all", r["set"])]
        with_gold = [r for r in group if contains_answer(r["evidence"], r["golds"])]

        in_candidates = sum(
            any(contains_answer(r["evidence"][c[0] : c[1]], r["golds"]) for c in r["candidates"]) for r in group
        )
        lines.append(
            f"{name}: {len(group)} answered; gold answer in the best evidence {len(with_gold) / len(group):.3f}, "
            f"in some candidate {in_candidates / len(group):.3f}, in the first candidate {holding(group):.3f} "
            f"(re-ranked by nearness to the question's words: {holding(group, 1.0):.3f})"
        )
    lines.append(f"\nconfidence of the first candidate (all sets pooled); threshold fitted for precision {precision}:")
    numbers = sorted(r["number"] for r in rows)
    middle = numbers[len(numbers) // 2]
    halves = {
        "first half": [r for r in rows if r["number"] < middle],
        "second half": [r for r in rows if r["number"] >= middle],
    }
    for measure_name, measure in MEASURES.items():
        scored = {
            half: [(measure(r, c), contains_answer(c[3], r["golds"])) for r in group if (c := first(r))]
            for half, group in halves.items()
        }
        pooled = sorted(scored["first half"] + scored["second half"], key=lambda s: -s[0])
        top = ", ".join(f"top {k} {np.mean([h for _, h in pooled[:k]]):.2f}" for k in (10, 20, 40))
        transfer = []
        for fit, test in (("first half", "second half"), ("second half", "first half")):
            threshold = threshold_for(scored[fit], precision)
            transfer.append(
                f"fitted on the {fit}: {shown(scored[fit], threshold)}; on the {test}: {shown(scored[test], threshold)}"
            )
        lines.append(f"- {measure_name}: {top}\n    " + "\n    ".join(transfer))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="xquad_ar,xquad_en2ar")
    parser.add_argument("--questions", default="0:400")
    parser.add_argument("--starts", type=int, default=12, help="candidate starts followed (the product follows 4)")
    parser.add_argument("--precision", type=float, default=0.90)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--load", type=Path)
    args = parser.parse_args()
    if args.load:
        rows = json.loads(args.load.read_text())
    else:
        start, end = (int(x) for x in args.questions.split(":"))
        embedder = Embedder(Settings().models)
        rows = [
            r for name in args.sets.split(",") for r in score_questions(name, slice(start, end), args.starts, embedder)
        ]
        if args.save:
            args.save.write_text(json.dumps(rows, ensure_ascii=False) + "\n")
    text = report(rows, args.precision)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "span_ceiling.txt").write_text(f"$ python bench/span_ceiling.py --starts {args.starts}\n\n{text}\n")


if __name__ == "__main__":
    main()
