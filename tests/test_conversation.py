"""rag/conversation.py: which questions lean on the previous turn, and how they are read with it."""

from __future__ import annotations

import pytest

from rag.conversation import is_follow_up, read_with, retrieval_query
from rag.types import Answer, Citation, Hit, Span

SENTENCE = "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع المرتقب في ميامي."


@pytest.mark.parametrize(
    "question",
    [
        "وماذا قال عن الاجتماع؟",  # "and what…", و glued to the question word
        "فمتى سيعقد؟",
        "وإلى كم تراجع عدد المؤسسات؟",
        "ولماذا؟",  # too short to stand alone
        "And on which day?",
        "Where does she live?",  # a pronoun points back
        "What will be done about it?",
        "وفي أي برنامج قال ذلك؟",  # a demonstrative points back
    ],
)
def test_follow_ups(question: str):
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "من هو كبير المفاوضين الأوكرانيين؟",  # "من هو" is a copula, not a pointer
        "ما هي نتيجة مباراة كرة القدم بين الأهلي والزمالك؟",
        "Who is the Kremlin spokesman quoted about the Miami meeting?",
        "What is the name of the party that won the elections in Tunisia?",
        "وزير الخارجية الفرنسي يزور الجزائر الأسبوع المقبل؟",  # و is part of the word
    ],
)
def test_questions_that_stand_alone(question: str):
    assert not is_follow_up(question)


def previous(question: str, span: str | None) -> Answer:
    hit = Hit(1, 0.9, 0.9, SENTENCE, "a.txt", "t", "a.txt", 0, len(SENTENCE))
    found = Span(span, SENTENCE.index(span), SENTENCE.index(span) + len(span), -1.0) if span else None
    return Answer(question, "…", False, "ar", (Citation(1, hit, 0, len(SENTENCE)),), best_span=found)


def test_follow_up_is_read_with_the_previous_question_and_its_answer():
    before = previous("من هو المتحدث باسم الكرملين؟", "ديمتري بيسكوف")
    assert (
        read_with("وماذا قال عن الاجتماع؟", before)
        == "من هو المتحدث باسم الكرملين؟ ديمتري بيسكوف وماذا قال عن الاجتماع؟"
    )
    # The search also gets the sentence that answered the previous question.
    assert SENTENCE in retrieval_query("وماذا قال عن الاجتماع؟", before)


def test_previous_answer_without_a_span_leaves_its_sentence_to_retrieval():
    before = previous("Who is the Kremlin spokesman?", None)
    assert read_with("وماذا قال عن الاجتماع؟", before) == "Who is the Kremlin spokesman? وماذا قال عن الاجتماع؟"
    assert retrieval_query("وماذا قال عن الاجتماع؟", before).startswith(f"Who is the Kremlin spokesman? {SENTENCE}")
