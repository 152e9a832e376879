"""The app defects the fault runs found (bench/RESULTS.md "FAULTS"), each reproduced on purpose
with one pair of load-tool tabs (bench/tabs.py: they behave like the browser) against the app's
production backend on a private MariaDB (and Redis).

Each test of a defect (D1-D4, D6) sets the scene with ordinary assertions (a broken harness
fails), then checks what should happen; each failed on the main of its day and passes since
its fix. The other tests pin what works.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bench import servers
from bench.db import create_users, stored_counts
from bench.instances import OwnMariaDB, OwnRedis, ThrowawayDatabase
from bench.load import Recorder, make_body
from bench.procs import Server
from bench.tabs import ChatappTab

pytestmark = [pytest.mark.faults, pytest.mark.mysql]
WAIT_S = 20.0  # what "eventually" means here: reconnect back-off, restart, re-send
LEASE_S = 7.0  # > Reflex's oplock hold time (redis_lock_expiration / 2 = 5 s by default)


class App:
    """One app process (production backend) on a throwaway database of the private MariaDB."""

    def __init__(self, mariadb: OwnMariaDB, jwt_secret: str, redis_url: str = "") -> None:
        self.mariadb = mariadb
        self.db: ThrowawayDatabase = mariadb.server().throwaway("faults_defects")
        self.srv: Server = servers.chatapp(
            database_url=self.db.url,
            jwt_secret=jwt_secret,
            redis_url=redis_url,
            backend_only=True,
            name="faults-defects",
        )
        self.srv.start()
        self.users = 0

    async def pair(self, *, retry: bool = False) -> tuple[ChatappTab, ChatappTab]:
        """Two people with their conversation open, each in one reconnecting tab."""
        users = await asyncio.to_thread(create_users, self.db.engine, 2, self.users)
        self.users += 2
        rec = Recorder()
        a, b = (
            ChatappTab(
                index=i,
                user=users[i],
                peer=users[1 - i],
                port=self.srv.port,
                sink=rec,
                reconnect=True,
                retry=retry,
            )
            for i in (0, 1)
        )
        for t in (a, b):
            await t.connect()
        await asyncio.gather(a.open_conversation(), b.open_conversation())
        return a, b

    def stored(self, cid: str) -> int:
        return stored_counts(self.db.engine, [cid]).get(cid, 0)

    def close(self) -> None:
        self.srv.stop()
        self.db.drop()


@pytest.fixture(scope="module")
def app(own_mariadb: OwnMariaDB, jwt_secret: str) -> Iterator[App]:
    a = App(own_mariadb, jwt_secret)
    yield a
    a.close()


async def until(check: Callable[[], Any]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.2)
    return False


def trace(tab: ChatappTab) -> str:
    """The tab's recent trace, for an assertion message."""
    t0 = tab.trace[0][0] if tab.trace else 0.0
    return "\n".join(f"{t - t0:7.2f} {what[:160]}" for t, what in tab.trace)


def send(tab: ChatappTab) -> str:
    cid = secrets.token_hex(16)
    tab.send(make_body(cid), cid)
    return cid


def pending(tab: ChatappTab, cid: str) -> Callable[[], bool]:
    return lambda: tab.view.status.get(cid) == "pending" and cid in tab.outbox()


async def _stored_within(app: App, cid: str) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if n := await asyncio.to_thread(app.stored, cid):
            return n
        await asyncio.sleep(0.5)
    return 0


def _hold_sends(app: App) -> sa.Connection:
    """Hold every INSERT into messages (the send stays 'pending', in the outbox)."""
    conn = app.db.engine.connect()
    conn.execute(sa.text("LOCK TABLES messages WRITE"))
    return conn


