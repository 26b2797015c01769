"""Fits `answer.abstention_weights and answer.abstention_weights_without_likelihood`. Fit the abstention model and check that it transfers: the signals of rag/answerability.py for each
question with its gold passage present and left out, on several QA sets; a logistic regression whose
intercept is shifted so that false abstention on its training questions is the cap; scored in-dataset
(two folds of a set) and out of dataset (fitted on the other sets only). Abstention is reported on all
gold-out questions and on the really unanswerable ones (no other passage holds a gold answer, by string
match after Arabic normalisation). Prints the weights for `answer.abstention_weights`.

Only questions in the articles' language go through this model (English questions over Arabic articles
use the evidence score alone, `answer.min_evidence_cross_lingual`), so the sets are Arabic ones.

    python -m bench.calibrate.abstention_signal [--sets xquad_ar,arcd_train] [--questions 0:200] [--cap 0.10]
        [--save signals.json | --load signals.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from bench.paths import SHARED
from rag import Assistant, Settings
from rag.answerability import Signals
from rag.evaluate import answer_found_elsewhere, gold_article_id, read_jsonl, temporary_index
from rag.types import Scope

NAMES = [f.name for f in fields(Signals)]
SUBSETS = ([0], [0, 2], [0, 1, 2], [0, 1, 2, 3])  # signal columns tried, the last the shipped model


@dataclass
class SetSignals:
    """One QA set's signal rows (NaN: no evidence at all, a sure abstention) and its label check."""

    present: np.ndarray  # gold passage indexed
    absent: np.ndarray  # gold passage left out
    elsewhere: np.ndarray  # another passage holds a gold answer: left out, the question is still answerable

    def rows(self, which: np.ndarray) -> SetSignals:
        return SetSignals(self.present[which], self.absent[which], self.elsewhere[which])

    def columns(self, which: list[int]) -> SetSignals:
        return SetSignals(self.present[:, which], self.absent[:, which], self.elsewhere)


