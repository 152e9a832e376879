"""The hashing pool (issue 11, finding 1): bcrypt never occupies the database pool, at most a
bounded number of jobs wait, and a job whose tab has gone is skipped."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from chatapp.services.errors import Throttled
from chatapp.state import hashing
from chatapp.state.hashing import HashPool, TabGone


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    tabs: set[str] = set()
    monkeypatch.setattr(hashing, "_is_connected", lambda token: token in tabs)
    yield tabs


async def test_a_queued_job_whose_tab_left_is_skipped(connected: set[str]) -> None:
    pool = HashPool(workers=1, queue_max=8)
    connected.update({"a", "b"})
    release = threading.Event()
    ran: list[str] = []

    def slow(name: str) -> str:
        release.wait(10)
        ran.append(name)
        return name

    first = asyncio.create_task(pool.run(slow, token="a", name="a"))
    second = asyncio.create_task(pool.run(slow, token="b", name="b"))
    await asyncio.sleep(0.05)  # both submitted; "b" waits for the only thread
    connected.discard("b")  # its tab disconnects
    release.set()
    assert await first == "a"
    with pytest.raises(TabGone):
        await second
    assert ran == ["a"]
    assert pool.skipped == 1
    # A tab that is already gone is refused before anything is queued.
    with pytest.raises(TabGone):
        await pool.run(slow, token="b", name="b")


async def test_too_many_under_way_is_busy_at_once(connected: set[str]) -> None:
    pool = HashPool(workers=1, queue_max=2)
    connected.add("t")
    release = threading.Event()

    async def flow() -> bool:
        async with pool.slot():
            return await pool.run(release.wait, token="t", timeout=10)

    jobs = [asyncio.create_task(flow()) for _ in range(2)]
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    with pytest.raises(Throttled, match="busy"):
        async with pool.slot():
            pass
    assert time.monotonic() - t0 < 0.1
    release.set()
    assert await asyncio.gather(*jobs) == [True, True]
    assert pool.pending == 0


async def test_database_work_does_not_wait_behind_hashing(connected: set[str]) -> None:
    """The flood's cause on main: bcrypt ran in the 12 database threads. With every hashing
    thread busy, a database call still runs at once."""
    from chatapp.state.db_call import db_run

    pool = HashPool(workers=2, queue_max=64)
    connected.add("t")
    release = threading.Event()
    hashing_jobs = [
        asyncio.create_task(pool.run(release.wait, token="t", timeout=10)) for _ in range(30)
    ]
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    assert await db_run(lambda: "database answered") == "database answered"
    assert time.monotonic() - t0 < 0.5
    release.set()
    await asyncio.gather(*hashing_jobs)
