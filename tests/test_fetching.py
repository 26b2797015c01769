"""rag/fetching.py against a real HTTP server on a loopback port: pages, feeds, limits and refusals."""

from __future__ import annotations

import gzip
import itertools
import json
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote
from xml.sax.saxutils import escape

import pytest

import rag.fetching
from rag.articles import load_articles
from rag.config import FetchSettings
from rag.fetching import FetchError, add_feed, add_urls, check_address, fetch
from tests.helpers import CORPUS, news_page, serving


def articles(count: int) -> list[dict]:
    with gzip.open(CORPUS, "rt") as lines:
        return [json.loads(line) for line in itertools.islice(lines, 40, 40 + count)]


ARTICLES = articles(3)


def rss(base: str, count: int) -> bytes:
    items = "".join(
        f"<item><title>{escape(ARTICLES[i % 3]['title'])}</title><link>{base}/news/{i}</link>"
        f"<pubDate>Mon, 0{1 + i % 3} Dec 2025 10:00:00 GMT</pubDate></item>"
        for i in range(count)
    )
    return f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


class Site(BaseHTTPRequestHandler):
    """A small news site: /news/N (article pages), /feed.xml, /huge-feed.xml, and misbehaving pages."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Site.requests.append(self.path)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/news/"):
            number = int(self.path.rsplit("/", 1)[1])
            self.reply(
                200, "text/html; charset=windows-1256", news_page(ARTICLES[number % 3], "windows-1256", number % 3)
            )
        elif self.path == "/feed.xml":
            self.reply(200, "application/rss+xml", rss(base, 3))
        elif self.path == "/huge-feed.xml":
            self.reply(200, "application/rss+xml", rss(base, 10_000))
        elif self.path == "/loop":
            self.redirect("/loop")
        elif self.path == "/moved":
            self.redirect("/news/1")
        elif self.path == "/to-localhost":
            self.redirect(f"http://localhost:{self.server.server_address[1]}/news/2")
        elif self.path == "/slow":
            time.sleep(3)
            self.reply(200, "text/html", b"<html><body>late</body></html>")
        elif self.path == "/big":
            self.reply(200, "text/html", b"<html><body>" + b"<p>word</p>" * 300_000 + b"</body></html>")
        elif self.path == "/endless":  # no Content-Length: the limit is counted while reading
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(300):
                self.wfile.write(b"<p>word</p>" * 1000)
        elif self.path == "/drip":  # a byte at a time, each in time, never done in time
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"<p>")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/image":
            self.reply(200, "image/png", b"\x89PNG")
        else:
            self.reply(404, "text/html", b"not here")

    def reply(self, status: int, media_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(Site) as url:
        yield url


LOCAL = FetchSettings(allow_private=True, timeout=1.0, max_page_mb=1.0, deadline=2.0)


def test_pages_are_saved_with_their_address_and_indexed_like_any_file(site: str, tmp_path: Path):
    report = add_urls([f"{site}/news/0", f"{site}/moved"], tmp_path, LOCAL)
    assert len(report.saved) == 2 and not report.problems
    loaded = load_articles(tmp_path)
    assert not loaded.problems
    # A page's own canonical address wins over the one it was fetched from.
    by_url = {unquote(a.url): a for a in loaded.articles}
    assert set(by_url) == {ARTICLES[0]["url"], ARTICLES[1]["url"]}
    page = by_url[ARTICLES[0]["url"]]
    assert page.title == ARTICLES[0]["title"] and page.source == ARTICLES[0]["source"]
    assert page.date == "2017-01-05" and ARTICLES[0]["text"].split("\n")[0].replace("\xa0", " ") in page.text
    assert "تعليقات القراء" not in page.text
    again = add_urls([f"{site}/news/0"], tmp_path, LOCAL)
    assert again.seen == [f"{site}/news/0"] and not again.saved


def test_feed_fetches_only_articles_not_seen_yet(site: str, tmp_path: Path):
    add_urls([f"{site}/news/1"], tmp_path, LOCAL)
    Site.requests.clear()
    report = add_feed(f"{site}/feed.xml", tmp_path, LOCAL)
    assert report.seen == [f"{site}/news/1"] and len(report.saved) == 2 and not report.problems
    assert sorted(Site.requests) == ["/feed.xml", "/news/0", "/news/2"]
    assert len(load_articles(tmp_path).articles) == 3


def test_a_feed_of_10000_items_is_bounded(site: str, tmp_path: Path):
    settings = LOCAL.model_copy(update={"max_feed_items": 5, "max_page_mb": 10.0})
    report = add_feed(f"{site}/huge-feed.xml", tmp_path, settings)
    assert report.notes == [f"{site}/huge-feed.xml: 10000 items, reading the first 5"]
    assert len(report.saved) == 5


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "404 Not Found"),
        ("/loop", "more than 5 redirects (a redirect loop?)"),
        ("/slow", "timed out after 1 s"),
        ("/big", "3.1 MB is over the 1 MB limit"),
        ("/endless", "over the 1 MB limit"),
        ("/image", "content type image/png, expected text/html or application/xhtml+xml"),
        ("/drip", "took longer than 2 s in all"),
    ],
)
def test_bad_urls_fail_with_one_line_each_and_nothing_else_is_lost(site: str, tmp_path: Path, path: str, reason: str):
    report = add_urls([f"{site}{path}", f"{site}/news/2"], tmp_path, LOCAL)
    assert report.problems == [f"{site}{path}: skipped, {reason}"]
    assert len(report.saved) == 1


def test_private_addresses_are_refused_unless_allowed(site: str):
    with pytest.raises(FetchError, match=r"private, loopback or link-local address \(127.0.0.1\)"):
        fetch(f"{site}/news/0", FetchSettings())
    for url in ("http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://192.168.1.1"):
        with pytest.raises(FetchError, match="private, loopback or link-local"):
            check_address(url, allow_private=False)
    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://x"):
        with pytest.raises(FetchError, match="only http and https"):
            check_address(url, allow_private=True)
    check_address("http://93.184.215.14/", allow_private=False)  # a public address passes (no request made)


def test_every_redirect_is_checked_like_the_first_address(site: str, monkeypatch: pytest.MonkeyPatch):
    """Here 127.0.0.1 stands for a public host and `localhost` for a private one: a redirect to it is refused."""
    real = rag.fetching.check_address

    def only_numeric_loopback(url: str, allow_private: bool) -> None:
        if "localhost" in url:
            raise FetchError("private address")
        real(url, True)

    monkeypatch.setattr(rag.fetching, "check_address", only_numeric_loopback)
    with pytest.raises(FetchError, match="private address"):
        fetch(f"{site}/to-localhost", LOCAL)
    assert fetch(f"{site}/moved", LOCAL).url == f"{site}/news/1"


def test_a_name_that_resolves_again_to_this_machine_is_refused(site: str, monkeypatch: pytest.MonkeyPatch):
    """DNS rebinding: the name answers a public address when it is checked and 127.0.0.1 when the connection
    resolves it again. The connected peer is checked before the body is read: the page served on 127.0.0.1 is
    refused, not fetched."""
    port = int(site.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: str, *args: object, **kwargs: object) -> list:
        if host != "news.example":
            return real(host, *args, **kwargs)
        asked.append(host)
        address = "93.184.215.14" if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    Site.requests.clear()
    with pytest.raises(FetchError, match=r"news.example connected to 127.0.0.1, a private, loopback or link-local"):
        fetch(f"http://news.example:{port}/news/0", FetchSettings(timeout=2.0))
    assert len(asked) == 2  # checked, then resolved again by the connection


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com:99999/news", "not a valid address (Port out of range 0-65535)"),
        ("http://[::1/news", "not a valid address (Invalid IPv6 URL)"),
        ("ftp://example.com/news", "only http and https addresses are fetched, not ftp:"),
        ("news", "only http and https addresses are fetched, not a bare path:"),
    ],
)
def test_invalid_addresses_are_refused_one_line_each(site: str, tmp_path: Path, url: str, reason: str):
    report = add_urls([url, f"{site}/news/2"], tmp_path, LOCAL)
    assert report.problems == [f"{url}: skipped, {reason}"]
    assert len(report.saved) == 1
