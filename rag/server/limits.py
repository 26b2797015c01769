"""Limits that keep one server usable by many, the same for the HTTP API and the chat: a bounded worker pool per
kind of request (429 past its wait queue, 504 past the request timeout), a rate per client (429 with Retry-After)
and a request body limit checked before the body is read (413)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from rag.config import ServerSettings

T = TypeVar("T")
END = object()  # the last item a worker hands over (Workers.hand_over)


def length_problem(text: str, what: str, limit: int) -> str | None:
    """Why `text` is refused for its length (one line), or None."""
    if len(text) > limit:
        return f"{what} has {len(text):,} characters, over the limit of {limit:,}"
    return None


class Busy(Exception):
    """Every worker is busy and the wait queue is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, reason: str = "the server is busy") -> None:
        super().__init__(f"{reason}; retry in {retry_after} s")
        self.retry_after = retry_after


class RateLimited(Busy):
    """This client made its requests of the minute; retry after `retry_after` seconds."""


class TimedOut(Exception):
    """The request waited and ran longer than the request timeout."""


class Workers:
    """`workers` threads for one kind of request and at most `waiting` requests queued for them; a request past
    that is refused at once (Busy) instead of hanging. A slot is freed when its work ends, even when the client
    stopped waiting, so the count reflects the load the models really carry."""

    def __init__(self, name: str, workers: int, waiting: int) -> None:
        self.name = name
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._workers = workers
        self._limit = workers + waiting
        self._taken = 0
        self._lock = threading.Lock()
        self._seconds = 1.0  # moving average of a request's run time, for Retry-After

    @property
    def taken(self) -> int:
        """Requests running or waiting."""
        return self._taken

    def submit(self, work: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue `work(*args)`; raises Busy when the queue is full."""
        with self._lock:
            if self._taken >= self._limit:
                raise Busy(max(1, math.ceil(self._seconds * self._taken / self._workers)))
            self._taken += 1
        try:
            future = self._pool.submit(self._timed, work, *args)
        except RuntimeError:  # the pool is shutting down
            self._release()
            raise Busy(5) from None
        future.add_done_callback(self._forget_cancelled)
        return future

    def _timed(self, work: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - started)
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._taken -= 1

    async def run(self, timeout: float, work: Callable[..., T], *args: Any) -> T:
        """The result of `work(*args)` on a worker; Busy when full, TimedOut past `timeout` seconds."""
        future = self.submit(work, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise TimedOut(f"no answer within {timeout:g} s") from None

    def hand_over(self, events: Callable[[], Iterator[T]], put: Callable[[Any], None]) -> None:
        """Make the items of `events()` on a worker and `put` each, then the exception that ended them if any, then
        END (Busy at once when full). The worker runs to the end even when nobody reads what it puts, so that the
        models are never left in the middle of an answer."""

        def produce() -> None:
            try:
                for item in events():
                    put(item)
            except Exception as error:  # noqa: BLE001 - handed over, raised or told by the reader
                put(error)
            finally:
                put(END)

        self.submit(produce)

    def iterate(self, events: Callable[[], Iterator[T]], timeout: float) -> Iterator[T]:
        """The items of `events()`, made on a worker and handed over as they come (Busy at once when full;
        TimedOut past `timeout` seconds); an exception that ended them is raised here."""
        handed: queue.Queue[Any] = queue.Queue()
        self.hand_over(events, handed.put)
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = handed.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimedOut(f"no answer within {timeout:g} s") from None
            if item is END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def _forget_cancelled(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():  # never started (the client gave up while it waited): its slot is free again
            self._release()

    def shutdown(self) -> None:
        """Finish the running and queued work, accept no more."""
        self._pool.shutdown(wait=True)


class RateLimit:
    """At most `per_minute` requests a minute per client (an API key, a chat login, else an address), in bursts of
    as many: a bucket of tokens per client, refilled continuously; a request finding its bucket empty is refused
    (RateLimited, with the seconds until the next token). 0: no limit."""

    MAX_CLIENTS = 10_000  # buckets kept; past it, the full ones (clients quiet for a minute) are forgotten

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one request of `client`; raises RateLimited when it has none left."""
        if not self.per_minute:
            return
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(wait, f"over the limit of {self.per_minute} requests a minute")
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_CLIENTS:
                self._forget_full(now, rate)

    def _forget_full(self, now: float, rate: float) -> None:
        full = [c for c, (t, then) in self._buckets.items() if t + (now - then) * rate >= self.per_minute]
        for client in full:
            del self._buckets[client]


@dataclass(frozen=True)
class Limits:
    """The limits one server shares between the HTTP API and the chat."""

    answers: Workers
    searches: Workers
    rate: RateLimit

    @classmethod
    def of(cls, server: ServerSettings) -> Limits:
        return cls(
            Workers("answer", server.answer_workers, server.max_waiting),
            Workers("search", server.search_workers, server.max_waiting),
            RateLimit(server.rate_limit),
        )

    def shutdown(self) -> None:
        """Finish the work running and queued (SIGTERM), accept no more."""
        self.answers.shutdown()
        self.searches.shutdown()


class BodyTooLarge(Exception):
    """The request body is over the limit."""


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 before it is read (by its Content-Length) or as soon as
    the bytes received pass the limit (chunked bodies), and nothing of it reaches a route."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Callable) -> None:
        body = json.dumps({"detail": f"request body over the {self.max_bytes / 2**20:g} MB limit"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
