"""rag/fusion.py: the convex mix on hand-made scores."""

import pytest

from rag.fusion import convex_mix


def test_weight_zero_is_dense_order_and_one_is_lexical_order():
    dense = {1: 0.9, 2: 0.5, 3: 0.4}
    lexical = {2: 10.0, 3: 20.0}
    assert [i for i, _ in convex_mix(dense, lexical, 0.0)] == [1, 2, 3]
    assert [i for i, _ in convex_mix(dense, lexical, 1.0)][:2] == [3, 2]


def test_mix_lifts_a_candidate_strong_on_both_sides():
    dense = {1: 0.60, 2: 0.58, 3: 0.30}
    lexical = {2: 12.0, 3: 2.0}
    fused = convex_mix(dense, lexical, 0.3)
    assert fused[0][0] == 2
    assert fused[0][1] == pytest.approx(0.7 * 0.58 + 0.3 * 1.0)


def test_ids_missing_on_one_side_score_zero_there():
    fused = dict(convex_mix({1: 0.5}, {2: 4.0}, 0.5))
    assert fused == {1: pytest.approx(0.25), 2: pytest.approx(0.5)}


def test_no_lexical_scores_leaves_dense_scaled():
    assert convex_mix({1: 0.8, 2: 0.6}, {}, 0.25) == [(1, pytest.approx(0.6)), (2, pytest.approx(0.45))]


def test_weight_out_of_range_is_refused():
    with pytest.raises(ValueError, match="lexical_weight"):
        convex_mix({}, {}, 1.5)
