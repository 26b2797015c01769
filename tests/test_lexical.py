"""rag/lexical.py: Arabic-aware terms and BM25 that finds spelling variants."""

import pytest

from rag.lexical import LexicalIndex, analyze

DOCS = {
    10: "أعلن كبير المفاوضين الأوكرانيين رستم أوميروف عن اجتماع في الولايات المتحدة.",
    11: "رفض الرئيس بوتين المزاعم التي أدلى بها رئيس حلف شمال الأطلسي.",
    12: "تثير هذه التصريحات تساؤلات حول الأزمة الأوكرانية ومستقبل المفاوضات.",
    13: "The central bank kept interest rates unchanged on Thursday.",
}


@pytest.fixture(scope="module")
def lexical() -> LexicalIndex:
    return LexicalIndex.build(list(DOCS), list(DOCS.values()))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("اوميروف", 10),  # alef without hamza
        ("أُومِيرُوف", 10),  # with diacritics
        ("الازمه", 12),  # ة written as ه, no hamza
        ("بالأزمة", 12),  # glued preposition
        ("والمفاوضات", 12),  # glued conjunction and plural
        ("الرئيس بوتين", 11),
        ("interest rate", 13),  # English stemming: rates -> rate
    ],
)
def test_bm25_finds_spelling_variants(lexical: LexicalIndex, query: str, expected: int):
    assert lexical.search(query, k=1)[0][0] == expected


def test_no_shared_term_returns_nothing(lexical: LexicalIndex):
    assert lexical.search("zzz qqq", k=3) == []


def test_scores_for_given_chunks(lexical: LexicalIndex):
    scores = lexical.scores("بوتين", [10, 11])
    assert scores[11] > 0 and scores[10] == 0


def test_save_and_load_round_trip(tmp_path, lexical: LexicalIndex):
    lexical.save(tmp_path)
    assert LexicalIndex.load(tmp_path).search("اوميروف", k=1) == lexical.search("اوميروف", k=1)


def test_analyze_folds_then_stems():
    assert analyze("الأزمة") == analyze("الازمه") == analyze("الأزمـــة")
    assert analyze("Rates ٢٠٢٤") == ["rate", "2024"]


def test_idf_rare_terms_weigh_more_and_unseen_terms_most(lexical: LexicalIndex):
    once, twice, unseen = lexical.idf(analyze("أوميروف الأوكرانيين zzz"))  # 1 chunk, 2 chunks ("الأوكرانية"), none
    assert unseen == once > twice > 0


def test_idf_of_an_empty_index_is_uniform():
    assert LexicalIndex.build([], []).idf(["a", "b"]) == [1.0, 1.0]


def test_kept_terms_analyse_only_texts_the_previous_build_did_not_have(monkeypatch):
    from rag import lexical

    analysed: list[str] = []

    def counting(text: str) -> list[str]:
        analysed.append(text)
        return analyze(text)

    monkeypatch.setattr(lexical, "analyze", counting)
    kept = lexical.KeptTerms()
    first = ["المفاوضات في ميامي", "interest rates rise", "المفاوضات في ميامي"]
    assert kept.of(first) == [analyze(t) for t in first]
    assert analysed == first[:2]  # a repeated text once
    analysed.clear()
    assert kept.of(["interest rates rise", "وزير الخارجية"]) == [
        analyze("interest rates rise"),
        analyze("وزير الخارجية"),
    ]
    assert analysed == ["وزير الخارجية"]
    analysed.clear()
    kept.of(["المفاوضات في ميامي"])  # not in the previous call: only the latest build's texts are kept
    assert analysed == ["المفاوضات في ميامي"]
