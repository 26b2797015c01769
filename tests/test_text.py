"""rag/text.py: whitespace, language, sentences, normalisation."""

import pytest

from rag.text import clean_whitespace, detect_language, normalize, sentences, tokens


def test_clean_whitespace_trims_trailing_blank_lines_and_crlf():
    assert clean_whitespace("\ufeffأ  ب\r\nج\t \n\n\n\n\nد\n\n\n") == "أ ب\nج\n\nد"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("من هو كبير المفاوضين؟", "ar"),
        ("Who is the Kremlin spokesman?", "en"),
        ("ما هو موقف NATO من روسيا؟", "ar"),
        ("What did بيسكوف say about the meeting?", "en"),
        ("2024", "en"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_arabic_sentences_split_on_arabic_and_latin_punctuation():
    text = "هل وصل الوفد؟ نعم، وصل صباحا. ثم بدأ الاجتماع؛ واستمر ساعتين!\nسطر جديد بلا نقطة في آخره"
    got = [text[s.start : s.end] for s in sentences(text)]
    assert got == [
        "هل وصل الوفد؟",
        "نعم، وصل صباحا.",
        "ثم بدأ الاجتماع؛",
        "واستمر ساعتين!",
        "سطر جديد بلا نقطة في آخره",
    ]


def test_heading_lines_are_marked():
    text = "محادثات ميامي: آخر التطورات\nتأتي هذه المحادثات في إطار سلسلة من الجهود. وتستمر."
    segments = sentences(text)
    assert segments[0].heading and not segments[1].heading
    assert text[segments[0].start : segments[0].end] == "محادثات ميامي: آخر التطورات"


def test_quotes_stay_with_their_sentence():
    text = "وصف بوتين التصريحات بأنها “هراء.” ثم غادر."
    assert [text[s.start : s.end] for s in sentences(text)] == ["وصف بوتين التصريحات بأنها “هراء.”", "ثم غادر."]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمن", "امن"),
        ("مدرسة", "مدرسه"),
        ("مستشفى", "مستشفي"),
        ("مُحَمَّد", "محمد"),
        ("العـــربية", "العربيه"),
        ("٢٠٢٤", "2024"),
        ("۱۲", "12"),
        ("Kremlin", "kremlin"),
    ],
)
def test_normalize(raw, normalised):
    assert normalize(raw) == normalised


def test_tokens_are_normalised_words():
    assert tokens("قال بيسكوف: “الاجتماع” مهمّ [1].") == ["قال", "بيسكوف", "الاجتماع", "مهم", "1"]


def test_crosses_languages():
    from rag.text import crosses_languages

    assert crosses_languages("Who is the Kremlin spokesman?", ["علّق المتحدث باسم الكرملين"])
    assert not crosses_languages("من هو المتحدث؟", ["علّق المتحدث باسم الكرملين"])
    assert not crosses_languages("Who?", [])