async def _interrupted_send(
    app: App, *, queue_another: bool
) -> tuple[str, str, ChatappTab, ChatappTab]:
    """A's send is pending (in the outbox, not stored) when the server is killed; optionally A
    sends another message while the server is down (queued by the browser). Then the server
    comes back and A reconnects."""
    a, b = await app.pair()
    lock = _hold_sends(app)
    try:
        held = send(a)
        assert await until(pending(a, held)), "the held send never showed as pending"
        app.srv.kill()
    finally:
        lock.execute(sa.text("UNLOCK TABLES"))
        lock.close()
    assert app.stored(held) == 0
    assert await until(lambda: a.offline), "the tab did not notice the server is gone"
    queued = send(a) if queue_another else ""  # (queued by the browser until it reconnects)
    await asyncio.to_thread(app.srv.start)
    assert await until(lambda: a.reconnects == 1 and b.reconnects == 1), "tabs did not reconnect"
    return held, queued, a, b


def test_outbox_is_sent_again_after_a_restart(app: App) -> None:
    """What works: a message pending when the server died is re-sent from the browser's outbox
    on reconnect (same client id) and stored once; its bubble ends 'sent'."""

    async def run() -> None:
        held, _, a, b = await _interrupted_send(app, queue_another=False)
        assert await _stored_within(app, held) == 1
        assert await until(lambda: a.view.status.get(held) == "sent")
        assert await until(lambda: b.view.status.get(held) == "sent")  # (caught up or live)
        assert held not in a.outbox()
        a.close()
        b.close()

    asyncio.run(run())


def test_outbox_is_sent_again_when_a_queued_send_arrives_first(app: App) -> None:
    async def run() -> int:
        held, queued, a, b = await _interrupted_send(app, queue_another=True)
        try:
            # The queued one is taken...
            assert await _stored_within(app, queued) == 1, trace(a)
            stored = await _stored_within(app, held)  # ...and the held one should be too
            if not stored:  # lost the way D2 says: still in the outbox, no bubble
                assert held in a.outbox(), trace(a)
            return stored
        finally:
            a.close()
            b.close()

    assert asyncio.run(run()) == 1  # D2 (fixed)


def test_send_in_flight_when_the_server_dies_is_not_lost(app: App) -> None:
    """D1 (fixed): a send the server received but never answered before dying. The browser kept
    it when Send was pressed (KEEP_UNSENT_JS), so the next connection sends it again."""

    async def run() -> int:
        a, _ = await app.pair()
        assert app.srv.proc is not None
        os.killpg(app.srv.proc.pid, signal.SIGSTOP)  # the send reaches the server, unanswered
        try:
            cid = send(a)
            await asyncio.sleep(0.5)
        finally:
            app.srv.kill()  # (SIGKILL ends a stopped process too)
        assert a.view.status.get(cid) is None and cid not in a.outbox()  # (never answered)
        await asyncio.to_thread(app.srv.start)
        try:
            assert await until(lambda: a.reconnects == 1)
            stored = await _stored_within(app, cid)
            assert await until(lambda: a.view.status.get(cid) == "sent"), trace(a)
            return stored
        finally:
            a.close()

    assert asyncio.run(run()) == 1


def test_failed_send_is_sent_again_when_the_database_is_back(app: App) -> None:
    async def run() -> int:
        a, _ = await app.pair(retry=False)  # nobody presses Retry
        await asyncio.to_thread(app.mariadb.stop)
        try:
            cid = send(a)
            assert await until(lambda: a.view.status.get(cid) == "failed")
        finally:
            await asyncio.to_thread(app.mariadb.start)
        try:
            stored = await _stored_within(app, cid)
            if not stored:  # lost the way D4 says: still failed, still in the outbox
                assert a.view.status.get(cid) == "failed" and cid in a.outbox(), trace(a)
            return stored
        finally:
            a.close()

    assert asyncio.run(run()) == 1  # D4 (fixed)


