"""rag/stores/milvus/lease.py on a real Milvus Lite file: one build at a time, judged by no machine's clock."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from rag.stores import IndexBusyError
from rag.stores.milvus.engine import MilvusEngine
from rag.stores.milvus.lease import Lease, LeaseLost


@pytest.fixture
def engine(tmp_path: Path):
    engine = MilvusEngine(str(tmp_path / "lease.db"))
    engine.create(dimension=None)
    yield engine
    engine.close()


def lease(engine: MilvusEngine, seconds: float = 3.0, clock=time.monotonic) -> Lease:
    return Lease(engine.client, engine.names.meta, "test index", seconds, clock)


def test_builds_racing_for_the_lease_hold_it_one_at_a_time(engine):
    held: list[tuple[float, float]] = []
    start = threading.Barrier(4)

    def build() -> None:
        start.wait()  # all four claim at once
        with lease(engine).held(wait=True):
            began = time.monotonic()
            time.sleep(0.3)
            held.append((began, time.monotonic()))

    builds = [threading.Thread(target=build) for _ in range(4)]
    for thread in builds:
        thread.start()
    for thread in builds:
        thread.join(60)
    assert len(held) == 4  # every build got it in the end
    spans = sorted(held)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans  # never two at once
    assert lease(engine).claims() == {}  # each gave it up


def test_a_held_lease_refuses_a_build_that_does_not_wait(engine):
    busy = pytest.raises(IndexBusyError, match="another `rag index` is building")
    with lease(engine).held(wait=False), busy, lease(engine).held(wait=False):
        pass


def test_a_claim_is_dead_when_its_count_stops_not_by_any_clock(engine):
    """The waiter's own clock alone: a holder beating keeps the lease however far that clock jumps; one that
    stopped beating loses it once the waiter has seen its claim unchanged for a whole lease."""
    holder = lease(engine)
    assert holder.try_take()
    now = [0.0]
    waiter = lease(engine, seconds=3.0, clock=lambda: now[0])
    assert not waiter.try_take()  # first seen: live
    now[0] = 3600.0  # an hour on the waiter's clock, but the holder beat meanwhile
    assert holder.beat()
    assert not waiter.try_take()
    now[0] = 3602.0
    assert not waiter.try_take()  # unchanged for 2 s only
    now[0] = 3604.0  # unchanged for a whole lease: the holder stalled or was killed
    assert waiter.try_take()
    assert set(waiter.claims()) == {waiter.key}  # the dead claim is gone


def test_a_build_that_stalled_past_its_lease_stops_and_never_overwrites_the_new_holder(engine):
    stalled = lease(engine, seconds=3.0)
    assert stalled.try_take()
    taker = lease(engine, seconds=3.0)
    started = time.monotonic()
    with taker.held(wait=True):
        assert time.monotonic() - started >= 3.0  # it waited out the stalled claim
        with pytest.raises(LeaseLost, match="took over"):
            stalled.check()
        assert not stalled.beat()  # its renewal writes nothing
        stalled.release()
        assert set(taker.claims()) == {taker.key}
        taker.check()  # the new holder still holds it


def test_a_milvus_build_that_lost_its_lease_stops_before_switching(tmp_path, fake_settings, fake_embedder):
    """The engine's build checks the lease at each step: a build whose lease was taken writes no switch."""
    from rag.config import StoreSettings
    from rag.indexing import build_index
    from rag.stores import engine_for

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("The olive harvest starts early in Sfax.", encoding="utf-8")
    settings = fake_settings(seeds, tmp_path / "index").model_copy(
        update={"store": StoreSettings(uri=str(tmp_path / "build.db"), lease_seconds=3.0)}
    )
    engine = engine_for(settings)
    real = Lease.check

    def taken(self: Lease) -> None:
        self.client.upsert(self.meta, [{"key": "lease/other", "value": '{"beats": 1}', "dummy": [0, 0]}])
        real(self)

    try:
        Lease.check = taken  # type: ignore[method-assign]
        with pytest.raises(LeaseLost):
            build_index(settings, embedder=fake_embedder, show_progress=False)
    finally:
        Lease.check = real  # type: ignore[method-assign]
    with pytest.raises(Exception, match="no index"):
        engine.generation()
    engine.drop()
