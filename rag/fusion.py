"""Fusing dense and lexical scores into one ranking (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping


def convex_mix(
    dense: Mapping[int, float], lexical: Mapping[int, float], lexical_weight: float
) -> list[tuple[int, float]]:
    """Rank ids by (1 - w) * cosine + w * BM25 / best BM25; ids missing from one side score 0 there."""
    if not 0.0 <= lexical_weight <= 1.0:
        raise ValueError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
    best = max(lexical.values(), default=0.0)
    fused = {
        i: (1.0 - lexical_weight) * dense.get(i, 0.0)
        + lexical_weight * (lexical.get(i, 0.0) / best if best > 0 else 0.0)
        for i in dense.keys() | lexical.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
