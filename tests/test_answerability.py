"""rag/answerability.py: the stretches compared with the question, idf coverage and the logistic rule."""

import pytest

from rag.answerability import PHRASE_WORDS, Signals, idf_coverage, phrases
from rag.lexical import LexicalIndex, analyze


def test_phrases_cover_every_word_in_overlapping_stretches():
    words = [f"w{i}" for i in range(30)]
    stretches = phrases(" ".join(words))
    assert all(len(s.split()) == PHRASE_WORDS for s in stretches)
    assert stretches[0].split()[0] == "w0" and stretches[-1].split()[-1] == "w29"
    assert {w for s in stretches for w in s.split()} == set(words)


def test_a_short_text_is_one_phrase():
    assert phrases("  قال   المتحدث  ") == ["قال المتحدث"]


class FakeLexical(LexicalIndex):
    """idf 3 for the rare name, 1 for everything else."""

    def __init__(self) -> None:
        pass

    def idf(self, terms):
        rare = set(analyze("أوميروف"))
        return [3.0 if t in rare else 1.0 for t in terms]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("وصل أوميروف إلى ميامي", 1.0),  # every content term
        ("وصل أوميروف", 0.8),  # all but one common term (4 of 5)
        ("إلى ميامي", 0.2),  # one common term (1 of 5)
        ("لا شيء هنا", 0.0),
    ],
)
def test_idf_coverage_weighs_the_rare_terms(text: str, expected: float):
    assert idf_coverage("متى وصل أوميروف إلى ميامي؟", text, FakeLexical()) == pytest.approx(expected)


def test_idf_coverage_of_a_question_without_content_terms_is_full():
    assert idf_coverage("ما هو؟", "أي نص", FakeLexical()) == 1.0


def test_logit_is_the_weighted_sum_in_field_order():
    signals = Signals(score=0.5, phrase_similarity=0.6, coverage=1.0, likelihood_gain=10.0)
    assert signals.logit((-1.0, 2.0, 0.0, 0.5, 0.1)) == pytest.approx(-1.0 + 1.0 + 0.5 + 1.0)
    assert signals.logit((-5.0, 2.0, 0.0, 0.5, 0.1)) < 0
