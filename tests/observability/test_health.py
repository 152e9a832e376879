"""/healthz's checks (chatapp/observability/health.py) against real servers: the shared MariaDB,
and a private MariaDB and Redis that the tests stop (never the shared ones)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bench.instances import OwnMariaDB, OwnRedis
from chatapp.db import make_engine
from chatapp.observability import health
from tests.conftest import need

pytestmark = [pytest.mark.mysql]


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    why = OwnRedis.available()
    need(why is None, f"cannot run a private Redis: {why}")
    rds = OwnRedis()
    rds.start()
    yield rds
    rds.close()


@pytest.fixture(scope="module")
def own_mariadb() -> Iterator[OwnMariaDB]:
    why = OwnMariaDB.available()
    need(why is None, f"cannot run a private MariaDB: {why}")
    db = OwnMariaDB()
    db.start()
    yield db
    db.close()


async def test_ok_with_the_database(mysql_engine: sa.Engine) -> None:
    result = await health.check(redis_url="", limit=5, engine=mysql_engine)
    assert result.ok
    assert result.body() == {"status": "ok", "checks": {"database": "ok"}}


async def test_names_the_database_when_it_stops(own_mariadb: OwnMariaDB) -> None:
    engine = make_engine(own_mariadb.server_url + "/mysql?charset=utf8mb4")
    try:
        assert (await health.check(redis_url="", limit=5, engine=engine)).ok
        own_mariadb.stop()
        try:
            result = await health.check(redis_url="", limit=5, engine=engine)
        finally:
            own_mariadb.start()
        assert not result.ok
        assert result.body()["status"] == "unavailable"
        assert result.checks["database"].startswith("unreachable (")
        # The error's class only: no host, port or user.
        for private in ("127.0.0.1", str(own_mariadb.port), "root"):
            assert private not in result.checks["database"]
        assert (await health.check(redis_url="", limit=5, engine=engine)).ok  # back
    finally:
        engine.dispose()


@pytest.mark.redis
async def test_names_redis_when_it_stops(mysql_engine: sa.Engine, own_redis: OwnRedis) -> None:
    up = await health.check(redis_url=own_redis.url, limit=5, engine=mysql_engine)
    assert up.ok and up.checks == {"database": "ok", "redis": "ok"}
    own_redis.kill()
    down = await health.check(redis_url=own_redis.url, limit=2, engine=mysql_engine)
    assert not down.ok
    assert down.checks["database"] == "ok"
    assert down.checks["redis"].startswith("unreachable (")
    assert str(own_redis.port) not in down.checks["redis"]
    own_redis.start()  # same port, empty: the check's client reconnects by itself
    assert (await health.check(redis_url=own_redis.url, limit=5, engine=mysql_engine)).ok


async def test_a_stuck_check_answers_down_within_its_limit(mysql_engine: sa.Engine) -> None:
    """A database check still stuck in its thread (a database that drops packets): the next
    probe answers "down" at once, without queueing a thread behind it or blocking the loop."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    health._db_busy.acquire()  # as a check stuck in its thread holds it
    started = time.monotonic()
    try:
        result = await health.check(redis_url="", limit=0.5, engine=mysql_engine)
    finally:
        health._db_busy.release()
    took = time.monotonic() - started
    await asyncio.sleep(0.05)
    task.cancel()
    assert not result.ok
    assert result.checks["database"] == "a previous check is still waiting"
    assert took < 0.5
    assert ticks > 0  # the loop kept running
    assert (await health.check(redis_url="", limit=5, engine=mysql_engine)).ok


async def test_a_database_that_does_not_answer_times_out(own_mariadb: OwnMariaDB) -> None:
    """The limit holds when the server accepts nothing and answers nothing (stopped with
    SIGSTOP, as a hung or partitioned database looks): "timed out" within the limit, and the
    check works again once the server does."""
    assert own_mariadb.proc is not None
    engine = make_engine(own_mariadb.server_url + "/mysql?charset=utf8mb4")
    os.kill(own_mariadb.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = await health.check(redis_url="", limit=0.5, engine=engine)
        took = time.monotonic() - started
        again = await health.check(redis_url="", limit=0.5, engine=engine)
    finally:
        os.kill(own_mariadb.proc.pid, signal.SIGCONT)
    try:
        assert result.checks["database"] == "timed out"
        assert took < 1.5
        # The first check's thread is still waiting: the next probe does not queue behind it.
        assert again.checks["database"] == "a previous check is still waiting"
        for _ in range(200):  # bounded: the stuck thread finishes once the server answers
            if not health._db_busy.locked():
                break
            await asyncio.sleep(0.05)
        assert (await health.check(redis_url="", limit=5, engine=engine)).ok
    finally:
        engine.dispose()
