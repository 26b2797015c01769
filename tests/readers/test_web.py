"""rag/readers/web.py: Arabic news pages (RTL, UTF-8 and Windows-1256, three layouts) come out clean; saved pages keep their address."""

from urllib.parse import unquote

import pytest

from bench.extraction import page_scores
from rag.readers import ArticleError, read
from rag.readers.web import saved_page
from tests.helpers import corpus_records, news_page

NOISE = ("الرئيسية", "أخبار ذات صلة", "تعليقات القراء", "جميع الحقوق محفوظة", "اشترك في النشرة")


@pytest.mark.parametrize("charset", ["utf-8", "windows-1256"])
@pytest.mark.parametrize("layout", [0, 1, 2])
def test_arabic_news_pages_come_out_clean(charset, layout):
    article = corpus_records(3)[layout]
    [page] = read(news_page(article, charset, layout), ".html")
    precision, recall = page_scores(page.text, article["text"])
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, page.text[:300])
    assert not any(noise in page.text for noise in NOISE)
    assert page.title == article["title"]
    assert page.source == article["source"] and unquote(page.url) == article["url"]
    assert page.date == "2017-01-05"
    assert page.language == "ar"


def test_fetched_page_keeps_its_address_and_pages_claim_only_web_links():
    html = (
        b"<html><head><link rel='canonical' href='javascript:alert(1)'></head><body><article>"
        + (b"<p>A long enough paragraph of article text for the extractor to keep it as the main body.</p>" * 5)
        + b"</article></body></html>"
    )
    [page] = read(saved_page(html, "https://news.example/a/1"), ".html")
    assert page.url == "https://news.example/a/1"


def test_page_that_is_all_script_has_no_text():
    with pytest.raises(ArticleError, match="no text"):
        read(b"<html><body><script>" + b"var a = 1;" * 1000 + b"</script></body></html>", ".html")
