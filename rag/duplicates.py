"""The same story twice: near-duplicate articles (one wire story on two sites, a lightly edited repost) found by
MinHash over word 5-grams (datasketch), so each story is indexed once with every source kept on it."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rag.text import fold
from rag.types import Article, Copy

PERMUTATIONS = 128
SHINGLE_WORDS = 5
WORD = re.compile(r"\w+")


@functools.cache
def _permutations() -> tuple[Any, str]:
    """The permutation parameters every signature shares, and their scheme (made once: 0.1 ms a signature)."""
    from datasketch import MinHash

    first = MinHash(num_perm=PERMUTATIONS)
    return first.permutations, first.scheme


def _signature(text: str):  # -> datasketch.MinHash (lazy import)
    from datasketch import MinHash

    words = WORD.findall(fold(text))
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    permutations, scheme = _permutations()
    signature = MinHash(num_perm=PERMUTATIONS, permutations=permutations, scheme=scheme)
    signature.update_batch(list(shingles))
    return signature


def merge_near_duplicates(articles: Sequence[Article], threshold: float) -> tuple[list[Article], list[str]]:
    """Articles with each near-duplicate group merged into its earliest member (by date, then path), which keeps
    the others as `copies`; and one line per merged article. `threshold` is the estimated Jaccard similarity of
    word 5-grams from which two articles count as one story (settings.near_duplicate_similarity)."""
    return NearDuplicates(threshold).merge(articles)


class NearDuplicates:
    """Near-duplicate search that remembers each article's MinHash and its LSH neighbours (the articles sharing a
    band with it) between calls: a process that merges again after a change signs and looks up only the changed
    articles."""

    def __init__(self, threshold: float) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        # The LSH bands find pairs near their threshold only by chance: ask for candidates from a lower one and
        # decide on the estimated similarity itself.
        self._index = MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=PERMUTATIONS) if threshold <= 1 else None
        self._signatures: dict[tuple[str, str], Any] = {}  # (article id, content hash) -> MinHash
        self._neighbours: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def merge(self, articles: Sequence[Article]) -> tuple[list[Article], list[str]]:
        """As `merge_near_duplicates` (article ids are unique)."""
        if self._index is None or len(articles) < 2:
            return list(articles), []
        keys = [(a.id, a.content_hash) for a in articles]
        for key in self._signatures.keys() - set(keys):
            self._forget(key)
        for key, article in zip(keys, articles, strict=True):
            if key not in self._signatures:
                self._add(key, article.text)
        position = {key: i for i, key in enumerate(keys)}
        order = sorted(
            range(len(articles)), key=lambda i: (articles[i].date or "9999", articles[i].path, articles[i].id)
        )
        copies: dict[int, list[Copy]] = {}  # kept article -> its copies (an article is kept when it merges into none)
        notes = []
        for i in order:
            article, signature = articles[i], self._signatures[keys[i]]
            earlier = (position[n] for n in self._neighbours[keys[i]])
            scored = [(signature.jaccard(self._signatures[keys[j]]), j) for j in earlier if j in copies]
            best = max(scored, default=None)
            if best is not None and best[0] >= self.threshold:
                similarity, first = best
                copies[first].append(
                    Copy(article.id, article.title, article.path, article.date, article.url, article.source, similarity)
                )
                notes.append(
                    f"{article.id}: same story as {articles[first].id} ({similarity:.0%} alike), indexed once with both "
                    "sources"
                )
                continue
            copies[i] = []
        kept = [
            article if article.copies == (found := tuple(copies[i])) else replace(article, copies=found)
            for i, article in enumerate(articles)
            if i in copies
        ]
        return kept, notes

    def _add(self, key: tuple[str, str], text: str) -> None:
        assert self._index is not None
        from datasketch import LeanMinHash

        signature = self._signatures[key] = LeanMinHash(_signature(text))  # (without its permutations: 1 KB)
        found = set(self._index.query(signature))
        self._index.insert(key, signature)
        self._neighbours[key] = found
        for other in found:
            self._neighbours[other].add(key)

    def _forget(self, key: tuple[str, str]) -> None:
        assert self._index is not None
        self._index.remove(key)
        for other in self._neighbours.pop(key):
            self._neighbours[other].discard(key)
        del self._signatures[key]
