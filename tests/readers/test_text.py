"""rag/readers/text.py: Markdown read as a reader sees it."""

from rag.readers import read


def test_markdown_headings_and_link_text_kept_urls_and_images_dropped():
    [page] = read(b"# Title\n\nSee [the report](http://x.example/r) ![chart](http://x.example/c.png) now.", ".md")
    assert page.text == "Title\n\nSee the report now."
