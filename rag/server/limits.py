"""Limits that keep one server usable by many: a bounded worker pool per kind of request (429 past its wait
queue, 504 past the request timeout) and a request body limit checked before the body is read (413)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """Every worker is busy and the wait queue is full; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


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

    def _forget_cancelled(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():  # never started (the client gave up while it waited): its slot is free again
            self._release()

    def shutdown(self) -> None:
        """Finish the running and queued work, accept no more."""
        self._pool.shutdown(wait=True)


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
