"""Follow-up questions: which ones lean on the previous turn, and how they are read with it."""

from __future__ import annotations

import re

from rag.text import normalize
from rag.types import Answer

# "And what…", "so where…" open a follow-up in English; in Arabic the same "and" / "so" is the letter
# و / ف glued to the question word or preposition that follows ("وماذا", "فمتى", "وإلى كم").
EN_OPENERS = frozenset({"and", "so", "then", "also", "what about", "how about"})
AR_GLUED = frozenset(
    normalize(w)
    for w in [
        "ما",
        "ماذا",
        "من",
        "متى",
        "أين",
        "اين",
        "كيف",
        "كم",
        "لماذا",
        "لم",
        "هل",
        "أي",
        "اي",
        "في",
        "إلى",
        "الى",
        "على",
        "عن",
        "مع",
        "ب",
        "بكم",
        "بماذا",
        "لمن",
        "ما",
        "هو",
        "هي",
        "هل",
    ]
)
# Words that point back at something named earlier ("that" and Arabic هو / هي are left out: "the party
# that won", "من هو ..." open standalone questions).
EN_POINTERS = frozenset(
    ["he", "she", "it", "they", "him", "her", "them", "his", "hers", "its", "their", "theirs", "this", "these", "those"]
)
AR_POINTERS = frozenset(
    normalize(w)
    for w in ["ذلك", "تلك", "هذا", "هذه", "هؤلاء", "هناك", "عنه", "عنها", "له", "لها", "فيه", "فيها", "منه", "منها"]
)
SHORT_WORDS = 3  # "And why?", "When?", "ولماذا؟": too short to stand alone
WORD = re.compile(r"\w+")


def is_follow_up(question: str) -> bool:
    """Whether the question leans on the previous turn: opens with "and / so" (و / ف glued in Arabic),
    points back with a pronoun or demonstrative, or is too short to stand alone."""
    words = WORD.findall(normalize(question))
    if not words:
        return False
    if len(words) <= SHORT_WORDS:
        return True
    first = words[0]
    if first in EN_OPENERS or " ".join(words[:2]) in EN_OPENERS:
        return True
    if first[:1] in ("و", "ف") and first[1:] in AR_GLUED:
        return True
    return any(w in EN_POINTERS or w in AR_POINTERS for w in words)


def read_with(question: str, previous: Answer) -> str:
    """The follow-up read with the previous turn: the previous question, what answered it (the model's best
    answer span, shown or not; the whole cited sentence goes to retrieval only, lest it make any follow-up look
    answered), then the follow-up itself."""
    span = previous.best_span.text if previous.best_span is not None else ""
    return " ".join(p for p in (previous.question, span, question) if p)


def retrieval_query(question: str, previous: Answer) -> str:
    """What to search for a follow-up: the previous question, the sentence that answered it, and the follow-up."""
    cited = previous.citations[0].span_text if previous.citations else ""
    return " ".join(p for p in (previous.question, cited, question) if p)
