"""rag/answering.py with fake models and a real small index: refusing, quoting, checking generated sentences,
falling back when the reader fails, and one generation per answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answering import Assistant
from rag.config import AnswerSettings, LLMSettings
from rag.evidence import Evidence
from rag.indexing import build_index
from rag.retrieval import Index
from rag.types import Hit
from tests.fake_reader import FakeReader

SOURCES = {"ar": "استقال الوزير يوم الاثنين.", "en": "The minister resigned on Monday."}


@pytest.fixture
def assistant(tmp_path: Path, fake_settings, fake_embedder) -> Assistant:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for language, text in SOURCES.items():
        (seeds / f"{language}.txt").write_text(text, encoding="utf-8")
    settings = fake_settings(seeds, tmp_path / "index")
    build_index(settings, embedder=fake_embedder, show_progress=False)
    return Assistant(Index(settings, fake_embedder), FakeReader(LLMSettings(), AnswerSettings()))


def evidence(language: str) -> list[Evidence]:
    text = SOURCES[language]
    return [
        Evidence(
            Hit(0, 1.0, 1.0, text, f"{language}.txt", "t", f"{language}.txt", 0, len(text)), 0, len(text), text, 1.0
        )
    ]


@pytest.mark.parametrize(
    ("language", "question", "negated", "affirmed"),
    [
        ("ar", "هل استقال الوزير؟", "لم يستقل الوزير يوم الاثنين [1].", "استقال الوزير يوم الاثنين [1]."),
        ("ar", "هل استقال الوزير؟", "ولم يستقل الوزير يوم الاثنين [1].", "استقال الوزير يوم الاثنين [1]."),
        (
            "en",
            "Did the minister resign?",
            "The minister did not resign on Monday [1].",
            "The minister resigned on Monday [1].",
        ),
        (
            "en",
            "Did the minister resign?",
            "The minister didn't resign on Monday [1].",
            "The minister resigned on Monday [1].",
        ),
    ],
)
def test_a_claim_that_negates_its_source_is_not_supported(
    assistant: Assistant, language: str, question: str, negated: str, affirmed: str
):
    """The words of the claim are those of the source but for a negation: it says the opposite, and is dropped."""
    assert assistant.check(negated, question, language, evidence(language)) is None
    kept = assistant.check(affirmed, question, language, evidence(language))
    assert kept is not None and kept.numbers == (1,)


def test_an_answer_reads_one_generation_while_a_build_deletes_its_article(assistant: Assistant):
    """A build that lands between the search and the reading of its hits' articles (here: while the question is
    embedded) deletes the article the hits come from: the answer is still made, from the generation it searched."""
    index = assistant.index
    settings = index.settings
    built = []

    class BuildingEmbedder(type(index.embedder)):
        def encode_query(self, text: str):
            vector = super().encode_query(text)
            if not built:
                built.append(True)
                (settings.seeds_dir / "ar.txt").unlink()
                build_index(settings, embedder=self, show_progress=False)
            return vector

    index.embedder.__class__ = BuildingEmbedder
    answer = assistant.ask("هل استقال الوزير يوم الاثنين؟")
    assert built, "the build ran during the answer"
    assert [a.id for a in index.store.articles()] == ["en.txt"]  # the live index moved on
    assert [c.hit.article_id for c in answer.citations] == ["ar.txt"]
    assert answer.citations[0].span_text.startswith("استقال الوزير")


def test_a_question_nothing_relevant_answers_is_refused_in_its_language(assistant: Assistant):
    from rag.prompts import NO_ANSWER

    answer = assistant.ask("What grows in the orchards of Mars?")
    assert answer.abstained and not answer.citations and answer.text == NO_ANSWER["en"]
    assert answer.method == "abstained"


def test_an_extractive_answer_quotes_the_best_sentence_and_cites_it(assistant: Assistant):
    answer = assistant.ask("هل استقال الوزير يوم الاثنين؟")
    assert not answer.abstained and answer.method == "extractive"
    [citation] = answer.citations
    assert citation.n == 1 and "[1]" in answer.text
    assert citation.span_text in SOURCES["ar"] and citation.span_text in answer.text.replace("**", "")


def test_a_generated_answer_its_source_does_not_support_gives_way_to_the_quote(assistant: Assistant):
    """A reader that writes a claim the evidence does not hold: the answer quotes the evidence instead (method
    fallback), citing it."""

    class InventingReader(FakeReader):
        def stream(self, question, passages, language):
            yield "وقال الرئيس إن الحرب انتهت في باريس [1]."

    inventing = Assistant(assistant.index, InventingReader(LLMSettings(), AnswerSettings()))
    inventing.index.settings.answer.mode = "generate"
    answer = inventing.ask("هل استقال الوزير يوم الاثنين؟")
    assert answer.method == "fallback" and "باريس" not in answer.text
    assert answer.citations and answer.citations[0].span_text in SOURCES["ar"]


def test_a_reader_that_fails_mid_answer_leaves_the_quote_and_says_why(assistant: Assistant):
    from tests.fake_reader import FAIL

    assistant.index.settings.answer.mode = "generate"
    answer = assistant.ask(f"هل استقال الوزير يوم الاثنين؟ {FAIL}")
    assert answer.citations and "the fake reader refuses" in answer.notice