def test_retry_after_a_database_outage_stores_once(app: App) -> None:
    """What works: Retry (the tab presses it) after the outage stores the message once, the
    pool recovers without a restart, and the recipient sees it."""

    async def run() -> None:
        a, b = await app.pair(retry=True)
        await asyncio.to_thread(app.mariadb.stop)
        try:
            cid = send(a)
            assert await until(lambda: a.view.status.get(cid) == "failed")
        finally:
            await asyncio.to_thread(app.mariadb.start)
        assert await _stored_within(app, cid) == 1
        assert await until(lambda: b.view.status.get(cid) == "sent")
        assert a.retries >= 1
        a.close()
        b.close()

    asyncio.run(run())


@pytest.mark.redis
def test_send_while_redis_is_down_is_not_lost(
    own_mariadb: OwnMariaDB, redis_available: None, jwt_secret: str
) -> None:
    """D3 (fixed): while Redis is unreachable Reflex raises before the send handler runs (the
    outage toast); the browser kept the message, and sends it again on the tab's next
    connection (every tab reconnects when the bus is back)."""
    rds = OwnRedis()
    rds.start()
    app = App(own_mariadb, jwt_secret, redis_url=rds.url)

    async def run() -> int:
        a, _ = await app.pair(retry=True)
        # Idle past Reflex's opportunistic lease (half the 10 s lock expiration): the tab's
        # state goes back to Redis, so its next event needs Redis.
        await asyncio.sleep(LEASE_S)
        rds.kill()
        try:
            cid = send(a)
            # (Reflex could not run the handler: the person was told so ...)
            told = await until(lambda: any("error toast" in what for _, what in a.trace))
        finally:
            rds.start()  # empty
        try:
            assert told, trace(a)
            # ... and the message the browser kept is sent once the tab is back.
            return await _stored_within(app, cid)
        finally:
            a.close()

    try:
        stored = asyncio.run(run())
    finally:
        app.close()
        rds.close()
    assert stored == 1  # D3 (fixed)


@pytest.mark.redis
def test_message_committed_before_a_crash_reaches_the_other_process(
    own_mariadb: OwnMariaDB, redis_available: None, jwt_secret: str
) -> None:
    """D6: two processes on Redis; the one that stored A's message dies before publishing it
    (Redis refuses PUBLISH until after the kill). B's tab, on the other
    process, stays connected: only A's tab, reconnecting to the survivor and finding its
    pending message already stored, can make it reach B."""
    import redis

    rds = OwnRedis()
    rds.start()
    app = App(own_mariadb, jwt_secret, redis_url=rds.url)
    other = servers.chatapp(
        database_url=app.db.url,
        jwt_secret=jwt_secret,
        redis_url=rds.url,
        backend_only=True,
        name="faults-defects-2",
    )
    other.start()
    control = redis.Redis(port=rds.port)

    async def run() -> tuple[int, str | None]:
        users = await asyncio.to_thread(create_users, app.db.engine, 2, 0)
        rec = Recorder()
        a = ChatappTab(
            index=0,
            user=users[0],
            peer=users[1],
            port=app.srv.port,
            ports=[app.srv.port, other.port],
            sink=rec,
            reconnect=True,
        )
        b = ChatappTab(
            index=1, user=users[1], peer=users[0], port=other.port, sink=rec, reconnect=True
        )
        for t in (a, b):
            await t.connect()
        await asyncio.gather(a.open_conversation(), b.open_conversation())
        # The publish cannot go out (as if the process died right after the commit) ...
        control.acl_setuser("default", enabled=True, nopass=True, commands=["-publish"])
        try:
            cid = send(a)
            assert await _stored_within(app, cid) == 1, trace(a)  # ... the commit is done ...
            app.srv.kill()  # ... and the process dies
        finally:
            control.acl_setuser("default", enabled=True, nopass=True, commands=["+publish"])
        try:
            await until(lambda: b.view.status.get(cid) == "sent")
            return await asyncio.to_thread(app.stored, cid), b.view.status.get(cid)
        finally:
            a.close()
            b.close()

    try:
        stored, seen_by_b = asyncio.run(run())
    finally:
        other.stop()
        app.close()
        rds.close()
    assert stored == 1
    assert seen_by_b == "sent", "B never saw the message the dead process had stored"
