"""rag/chunking.py: sentence-aware chunks within the token budget, offsets exact."""

from pathlib import Path

import pytest

from rag.articles import load_articles
from rag.chunking import chunk_article
from rag.config import ChunkSettings
from rag.types import Article

REPO = Path(__file__).resolve().parent.parent


def words(text: str) -> int:
    return len(text.split())


def article(text: str) -> Article:
    return Article(id="a", title="t", text=text, path="a.txt", content_hash="h")


@pytest.mark.parametrize(("budget", "overlap"), [(20, 0), (40, 8), (80, 15), (300, 30)])
def test_seed_chunks_match_article_text_at_their_offsets(budget, overlap):
    seed = load_articles(REPO / "seeds").articles[0]
    chunks = chunk_article(seed, words, ChunkSettings(max_tokens=budget, overlap_tokens=overlap))
    assert chunks, "the seed produced no chunks"
    for chunk in chunks:
        assert seed.text[chunk.start : chunk.end] == chunk.text
        assert words(chunk.text) <= budget
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    # Every non-space character of the article is in some chunk.
    assert all(i in covered for i, ch in enumerate(seed.text) if not ch.isspace())


def test_chunks_end_at_sentence_boundaries():
    text = "الجملة الأولى هنا. الجملة الثانية هنا؟ الجملة الثالثة هنا! الجملة الرابعة هنا."
    chunks = chunk_article(article(text), words, ChunkSettings(max_tokens=7, overlap_tokens=0))
    assert [c.text for c in chunks] == [
        "الجملة الأولى هنا. الجملة الثانية هنا؟",
        "الجملة الثالثة هنا! الجملة الرابعة هنا.",
    ]


def test_overlap_carries_the_last_sentence():
    text = "واحد اثنان ثلاثة. أربعة خمسة ستة. سبعة ثمانية تسعة. عشرة أحد عشر."
    chunks = chunk_article(article(text), words, ChunkSettings(max_tokens=6, overlap_tokens=3))
    assert chunks[1].text.startswith("أربعة خمسة ستة.")
    assert chunks[0].text.endswith("أربعة خمسة ستة.")


def test_heading_starts_a_new_chunk():
    text = "فقرة أولى قصيرة.\nعنوان القسم الثاني\nفقرة ثانية قصيرة."
    chunks = chunk_article(article(text), words, ChunkSettings(max_tokens=50, overlap_tokens=5))
    assert [c.text for c in chunks] == ["فقرة أولى قصيرة.", "عنوان القسم الثاني\nفقرة ثانية قصيرة."]


def test_long_sentence_is_split_at_commas_then_words():
    text = "، ".join(["كلمة " * 4] * 5).strip() + " " + "طويلة " * 30
    chunks = chunk_article(article(text), words, ChunkSettings(max_tokens=10, overlap_tokens=0))
    assert all(words(c.text) <= 10 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
