"""rag/citations.py: parsing markers, dropping invalid ones, mapping to passages and spans."""

import pytest

from rag.citations import cite, parse_citations
from rag.types import Hit


@pytest.mark.parametrize(
    ("raw", "text", "numbers"),
    [
        ("وصل الوفد إلى باريس [1].", "وصل الوفد إلى باريس [1].", (1,)),
        ("Paris [2] and Rome [1].", "Paris [2] and Rome [1].", (2, 1)),
        ("Out of range [7].", "Out of range.", ()),
        ("Zero [0] is not a passage.", "Zero is not a passage.", ()),
        ("Mixed [1, 9] list.", "Mixed [1] list.", (1,)),
        ("Repeated [1] [1] marker [1].", "Repeated [1] marker [1].", (1,)),
        ("Same twice [2, 2].", "Same twice [2].", (2,)),
        ("أرقام عربية [٢] و[١، ٣].", "أرقام عربية [2] و [1, 3].", (2, 1, 3)),
        ("Persian digits [۲].", "Persian digits [2].", (2,)),
        ("No citation at all.", "No citation at all.", ()),
        ("Not a marker [a] or [1a].", "Not a marker [a] or [1a].", ()),
    ],
)
def test_parse_citations(raw, text, numbers):
    parsed = parse_citations(raw, passages=3)
    assert parsed.text == text
    assert parsed.numbers == numbers


def hit(chunk_id: int, text: str, start: int) -> Hit:
    return Hit(chunk_id, 0.9, 0.9, text, "a.txt", "t", "a.txt", start, start + len(text))


def test_cite_maps_numbers_to_passages_and_supporting_sentence():
    passages = [
        hit(0, "التقى ويتكوف وكوشنر في برلين. ثم عادا إلى واشنطن.", 100),
        hit(1, "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع. ولم يقدم تفاصيل.", 300),
    ]
    text, citations = cite("المتحدث باسم الكرملين هو ديمتري بيسكوف [2]. وهذا خطأ [5].", passages)
    assert text == "المتحدث باسم الكرملين هو ديمتري بيسكوف [2]. وهذا خطأ."
    [citation] = citations
    assert citation.n == 2 and citation.hit is passages[1]
    assert citation.span_text == "علّق المتحدث باسم الكرملين ديمتري بيسكوف على الاجتماع."
    article_offset = citation.span_start - passages[1].start
    assert passages[1].text[article_offset : article_offset + len(citation.span_text)] == citation.span_text


@pytest.mark.parametrize(
    ("raw", "text"),
    [("[2] باريس", "باريس [2]"), ("[1] Paris is the capital.", "Paris is the capital [1]."), ("[1] a [2] b.", "[1] a [2] b.")],
)
def test_leading_citation_moves_to_the_end(raw, text):
    assert parse_citations(raw, passages=2).text == text
