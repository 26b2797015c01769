"""rag/evidence.py: passages widened by the sentence before them; evidence ranked with its passage's rank."""

from __future__ import annotations

import pytest

from rag.evidence import rank_evidence, split_evidence, with_previous_sentence
from rag.types import Hit

ARTICLE = (
    "قمة في ميامي\n"
    "قال الأمين العام لحلف الناتو إن روسيا تستعد لمهاجمة أوروبا. "
    "ووصف بوتين هذه التصريحات بأنها هراء. "
    "وأضاف أن بلاده لا تنوي ذلك."
)


def hit_at(sentence: str) -> Hit:
    start = ARTICLE.index(sentence)
    return Hit(0, 1.0, 0.5, ARTICLE[start:], "a.txt", "قمة في ميامي", "a.txt", start, len(ARTICLE))


def test_a_passage_gains_the_sentence_before_it():
    widened = with_previous_sentence(hit_at("ووصف بوتين"), ARTICLE)
    assert widened.text.startswith("قال الأمين العام") and widened.text == ARTICLE[widened.start : widened.end]
    assert widened.chunk_id == 0 and widened.end == len(ARTICLE)
    pairs = [ARTICLE[s:e] for _, s, e in split_evidence([widened], window=2)]
    assert any("الناتو" in p and "هراء" in p for p in pairs)


def test_nothing_is_added_before_the_first_sentence_or_across_a_heading():
    first = hit_at("قال الأمين العام")
    assert with_previous_sentence(first, ARTICLE) == first  # only the heading precedes it
    whole = Hit(0, 1.0, 0.5, ARTICLE, "a.txt", "t", "a.txt", 0, len(ARTICLE))
    assert with_previous_sentence(whole, ARTICLE) == whole


def test_a_sentence_longer_than_the_reach_is_not_cut():
    long_article = "كلمة " * 1000 + ". " + "الجملة الأخيرة."
    start = long_article.index("الجملة")
    hit = Hit(0, 1.0, 0.5, long_article[start:], "b.txt", "t", "b.txt", start, len(long_article))
    assert with_previous_sentence(hit, long_article, reach=500) == hit


def test_a_passage_further_down_the_hits_wins_only_by_more_than_its_rank_cost(fake_embedder):
    question = "متى تبدأ القمة في ميامي"
    first = Hit(0, 0.9, 0.6, "تبدأ القمة في ميامي غدا.", "a.txt", "t", "a.txt", 0, 24)
    second = Hit(1, 0.8, 0.5, "تبدأ القمة في ميامي غدا.", "b.txt", "t", "b.txt", 0, 24)  # the same words
    for hits in ([first, second], [second, first]):  # a tie: the passage ranked first by retrieval wins
        ranked = rank_evidence(question, hits, fake_embedder, 0.3, rank_cost=0.02)
        assert ranked[0].hit is hits[0] and ranked[0].score - ranked[1].score == pytest.approx(0.02)
    weaker = Hit(0, 0.9, 0.6, "قال المتحدث إن الطقس معتدل.", "c.txt", "t", "c.txt", 0, 27)
    ranked = rank_evidence(question, [weaker, second], fake_embedder, 0.3, rank_cost=0.02)
    assert ranked[0].hit is second  # a clearly better sentence still wins from the second passage


def test_chunks_of_one_article_share_its_rank(fake_embedder):
    question = "بماذا وصف بوتين التصريحات"
    best = Hit(4, 0.9, 0.6, "قال الأمين العام كلاما.", "a.txt", "t", "a.txt", 0, 23)
    next_chunk = Hit(5, 0.8, 0.5, "وصف بوتين التصريحات بأنها هراء.", "a.txt", "t", "a.txt", 24, 54)
    ranked = rank_evidence(question, [best, next_chunk], fake_embedder, 0.3, rank_cost=0.5)
    assert ranked[0].hit is next_chunk and ranked[0].score > ranked[1].score + 0.1  # no cost within an article
