"""Dates as ISO 8601 (YYYY-MM-DD), whatever a page wrote: ISO stamps, RFC 822, English and Arabic month names
(Egyptian, Levantine and Maghrebi), Arabic-Indic digits, numeric dates day first."""

from __future__ import annotations

import datetime as dt
import functools
import re

DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Arabic month names in use across the Arab world; a page may write two ("أيار/مايو").
ARABIC_MONTHS = {
    1: ("يناير", "كانون الثاني", "جانفي", "جانفييه"),
    2: ("فبراير", "شباط", "فيفري"),
    3: ("مارس", "آذار", "اذار"),
    4: ("أبريل", "ابريل", "إبريل", "نيسان", "أفريل", "افريل"),
    5: ("مايو", "أيار", "ايار", "ماي"),
    6: ("يونيو", "يونيه", "حزيران", "جوان"),
    7: ("يوليو", "يوليه", "تموز", "جويلية", "جويلييه"),
    8: ("أغسطس", "اغسطس", "آب", "أوت", "اوت"),
    9: ("سبتمبر", "أيلول", "ايلول"),
    10: ("أكتوبر", "اكتوبر", "تشرين الأول", "تشرين الاول", "أكتوبر"),
    11: ("نوفمبر", "تشرين الثاني", "نونبر"),
    12: ("ديسمبر", "كانون الأول", "كانون الاول", "دجنبر"),
}
_MONTH_NUMBER = {name: number for number, names in ARABIC_MONTHS.items() for name in names}
_MONTH = "|".join(sorted(map(re.escape, _MONTH_NUMBER), key=len, reverse=True))
ARABIC_DATE = re.compile(rf"(\d{{1,2}})\s*(?:من\s+)?({_MONTH})(?:\s*[/(-]\s*(?:{_MONTH})\)?)?\s*[،,]?\s*(\d{{4}})")
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})(\d{2})")
# Numeric dates are read day first, as Arabic and European news write them (13/07/2016).
DAY_FIRST = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")


def iso_date(value: str | dt.date | None) -> str | None:
    """The date in `value` as YYYY-MM-DD, or None when it holds no full date."""
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return _parse(value.strip().translate(DIGITS)[:200])


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> str | None:
    if match := ISO_DATE.search(text) or PDF_DATE.match(text):
        return _checked(int(match[1]), int(match[2]), int(match[3]))
    if match := ARABIC_DATE.search(text):
        return _checked(int(match[3]), _MONTH_NUMBER[match[2]], int(match[1]))
    if match := DAY_FIRST.search(text):
        return _checked(int(match[3]), int(match[2]), int(match[1]))
    if not text or not re.search(r"\d{4}", text):
        return None
    import dateparser

    parsed = dateparser.parse(text, languages=["en", "ar", "fr"], settings={"REQUIRE_PARTS": ["day", "month", "year"]})
    return parsed.date().isoformat() if parsed else None


def _checked(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None