def signal_rows(assistant: Assistant, questions: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Signals with the gold passage present and left out."""
    present, absent = [], []
    for q in questions:
        for rows, hidden in (
            (present, Scope()),
            (absent, Scope(exclude=frozenset({gold_article_id(q["passage_id"])}))),
        ):
            evidence = assistant.evidence(q["question"], assistant.retrieve(q["question"], hidden))
            rows.append(astuple(assistant.signals(q["question"], evidence)) if evidence else (np.nan,) * len(NAMES))
    return np.array(present, dtype=float), np.array(absent, dtype=float)


def measure(name: str, spec: str) -> SetSignals:
    """Signals of a slice of a QA set's questions, over an index of all its passages."""
    passages = read_jsonl(SHARED / f"eval/{name}/passages.jsonl")
    questions = read_jsonl(SHARED / f"eval/{name}/questions.jsonl")[slice(*map(int, spec.split(":")))]
    with temporary_index(Settings(), passages) as index:
        present, absent = signal_rows(Assistant(index), questions)
        return SetSignals(present, absent, np.array(answer_found_elsewhere(index, questions)))


def logits(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The model's logit of each row (-inf for a question without evidence)."""
    values = weights[0] + np.nan_to_num(rows) @ weights[1:]
    return np.where(np.isnan(rows).any(axis=1), -np.inf, values)


def fit(train: list[SetSignals], cap: float) -> np.ndarray:
    """Weights (intercept first) of a logistic regression on the pooled sets, each weighed equally, shifted so
    that each set abstains on at most `cap` of its gold-present questions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([np.r_[s.present, s.absent] for s in train])
    y = np.concatenate([np.r_[np.ones(len(s.present)), np.zeros(len(s.absent))] for s in train])
    w = np.concatenate(
        [np.r_[np.full(len(s.present), 1 / len(s.present)), np.full(len(s.absent), 1 / len(s.absent))] for s in train]
    )
    w *= len(w) / w.sum()  # mean 1: the regularisation of an unweighted fit
    keep = ~np.isnan(x).any(axis=1)
    scaler = StandardScaler().fit(x[keep])
    model = LogisticRegression(C=1.0).fit(scaler.transform(x[keep]), y[keep], sample_weight=w[keep])
    slopes = model.coef_[0] / scaler.scale_
    intercept = model.intercept_[0] - float(slopes @ scaler.mean_)
    weights = np.r_[intercept, slopes]
    return weights - np.r_[min(np.quantile(logits(weights, s.present), cap) for s in train), np.zeros(len(slopes))]


def rates(weights: np.ndarray, s: SetSignals) -> tuple[float, float, float]:
    """(false abstention with the gold passage present, abstention with it left out, abstention on the really
    unanswerable questions)."""
    return abstention_rates(logits(weights, s.present), logits(weights, s.absent), s.elsewhere)


def abstention_rates(present: np.ndarray, absent: np.ndarray, elsewhere: np.ndarray) -> tuple[float, float, float]:
    """The three rates from the logits of each question with its gold passage present and left out."""
    left_out = absent < 0
    return float((present < 0).mean()), float(left_out.mean()), float(left_out[~elsewhere].mean())


def folds(s: SetSignals, cap: float) -> tuple[float, float, float]:
    """In-dataset rates: each half of the set scored by a model fitted on the other half."""
    first = np.arange(len(s.present)) < len(s.present) // 2
    present, absent = np.empty(len(first)), np.empty(len(first))
    for test in (first, ~first):
        weights = fit([s.rows(~test)], cap)
        present[test], absent[test] = logits(weights, s.present[test]), logits(weights, s.absent[test])
    return abstention_rates(present, absent, s.elsewhere)


def report(sets: dict[str, SetSignals], cap: float) -> None:
    from sklearn.metrics import roc_auc_score

    print(f"false abstention cap {cap}; abstention with the gold passage left out: all / really unanswerable")
    for name, s in sets.items():
        for kind, absent in (("all gold-out", s.absent), ("really unanswerable", s.absent[~s.elsewhere])):
            labels = np.r_[np.ones(len(s.present)), np.zeros(len(absent))]
            rows = np.nan_to_num(np.r_[s.present, absent], nan=-1e9)
            aucs = ", ".join(f"{n} {roc_auc_score(labels, rows[:, j]):.3f}" for j, n in enumerate(NAMES))
            print(f"{name}: {len(s.present)} questions, {len(absent)} {kind}; ROC AUC {aucs}")
    shipped = np.array(Settings().answer.abstention_weights)
    print(f"\n{'signals':54s} {'scored on':12s} {'fitted on':20s} {'false':>6s} {'abst':>6s} {'really':>6s}  weights")
    for columns in SUBSETS:
        label = " + ".join(NAMES[j] for j in columns)
        every = {name: s.columns(columns) for name, s in sets.items()}
        for name, s in every.items():
            rows = [("two folds of itself", folds(s, cap), None)]
            others = [o for o_name, o in every.items() if o_name != name]
            if others:
                weights = fit(others, cap)
                rows.append(("the other sets only", rates(weights, s), weights))
            if columns == SUBSETS[-1]:
                rows.append(("shipped weights", rates(shipped, sets[name]), shipped))
            for fitted_on, (false, abst, really), weights in rows:
                shown = "" if weights is None else f"  ({', '.join(f'{w:.4g}' for w in weights)})"
                print(f"{label:54s} {name:12s} {fitted_on:20s} {false:6.3f} {abst:6.3f} {really:6.3f}{shown}")
        pooled = fit(list(every.values()), cap)
        figures = " ".join(f"{name} {'/'.join(f'{r:.3f}' for r in rates(pooled, s))}" for name, s in every.items())
        print(f"{label:54s} {'fitted on all, in sample:':33s} {figures}  ({', '.join(f'{w:.4g}' for w in pooled)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="xquad_ar,arcd_train", help="comma-separated folders of ../shared/eval")
    parser.add_argument("--questions", default="0:200", help="slice of each set's questions")
    parser.add_argument("--cap", type=float, default=0.10)
    parser.add_argument("--save", type=Path, help="keep the signals as JSON")
    parser.add_argument("--load", type=Path, help="fit on signals kept by --save instead of measuring them")
    args = parser.parse_args()
    if args.load:
        kept = json.loads(args.load.read_text())
        sets = {
            k: SetSignals(
                *(np.array(v[f], dtype=float if f != "elsewhere" else bool) for f in ("present", "absent", "elsewhere"))
            )
            for k, v in kept.items()
        }
    else:
        sets = {name: measure(name, args.questions) for name in args.sets.split(",")}
    if args.save:
        kept = {k: {f: getattr(s, f).tolist() for f in ("present", "absent", "elsewhere")} for k, s in sets.items()}
        args.save.write_text(json.dumps(kept))
    report(sets, args.cap)


if __name__ == "__main__":
    main()
