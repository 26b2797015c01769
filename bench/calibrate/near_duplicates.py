"""Fits `near_duplicate_similarity`. Near-duplicate detection on the ANT corpus (9,965 Arabic news articles): time, how many articles are merged
at a few thresholds, and sample pairs from each similarity band to judge where one story ends.

    python -m bench.calibrate.near_duplicates [--samples 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time

from bench.paths import CORPUS
from rag.articles import content_hash
from rag.duplicates import merge_near_duplicates
from rag.types import Article


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    samples = parser.parse_args().samples
    with gzip.open(CORPUS, "rt") as lines:
        records = [json.loads(line) for line in lines]
    articles = [
        Article(r["id"], r["title"], r["text"], r["id"], content_hash(r["title"], r["text"]), r.get("date"))
        for r in records
    ]
    titles = {a.id: a.title for a in articles}
    for threshold in (0.7, 0.8, 0.9):
        started = time.perf_counter()
        kept, _ = merge_near_duplicates(articles, threshold)
        seconds = time.perf_counter() - started
        print(f"threshold {threshold}: {len(articles) - len(kept)} of {len(articles)} merged, {seconds:.1f} s")
    kept, _ = merge_near_duplicates(articles, 0.6)
    pairs = sorted(((c.similarity, a.id, c.id) for a in kept for c in a.copies), reverse=True)
    for low, high in ((0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        band = [p for p in pairs if low <= p[0] < high]
        print(f"\n{low:.1f}-{min(high, 1):.1f}: {len(band)} pairs")
        for similarity, first, second in band[:samples]:
            print(f"  {similarity:.2f}  {titles[first][:60]}  |  {titles[second][:60]}")


if __name__ == "__main__":
    main()
