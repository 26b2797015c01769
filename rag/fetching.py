"""Bringing articles from the web: pages by URL and the items of RSS / Atom feeds, saved into the articles folder
as `.html` files marked with their address, so a build indexes them like any other file.

Every address is checked before it is requested, redirects included: http(s) only, and no private, loopback or
link-local host unless `fetch.allow_private` (a URL must not reach services on this machine or its network); the
address a connection reached is checked again before its body is read (a name may resolve twice)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from rag.config import FetchSettings
from rag.readers.web import saved_from, saved_page

PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml")
WEB_FOLDER = "web"  # fetched pages go to <articles>/web/<site>/


class FetchError(RuntimeError):
    """A URL that could not be fetched or was refused; the message says why."""


@dataclass
class AddReport:
    """What `rag add` did: files written, URLs already saved, and one line per URL that failed."""

    saved: list[Path] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_address(url: str, allow_private: bool) -> None:
    """Raise FetchError unless `url` is http(s) and its host resolves to public addresses only."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # a port out of range, a broken IPv6 address
        raise FetchError(f"not a valid address ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http and https addresses are fetched, not {parts.scheme or 'a bare path'}:")
    if not parts.hostname:
        raise FetchError("no host in the address")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise FetchError(f"cannot resolve {parts.hostname} ({error.strerror})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise FetchError(
                f"{parts.hostname} is a private, loopback or link-local address ({address}); "
                "set RAG_FETCH__ALLOW_PRIVATE=true to fetch from such hosts"
            )


def check_peer(response: Any, url: str, allow_private: bool) -> None:
    """Raise FetchError unless the address the connection reached is public: a name may resolve to another address
    when the connection looks it up again than when it was checked (DNS rebinding). Checked before the body is read;
    an address that cannot be told is refused."""
    if allow_private:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    host = urlsplit(url).hostname
    if not peer:
        raise FetchError(f"could not tell which address {host} connected to")
    address = ipaddress.ip_address(str(peer[0]).split("%")[0])
    if not address.is_global:
        raise FetchError(
            f"{host} connected to {address}, a private, loopback or link-local address (it resolved to a public "
            "one when checked); set RAG_FETCH__ALLOW_PRIVATE=true to fetch from such hosts"
        )


@dataclass(frozen=True)
class Fetched:
    """A response body, the address it finally came from, and its media type."""

    url: str
    content: bytes
    media_type: str


def fetch(url: str, settings: FetchSettings, accept: tuple[str, ...] = PAGE_TYPES) -> Fetched:
    """GET `url` (redirects followed and checked one by one), refusing other media types, bodies over the limit,
    and a page that takes longer than `settings.deadline` in all (a server sending a byte at a time)."""
    import httpx

    limit = int(settings.max_page_mb * 2**20)
    deadline = time.monotonic() + settings.deadline

    def in_time() -> None:
        if time.monotonic() > deadline:
            raise FetchError(f"took longer than {settings.deadline:g} s in all")

    headers = {"User-Agent": settings.user_agent, "Accept": ", ".join(accept) + ", */*;q=0.1"}
    with httpx.Client(timeout=settings.timeout, follow_redirects=False, headers=headers, trust_env=False) as client:
        for _ in range(settings.max_redirects + 1):
            check_address(url, settings.allow_private)
            in_time()
            try:
                with client.stream("GET", url) as response:
                    check_peer(response, url, settings.allow_private)
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"{response.status_code} {response.reason_phrase}")
                    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if media_type not in accept:
                        raise FetchError(f"content type {media_type or 'missing'}, expected {' or '.join(accept)}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > limit:
                        raise FetchError(f"{declared / 2**20:.1f} MB is over the {settings.max_page_mb:g} MB limit")
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        in_time()
                        if len(body) > limit:
                            raise FetchError(f"over the {settings.max_page_mb:g} MB limit")
                    return Fetched(str(response.url), bytes(body), media_type)
            except httpx.TimeoutException:
                raise FetchError(f"timed out after {settings.timeout:g} s") from None
            except (httpx.HTTPError, httpx.InvalidURL) as error:
                raise FetchError(f"{type(error).__name__}: {error}") from None
    raise FetchError(f"more than {settings.max_redirects} redirects (a redirect loop?)")


def page_path(folder: Path, url: str) -> Path:
    """Where the page of `url` is saved: <folder>/web/<site>/<last path words>-<hash of the URL>.html."""
    parts = urlsplit(url)
    site = re.sub(r"[^a-z0-9.-]", "_", (parts.hostname or "site").lower().removeprefix("www."))
    last = Path(unquote(parts.path).strip("/").rsplit("/", 1)[-1]).stem  # "story.html" -> "story"
    words = re.sub(r"[^\w-]+", "-", last, flags=re.UNICODE)
    name = words.strip("-._")[:60] or "page"
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return folder / WEB_FOLDER / site / f"{name}-{digest}.html"


def known_urls(folder: Path) -> set[str]:
    """Addresses of the pages already saved under <folder>/web (read from their marks)."""
    urls = set()
    for path in (folder / WEB_FOLDER).rglob("*.html") if (folder / WEB_FOLDER).is_dir() else []:
        with path.open("rb") as handle:
            if found := saved_from(handle.read(2048)):
                urls.add(found)
    return urls


def save(folder: Path, url: str, html: bytes) -> Path:
    """Write a fetched page (marked with its address) atomically; its file name comes from the address."""
    target = page_path(folder, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")  # hidden: a build running meanwhile skips it
    staging.write_bytes(saved_page(html, url))
    staging.replace(target)
    return target


def add_urls(urls: list[str], folder: Path, settings: FetchSettings, report: AddReport | None = None) -> AddReport:
    """Fetch each page not saved yet into the articles folder."""
    report = report or AddReport()
    known = known_urls(folder)
    for url in urls:
        if url in known:
            report.seen.append(url)
            continue
        try:
            page = fetch(url, settings)
        except FetchError as error:
            report.problems.append(f"{url}: skipped, {error}")
            continue
        report.saved.append(save(folder, url, page.content))
        known.add(url)
    return report


def add_feed(feed_url: str, folder: Path, settings: FetchSettings) -> AddReport:
    """Read an RSS / Atom feed and fetch the articles it links to that are not saved yet (newest items first,
    at most fetch.max_feed_items)."""
    import feedparser

    report = AddReport()
    try:
        feed = fetch(feed_url, settings, FEED_TYPES)
    except FetchError as error:
        report.problems.append(f"{feed_url}: skipped, {error}")
        return report
    parsed = feedparser.parse(feed.content, sanitize_html=False, resolve_relative_uris=False)
    if parsed.bozo and not parsed.entries:
        report.problems.append(f"{feed_url}: skipped, not an RSS or Atom feed ({parsed.get('bozo_exception')})")
        return report
    entries = parsed.entries
    if len(entries) > settings.max_feed_items:
        report.notes.append(f"{feed_url}: {len(entries)} items, reading the first {settings.max_feed_items}")
        entries = entries[: settings.max_feed_items]
    links = [urljoin(feed.url, entry.get("link", "")) for entry in entries if entry.get("link")]
    return add_urls(list(dict.fromkeys(links)), folder, settings, report)
