"""rag/citations.py: parsing markers, dropping invalid ones, mapping to passages and spans."""

import pytest

from rag.citations import is_looping, parse_citations, verify


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


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("[2] باريس", "باريس [2]"),
        ("[1] Paris is the capital.", "Paris is the capital [1]."),
        ("[1] a [2] b.", "[1] a [2] b."),
    ],
)
def test_leading_citation_moves_to_the_end(raw, text):
    assert parse_citations(raw, passages=2).text == text


SOURCES = {
    1: "التقى ويتكوف وكوشنر بمسؤولين أوروبيين في برلين يوم الجمعة.",
    2: "علّق المتحدث باسم الكرملين ديمتري بيسكوف على اجتماع ميامي المرتقب.",
}


def overlap_supports(claim: str, n: int) -> bool:
    """Hand-made support test: every word of the claim appears in source n."""
    return set(claim.split()) <= set(SOURCES[n].split())


def test_verify_keeps_a_supported_sentence():
    checked = verify("ديمتري بيسكوف [2].", 2, overlap_supports)
    assert checked is not None and checked.text == "ديمتري بيسكوف [2]." and checked.numbers == (2,)


def test_verify_recites_a_sentence_to_the_source_that_supports_it():
    checked = verify("ديمتري بيسكوف [1].", 2, overlap_supports)
    assert checked is not None and checked.text == "ديمتري بيسكوف [2]." and checked.numbers == (2,)


def test_verify_drops_unsupported_sentences_and_invalid_citations():
    checked = verify("في برلين [1]. بوتين زار باريس [2]. ميامي [7].", 2, overlap_supports)
    assert checked is not None and checked.text == "في برلين [1]. ميامي [2]." and checked.numbers == (1, 2)


def test_verify_returns_none_when_nothing_is_supported():
    assert verify("زار بوتين باريس [1].", 2, overlap_supports) is None
    assert verify("[1]", 2, overlap_supports) is None


@pytest.mark.parametrize(
    ("text", "looping"),
    [
        ("فيروس كورونا فيروس كورونا فيروس كورونا فيروس كورونا", True),
        ("the talks the talks the talks the talks", True),
        ("ديمتري بيسكوف هو المتحدث باسم الكرملين [2].", False),
    ],
)
def test_is_looping(text, looping):
    assert is_looping(text) is looping


def test_article_text_quoted_in_an_answer_makes_no_citation_and_no_bold():
    """An article's own reference marks ([3], [٢، ٤]) and Markdown emphasis stay out of an extractive answer: its
    only [n] cite its sources, and its only bold is the answer span."""
    from rag.answering import bolden, extractive
    from rag.evidence import Evidence
    from rag.types import Hit

    sentence = "The minister **finally** resigned on Monday [3]. وقال الوزير إنه استقال [٢، ٤]."
    hit = Hit(0, 1.0, 1.0, sentence, "a.txt", "A", "a.txt", 0, len(sentence))
    quoted = extractive([Evidence(hit, 0, len(sentence), sentence, 1.0)], "en")
    assert parse_citations(quoted.text, 1).numbers == (1,) and quoted.numbers == (1,)
    assert "[3]" not in quoted.text and "٢" not in quoted.text and "**" not in quoted.text
    assert "The minister finally resigned on Monday." in quoted.text
    span = sentence.index("resigned")
    bold = bolden(sentence, span, span + len("resigned"))
    assert bold.count("**") == 2 and "**resigned**" in bold and "[3]" not in bold
