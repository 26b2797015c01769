"""Article body extraction quality on real news pages (../shared/eval/article_extraction), with that
benchmark's metric: 4-token shingles, per-page precision and recall, means over pages, F1 of the means.

Readers compared: ours (rag.readers.web: trafilatura, our fallback where it finds nothing), trafilatura with
its defaults, and the fallback alone (the reader before trafilatura).

    python -m bench.extraction [--data ../shared/eval/article_extraction]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.paths import EVAL
from rag.readers.web import _fallback, html_text, read_html

DATA = EVAL / "article_extraction"
TOKEN = re.compile(r"\w+")


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def page_scores(predicted: str, truth: str) -> tuple[float | None, float | None]:
    """(precision, recall) of one page; an empty prediction scores 0 and 0, undefined ones are None."""
    if not predicted.strip():
        return 0.0, 0.0
    found, wanted = shingles(predicted), shingles(truth)
    true_pos = sum((found & wanted).values())
    false_pos, false_neg = sum((found - wanted).values()), sum((wanted - found).values())
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else None
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else None
    return precision, recall


def evaluate(extract: Callable[[bytes], str], data: Path) -> dict[str, Any]:
    truth = json.loads((data / "ground-truth.json").read_text())
    precisions: list[float] = []
    recalls: list[float] = []
    empty = 0
    started = time.perf_counter()
    for key, item in truth.items():
        predicted = extract(gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes()))
        empty += not predicted.strip()
        precision, recall = page_scores(predicted, item["articleBody"])
        precisions += [precision] if precision is not None else []
        recalls += [recall] if recall is not None else []
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return {
        "f1": round(2 * p * r / (p + r), 3),
        "precision": round(p, 3),
        "recall": round(r, 3),
        "pages": len(truth),
        "empty": empty,
        "ms_per_page": round(1000 * (time.perf_counter() - started) / len(truth), 1),
    }


def ours(html: bytes) -> str:
    pages = read_html(html)
    return pages[0].text if pages else ""


def trafilatura_defaults(html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def fallback_only(html: bytes) -> str:
    pages = _fallback(html_text(html))
    return pages[0].text if pages else ""


def run(data: Path = DATA) -> dict[str, Any]:
    return {
        name: evaluate(extract, data)
        for name, extract in (
            ("ours", ours),
            ("trafilatura_defaults", trafilatura_defaults),
            ("fallback_only", fallback_only),
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    results = run(parser.parse_args().data)
    for name, figures in results.items():
        print(f"{name:22} " + "  ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
