"""Plain text and Markdown files: encodings detected, Markdown read as the text a reader sees."""

from __future__ import annotations

import codecs
import re

from rag.readers import ArticleError, Page
from rag.text import clean_whitespace

CONTROL_BYTE = re.compile(rb"[\x00-\x08]")


def decode(data: bytes) -> str:
    """Bytes to text: BOMs, then UTF-16 without BOM, then UTF-8, then the best guess (e.g. Windows-1256)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if CONTROL_BYTE.search(data, 0, 4096):
        # Control bytes never occur in text files, but UTF-16 without a BOM is full of them.
        for encoding in ("utf-16-le", "utf-16-be"):
            text = data.decode(encoding, errors="replace")
            if _plausible(text):
                return text
        raise ArticleError("binary file (control bytes, not UTF-16 text)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ArticleError("undecodable bytes: not UTF-8, UTF-16 or a known single-byte encoding")
    return str(best)


def _plausible(text: str) -> bool:
    """Mostly Arabic / Latin letters, digits, spaces and punctuation: what a decoded article looks like."""
    sample = text[:2000]
    usual = sum(1 for ch in sample if ch.isspace() or ch.isascii() and ch.isprintable() or "\u0600" <= ch <= "\u06ff")
    return bool(sample) and usual >= 0.95 * len(sample)


def read_text(data: bytes) -> list[Page]:
    """A .txt file: one article (its title comes from a heading-like first line, see rag.articles)."""
    text = clean_whitespace(decode(data))
    return [Page(text)] if text else []


def read_markdown(data: bytes) -> list[Page]:
    """A .md file as plain text: headings and link text kept, URLs, images and HTML dropped."""
    text = markdown_text(decode(data))
    return [Page(text)] if text else []


def markdown_text(markdown: str) -> str:
    """Markdown as the plain text a reader sees: headings and link text kept, URLs, images and HTML dropped
    (article text is data: no markup of it may reach an index, a quote or a reader's browser)."""
    from markdown_it import MarkdownIt

    blocks: list[str] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "inline":
            pieces = []
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    pieces.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    pieces.append("\n")
            blocks.append("".join(pieces))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
    return clean_whitespace("\n\n".join(b for b in blocks if b.strip()))
