"""One build at a time on a Milvus index, across processes and machines, with neither a compare-and-set (Milvus
has none) nor any clock but the waiting process's own.

- Each build that wants the index writes a claim of its own, a meta row `lease/<holder>`, and then reads every
  claim: it holds the lease only when no other claim is there but ones it has seen lie dead. Two builds that
  race each see the other's claim (the collections are read at Strong consistency: a read sees every write that
  ended before it), so both withdraw and try again after a random pause; never do both hold it.
- A holder beats: it rewrites its claim with a higher count every third of `lease_seconds`. A waiter deems a claim
  dead once its count has not changed for `lease_seconds` by the waiter's own monotonic clock, so machines'
  clocks are never compared. A build that was killed keeps the next one waiting that long.
- A holder keeps the lease while its claim is the only one (one that stays beside it for RACE_SECONDS). A build that stalled for longer than the lease (its
  claim deemed dead and deleted by the next holder) finds that out at its next beat or step, stops beating, and
  its build stops with IndexBusyError instead of writing beside the new holder.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rag.stores.base import IndexBusyError

LEASE_SECONDS = 30.0  # the default of store.lease_seconds
RACE_SECONDS = 1.0  # how long a claim beside the holder's may stay before the holder deems its lease taken
PREFIX = "lease/"
log = logging.getLogger(__name__)


class LeaseLost(IndexBusyError):
    """Another build took the lease while this one had stalled."""


class Lease:
    """A build's lease on one index, over a client and its meta collection."""

    def __init__(
        self,
        client: Any,
        meta: str,
        location: str,
        seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.meta = meta
        self.location = location
        self.seconds = seconds
        self.holder = uuid.uuid4().hex
        self.key = PREFIX + self.holder
        self._clock = clock
        self._beats = 0
        self._seen: dict[str, tuple[int, float]] = {}  # other claims: the count last seen, and since when
        self._lost = False

    def claims(self) -> dict[str, dict[str, Any]]:
        """Every claim row, by key."""
        rows = self.client.query(self.meta, filter=f'key like "{PREFIX}%"', output_fields=["key", "value"])
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def _live_others(self, claims: dict[str, dict[str, Any]]) -> list[str]:
        """The other claims not yet seen unchanged for a whole lease."""
        now = self._clock()
        live = []
        for key, claim in claims.items():
            if key == self.key:
                continue
            count, since = self._seen.get(key, (-1, now))
            if claim["beats"] != count:
                count, since = claim["beats"], now
            self._seen[key] = (count, since)
            if now - since < self.seconds:
                live.append(key)
        for key in set(self._seen) - set(claims):
            del self._seen[key]
        return live

    def _write(self) -> None:
        self._beats += 1
        value = {"holder": self.holder, "beats": self._beats, "host": socket.gethostname(), "pid": os.getpid()}
        self.client.upsert(self.meta, [{"key": self.key, "value": json.dumps(value), "dummy": [0, 0]}])

    def try_take(self) -> bool:
        """Take the lease if no other live claim is there; False when another build holds it or raced for it."""
        if self._live_others(self.claims()):
            return False
        self._write()
        claims = self.claims()
        if live := self._live_others(claims):
            log.debug("%s: raced %s for the lease; withdrawing", self.location, live)
            self.client.delete(self.meta, ids=[self.key])
            return False
        if dead := [key for key in claims if key != self.key]:
            self.client.delete(self.meta, ids=dead)  # builds that were killed: their lease ran out
        return True

    def check(self) -> None:
        """Raise LeaseLost unless this build still holds the lease (its claim there, and no other)."""
        if self._lost:
            raise LeaseLost(f"another `rag index` took over {self.location} while this build had stalled")
        claims = self.claims()
        if self.key in claims and len(claims) > 1:
            time.sleep(RACE_SECONDS)  # a build that raced another for a free lease withdraws its claim at once
            claims = self.claims()
        if self.key not in claims or len(claims) > 1:
            self._lost = True
            raise LeaseLost(f"another `rag index` took over {self.location} while this build had stalled")

    def beat(self) -> bool:
        """Renew the lease (False, and nothing written, once it was lost)."""
        try:
            self.check()
        except LeaseLost:
            log.warning("%s: the lease was lost; this build stops at its next step", self.location)
            return False
        self._write()
        return True

    def release(self) -> None:
        """Give the lease up (a lost lease is left to whoever holds it now)."""
        if not self._lost:
            self.client.delete(self.meta, ids=[self.key])

    @contextmanager
    def held(self, wait: bool) -> Iterator[Lease]:
        """Hold the lease while the block runs, beating in a thread (IndexBusyError at once when `wait` is false
        and another build holds it)."""
        warned = False
        while not self.try_take():
            if not wait:
                raise IndexBusyError(f"another `rag index` is building {self.location}")
            if not warned:
                log.warning("another `rag index` is building %s; waiting for it to finish", self.location)
                warned = True
            time.sleep(random.uniform(0.5, 1.5))  # apart: two that raced do not race again
        done = threading.Event()

        def beating() -> None:
            while not done.wait(self.seconds / 3) and self.beat():
                pass

        beater = threading.Thread(target=beating, name="milvus-lease", daemon=True)
        beater.start()
        try:
            yield self
        finally:
            done.set()
            beater.join()
            self.release()
