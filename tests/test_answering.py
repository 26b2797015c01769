"""rag/answering.py with fake models: a generated sentence is kept only when its cited passage supports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answering import Assistant
from rag.config import AnswerSettings, ModelSettings
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
    return Assistant(Index(settings, fake_embedder), FakeReader(ModelSettings(), AnswerSettings()))


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
