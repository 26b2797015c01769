"""The same story twice: near-duplicate articles (one wire story on two sites, a lightly edited repost) found by
MinHash over word 5-grams (datasketch), so each story is indexed once with every source kept on it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from rag.text import fold
from rag.types import Article, Copy

PERMUTATIONS = 128
SHINGLE_WORDS = 5
WORD = re.compile(r"\w+")


def _signature(text: str):  # -> datasketch.MinHash (lazy import)
    from datasketch import MinHash

    words = WORD.findall(fold(text))
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    signature = MinHash(num_perm=PERMUTATIONS)
    signature.update_batch(list(shingles))
    return signature


def merge_near_duplicates(articles: Sequence[Article], threshold: float) -> tuple[list[Article], list[str]]:
    """Articles with each near-duplicate group merged into its earliest member (by date, then path), which keeps
    the others as `copies`; and one line per merged article. `threshold` is the estimated Jaccard similarity of
    word 5-grams from which two articles count as one story (settings.near_duplicate_similarity)."""
    if threshold > 1 or len(articles) < 2:
        return list(articles), []
    from datasketch import MinHashLSH

    order = sorted(range(len(articles)), key=lambda i: (articles[i].date or "9999", articles[i].path, articles[i].id))
    # The LSH bands find pairs near their threshold only by chance: ask for candidates from a lower one and
    # decide on the estimated similarity itself.
    index = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=PERMUTATIONS)
    signatures = {}
    copies: dict[int, list[Copy]] = {}
    notes = []
    for i in order:
        article = articles[i]
        signature = _signature(article.text)
        scored = [(signature.jaccard(signatures[int(c)]), int(c)) for c in index.query(signature)]
        best = max(scored, default=None)
        if best is not None and best[0] >= threshold:
            similarity, first = best
            copies[first].append(
                Copy(article.id, article.title, article.path, article.date, article.url, article.source, similarity)
            )
            notes.append(
                f"{article.id}: same story as {articles[first].id} ({similarity:.0%} alike), indexed once with both sources"
            )
            continue
        signatures[i] = signature
        copies[i] = []
        index.insert(str(i), signature)
    kept = [replace(articles[i], copies=tuple(copies[i])) for i in range(len(articles)) if i in copies]
    return kept, notes
