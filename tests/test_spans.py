"""rag/spans.py: where an answer may start, and the sentence that holds it (the LLM scoring is in tests/e2e/test_answers.py)."""

from __future__ import annotations

from rag.evidence import Evidence
from rag.generators import ScoredSpan, is_word_end
from rag.spans import saying_something_new, sentence_holding, span_starts
from rag.types import Hit, Span

TEXT = "رفض بوتين مزاعم “مارك روته”، وقال إنها هراء. وأضاف أنه مستعد للتنازلات."


def test_starts_skip_opening_punctuation_and_glued_clitics():
    starts = span_starts(TEXT)
    assert TEXT.index("مارك") in starts  # after the opening quote
    assert TEXT.index("وقال") in starts and TEXT.index("قال") in starts  # with and without the glued و
    assert TEXT.index("إنها") in starts and TEXT.index("نها") not in starts  # إ is no clitic


def test_span_ends_at_a_word_end_before_closing_punctuation():
    end = TEXT.index("روته") + len("روته")
    assert is_word_end(TEXT, end)  # only ”، follow inside the word
    assert not is_word_end(TEXT, end - 1)  # inside the word
    assert not is_word_end(TEXT, end + 1)  # would include the quote
    assert is_word_end(TEXT, len(TEXT) - 1)  # before the final full stop


def test_sentence_holding_the_span_in_article_offsets():
    offset = 100
    hit = Hit(0, 1.0, 1.0, TEXT, "a.txt", "t", "a.txt", offset, offset + len(TEXT))
    evidence = Evidence(hit, offset, offset + len(TEXT), TEXT, 0.8)
    start = offset + TEXT.index("مارك روته")
    span = Span("مارك روته", start, start + len("مارك روته"), -0.5)
    first_end = offset + TEXT.index("هراء.") + len("هراء.")
    assert sentence_holding(evidence, span) == (offset, first_end)


def test_spans_that_only_repeat_the_question_are_passed_over_in_order():
    def at(word: str, log_probability: float) -> ScoredSpan:
        return ScoredSpan(TEXT.index(word), TEXT.index(word) + len(word), log_probability)

    scored = [at("بوتين", -0.5), at("مارك روته", -1.0), at("هراء", -2.0)]
    kept = list(saying_something_new("ماذا رفض بوتين؟", TEXT, scored))
    assert [TEXT[s.start : s.end] for s in kept] == ["مارك روته", "هراء"]
