"""Fit the abstention model: the signals of rag/answerability.py for each question with its gold passage
present and left out, a logistic regression on one slice of the questions, its intercept shifted so
that false abstention on that slice is the cap, scored on another slice. Prints the weights for
`answer.abstention_weights`.

    python bench/abstention_signal.py [--set xquad_ar] [--train 200:400] [--test 0:200] [--cap 0.10]
        [--save signals.json | --load signals.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import astuple, fields
from pathlib import Path

import numpy as np

from rag import Assistant, Settings
from rag.answerability import Signals
from rag.evaluate import gold_article_id, read_jsonl, temporary_index

SHARED = Path(__file__).resolve().parents[2] / "shared"
NAMES = [f.name for f in fields(Signals)]


def signal_rows(assistant: Assistant, questions: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Signals with the gold passage present and left out (no evidence at all: -inf logit, a sure abstention)."""
    present, absent = [], []
    for q in questions:
        for rows, hidden in ((present, frozenset()), (absent, frozenset({gold_article_id(q["passage_id"])}))):
            evidence = assistant.evidence(q["question"], assistant.retrieve(q["question"], hidden))
            rows.append(astuple(assistant.signals(q["question"], evidence)) if evidence else (np.nan,) * len(NAMES))
    return np.array(present), np.array(absent)


def measure(name: str, train: str, test: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Signals of the train and test slices of a QA set, over an index of its passages."""
    passages = read_jsonl(SHARED / f"eval/{name}/passages.jsonl")
    questions = read_jsonl(SHARED / f"eval/{name}/questions.jsonl")
    with temporary_index(Settings(), passages) as index:
        assistant = Assistant(index)
        return {
            part: signal_rows(assistant, questions[slice(*map(int, spec.split(":")))])
            for part, spec in (("train", train), ("test", test))
        }


def fit(present: np.ndarray, absent: np.ndarray, cap: float) -> np.ndarray:
    """Weights (intercept first) of a logistic regression, shifted to abstain on `cap` of `present`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.r_[present, absent]
    keep = ~np.isnan(x).any(axis=1)
    y = np.r_[np.ones(len(present)), np.zeros(len(absent))]
    scaler = StandardScaler().fit(x[keep])
    model = LogisticRegression(C=1.0).fit(scaler.transform(x[keep]), y[keep])
    slopes = model.coef_[0] / scaler.scale_
    intercept = model.intercept_[0] - float(slopes @ scaler.mean_)
    logits = intercept + np.nan_to_num(present, nan=-np.inf) @ slopes
    return np.r_[intercept - np.quantile(logits, cap), slopes]


def rates(weights: np.ndarray, present: np.ndarray, absent: np.ndarray) -> tuple[float, float]:
    """(false abstention with the gold passage present, abstention with it left out)."""

    def abstains(rows: np.ndarray) -> np.ndarray:
        return ~(weights[0] + np.nan_to_num(rows, nan=-1e9) @ weights[1:] >= 0)

    return float(abstains(present).mean()), float(abstains(absent).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="xquad_ar")
    parser.add_argument("--train", default="200:400")
    parser.add_argument("--test", default="0:200")
    parser.add_argument("--cap", type=float, default=0.10)
    parser.add_argument("--save", type=Path, help="keep the signals as JSON")
    parser.add_argument("--load", type=Path, help="fit on signals kept by --save instead of measuring them")
    args = parser.parse_args()
    if args.load:
        rows = {k: (np.array(v[0]), np.array(v[1])) for k, v in json.loads(args.load.read_text()).items()}
    else:
        rows = measure(args.set, args.train, args.test)
    if args.save:
        args.save.write_text(json.dumps({k: [v[0].tolist(), v[1].tolist()] for k, v in rows.items()}))
    from sklearn.metrics import roc_auc_score

    (train_present, train_absent), (test_present, test_absent) = rows["train"], rows["test"]
    labels = np.r_[np.ones(len(test_present)), np.zeros(len(test_absent))]
    test = np.nan_to_num(np.r_[test_present, test_absent], nan=-1e9)
    print(f"{args.set}: fitted on questions {args.train}, scored on {args.test}; false abstention cap {args.cap}")
    print(
        "test ROC AUC of each signal: "
        + ", ".join(f"{n} {roc_auc_score(labels, test[:, j]):.3f}" for j, n in enumerate(NAMES))
    )
    print(
        f"{'signals':52s} {'train false':>11s} {'train abst':>10s} {'test false':>10s} {'test abst':>9s} {'test AUC':>8s}  weights"
    )
    for chosen in ([0], [0, 2], [0, 1, 2], [0, 1, 2, 3]):
        weights = np.zeros(len(NAMES) + 1)
        weights[[0, *(j + 1 for j in chosen)]] = fit(train_present[:, chosen], train_absent[:, chosen], args.cap)
        train_rates, test_rates = rates(weights, *rows["train"]), rates(weights, *rows["test"])
        auc = roc_auc_score(labels, weights[0] + test @ weights[1:])
        print(
            f"{' + '.join(NAMES[j] for j in chosen):52s} {train_rates[0]:11.3f} {train_rates[1]:10.3f} "
            f"{test_rates[0]:10.3f} {test_rates[1]:9.3f} {auc:8.3f}  ({', '.join(f'{w:.4g}' for w in weights)})"
        )


if __name__ == "__main__":
    main()
