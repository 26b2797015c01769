"""rag/dates.py: whatever a page wrote, ISO 8601 or nothing."""

import datetime

import pytest

from rag.dates import iso_date


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2017-01-20T21:43:00+01:00", "2017-01-20"),
        ("Sun, 30 Nov 2025 10:00:00 GMT", "2025-11-30"),
        ("November 3, 2025", "2025-11-03"),
        ("D:20240101120000Z", "2024-01-01"),
        ("٢٩ نوفمبر ٢٠٢٥", "2025-11-29"),
        ("29 كانون الثاني 2025", "2025-01-29"),
        ("الأحد 5 جانفي 2017", "2017-01-05"),
        ("السبت، 12 أيار/مايو 2024", "2024-05-12"),
        ("۳ تشرين الأول ۲۰۲۴", "2024-10-03"),
        ("13/07/2016", "2016-07-13"),
        ("03/11/2015", "2015-11-03"),
        (datetime.datetime(2024, 3, 12, 9, 0), "2024-03-12"),
    ],
)
def test_dates_become_iso(written, iso):
    assert iso_date(written) == iso


@pytest.mark.parametrize("written", ["", "hello", "2024", "31 فبراير 2024", None])
def test_no_full_date_gives_none(written):
    assert iso_date(written) is None
