"""Text utilities shared by every stage: whitespace cleaning, language detection, sentence spans."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F]")
# A sentence ends at . ! ? … (Latin) or ؟ ؛ (Arabic), optionally followed by closing quotes or brackets.
SENTENCE_END = re.compile(r"[.!?…؟؛]+[\"'”’»)\]]*(?=\s)")
# Weaker boundaries used only to split an over-long sentence: Arabic and Latin commas, colons, semicolons.
CLAUSE_END = re.compile(r"[،,:;]+(?=\s)")
WORD = re.compile(r"\S+")
TERMINAL = ".!?…؟؛:،,\"'”’»)]"
HEADING_MAX_WORDS = 14


def clean_whitespace(text: str) -> str:
    """Normalise line ends, strip trailing spaces and blank-line runs, trim the ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def detect_language(text: str) -> str:
    """'ar' when Arabic letters make up at least a third of the letters, else 'en'."""
    arabic = len(ARABIC_LETTER.findall(text))
    latin = len(LATIN_LETTER.findall(text))
    if arabic == 0 and latin == 0:
        return "en"
    return "ar" if arabic * 2 >= latin else "en"


def crosses_languages(query: str, passages: Sequence[str]) -> bool:
    """True when the query is in another language than the passages (lexical matching cannot help)."""
    return bool(passages) and detect_language(query) != detect_language(" ".join(passages))


@dataclass(frozen=True)
class Segment:
    """A sentence or heading as character offsets into a text."""

    start: int
    end: int
    heading: bool = False


def is_heading(line: str) -> bool:
    """A short line without closing punctuation, or a Markdown heading."""
    stripped = line.strip()
    if stripped.startswith("#"):
        return True
    return 0 < len(stripped.split()) <= HEADING_MAX_WORDS and stripped[-1] not in TERMINAL


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_spans(text: str, start: int, end: int, boundary: re.Pattern[str]) -> list[tuple[int, int]]:
    """Split text[start:end] after each `boundary` match; spans are trimmed and non-empty."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in boundary.finditer(text, start, end):
        spans.append(_trimmed(text, cursor, match.end()))
        cursor = match.end()
    spans.append(_trimmed(text, cursor, end))
    return [(s, e) for s, e in spans if e > s]


def sentences(text: str) -> list[Segment]:
    """Sentences and headings of `text`, in order; lines always break sentences."""
    segments: list[Segment] = []
    line_start = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        line_end = line_start + len(line)
        if line.strip():
            last_line = i == len(lines) - 1
            if is_heading(line) and not last_line:
                s, e = _trimmed(text, line_start, line_end)
                segments.append(Segment(s, e, heading=True))
            else:
                segments.extend(Segment(s, e) for s, e in split_spans(text, line_start, line_end, SENTENCE_END))
        line_start = line_end + 1
    return segments


# Arabic normalisation shared by documents and queries: diacritics, tatweel, letter variants, digits.
_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")
_LETTERS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"}
    | {chr(0x0660 + d): str(d) for d in range(10)}
    | {chr(0x06F0 + d): str(d) for d in range(10)}
)
_ENDINGS = str.maketrans({"ى": "ي", "ة": "ه"})
TOKEN = re.compile(r"\w+")


def fold(text: str) -> str:
    """Strip diacritics and tatweel, unify alef forms and digits, case-fold; keeps ة / ى for stemmers."""
    return _DIACRITICS.sub("", text).translate(_LETTERS).casefold()


def normalize(text: str) -> str:
    """Fold the spelling variants of Arabic (and Latin case) so equal words compare equal."""
    return fold(text).translate(_ENDINGS)


def tokens(text: str) -> list[str]:
    """Normalised word tokens."""
    return TOKEN.findall(normalize(text))
