"""rag/readers/records.py: JSON records keep their metadata, dates normalised."""

import json

from rag.readers import read


def test_records_keep_metadata_with_dates_normalised():
    record = {"id": 7, "text": "نص الخبر.", "title": "عنوان", "date": "٢٩ نوفمبر ٢٠٢٥", "source": "Jawhara FM"}
    [page] = read(json.dumps(record, ensure_ascii=False).encode(), ".jsonl")
    assert (page.key, page.date, page.source, page.title) == ("7", "2025-11-29", "Jawhara FM", "عنوان")
