"""Operations of a real running app (production backend, one worker) on a private MariaDB that
the tests stop and start again: /healthz follows the database, /metrics counts a message sent
over the websocket (and with two workers, whichever answers, adds up both), and SIGTERM lets a
send that is waiting for its commit finish (two replicas on a private Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from bench.db import BenchUser
from bench.tabs import ChatappTab
from chatapp.db import make_engine, upgrade
from tests.conftest import need
from tests.e2e.conftest import AppServer
from tests.e2e.test_crafted_events import NullSink, _user
from tests.support.services import OwnMariaDB, OwnRedis

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_db() -> Iterator[tuple[OwnMariaDB, str]]:
    why = OwnMariaDB.available()
    need(why is None, f"a private MariaDB cannot run here: {why}")
    db = OwnMariaDB()
    db.start()
    name = f"chatapp_ops_{secrets.token_hex(3)}"
    db.create_database(name)
    url = db.url(name)
    upgrade(url)
    yield db, url
    db.close()


@pytest.fixture(scope="module")
def server(own_db: tuple[OwnMariaDB, str]) -> Iterator[AppServer]:
    _, url = own_db
    srv = AppServer(url, log_name="ops", backend_only=True)
    srv.start()
    yield srv
    srv.stop()
    srv.remove_web_dir()


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    """A probe's request: no Origin, no cookie."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}


def health(server: AppServer) -> tuple[int, dict[str, Any]]:
    status, body, _ = get(server.url + "/healthz")
    return status, json.loads(body)


def samples(server: AppServer) -> dict[str, float]:
    """Every sample of /metrics: ``name{label="v",...}`` -> value."""
    status, body, headers = get(server.url + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def until(what: Callable[[], Any], seconds: float) -> Any:
    """Poll ``what`` (bounded) until it gives something true; that, or the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def users(url: str, *prefixes: str) -> list[BenchUser]:
    engine = make_engine(url)
    try:
        return [_user(engine, p) for p in prefixes]
    finally:
        engine.dispose()


def test_metrics_count_a_message_sent_over_the_websocket(server: AppServer) -> None:
    a, b = users(server.database_url, "ma", "mb")
    before = samples(server)
    text = f"counted {secrets.token_hex(4)}"

    async def scenario() -> None:
        sender = ChatappTab(index=0, user=a, peer=b, port=server.port, sink=NullSink())
        receiver = ChatappTab(index=1, user=b, peer=a, port=server.port, sink=NullSink())
        await sender.connect()
        await receiver.connect()
        try:
            await sender.open_conversation()
            await receiver.open_conversation()
            cid = secrets.token_urlsafe(12)
            sent = sender.expect(
                lambda op: (
                    op.get("t") == "msg"
                    and op["item"].get("cid") == cid
                    and op["item"].get("status") == "sent"
                )
            )
            arrived = receiver.expect(
                lambda op: op.get("t") == "msg" and op["item"].get("body") == text
            )
            sender.send(text, cid)
            await asyncio.wait_for(asyncio.gather(sent, arrived), 30)
            assert samples(server)["chatapp_connected_tabs"] >= 2
        finally:
            sender.close()
            receiver.close()

    asyncio.run(scenario())
    after = samples(server)
    stored = "chatapp_messages_stored_total"
    assert after[stored] == before.get(stored, 0) + 1
    delivered = "chatapp_deliveries_total"
    assert after[delivered] >= before.get(delivered, 0) + 1
    latency = "chatapp_delivery_latency_seconds_count"
    assert after[latency] >= before.get(latency, 0) + 1
    sends = 'chatapp_event_handler_seconds_count{handler="ChatState.send"}'
    assert after[sends] == before.get(sends, 0) + 1
    # Aggregates only: nobody's name, id, session or text.
    _, body, _ = get(server.url + "/metrics")
    for private in (a.username, b.username, text, a.token):
        assert private.encode() not in body


def test_healthz_follows_the_database(server: AppServer, own_db: tuple[OwnMariaDB, str]) -> None:
    db, _ = own_db
    status, body = health(server)
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok"}})
    db.stop()
    try:
        assert until(lambda: health(server)[0] == 503, 20), "/healthz stayed 200"
        status, body = health(server)
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("unreachable (")
        started = time.monotonic()
        for _ in range(5):  # safe to call often: each answers within the check's limit
            assert health(server)[0] == 503
        assert time.monotonic() - started < 5 * 2.5
    finally:
        db.start()
    assert until(lambda: health(server)[0] == 200, 30), "/healthz did not recover"
    assert health(server) == (200, {"status": "ok", "checks": {"database": "ok"}})


@pytest.mark.redis
def test_metrics_add_up_over_two_workers(own_db: tuple[OwnMariaDB, str], tmp_path: Path) -> None:
    """WORKERS=2 on Redis: each worker keeps its values in PROMETHEUS_MULTIPROC_DIR and
    whichever worker answers /metrics adds them all up; when the server stops, gunicorn's
    child_exit hook removes the exited workers' live gauges (connected tabs)."""
    why = OwnRedis.available()
    need(why is None, f"cannot run a private Redis: {why}")
    _, url = own_db
    rds = OwnRedis()
    rds.start()
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {"REDIS_URL": rds.url, "WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    srv = AppServer(url, log_name="ops-2w", backend_only=True, extra_env=env)
    a, b = users(url, "wa", "wb")
    text = f"two workers {secrets.token_hex(4)}"

    async def scenario() -> None:
        tabs = [
            ChatappTab(index=i, user=u, peer=p, port=srv.port, sink=NullSink())
            for i, (u, p) in enumerate([(a, b), (b, a), (a, b), (b, a)])
        ]
        try:
            for tab in tabs:
                await tab.connect()
                await tab.open_conversation()
            cid = secrets.token_urlsafe(12)
            arrived = [
                t.expect(lambda op: op.get("t") == "msg" and op["item"].get("body") == text)
                for t in tabs[1::2]
            ]
            tabs[0].send(text, cid)
            await asyncio.wait_for(asyncio.gather(*arrived), 30)
            # Scrapes land on either worker: every one sees the whole server.
            for _ in range(8):
                seen = await asyncio.to_thread(samples, srv)
                assert seen["chatapp_connected_tabs"] == 4
                assert seen["chatapp_messages_stored_total"] == 1
        finally:
            for tab in tabs:
                tab.close()

    def workers_up() -> bool:  # each worker's lifespan logs this once it runs
        return srv.log_path.read_text().count("start-up objects frozen") == 2

    try:
        srv.start()
        # Both workers serving (a worker still booting when SIGTERM comes makes gunicorn halt
        # without reaping the others: no child_exit for them).
        assert until(workers_up, 60), "the second worker did not start"
        asyncio.run(scenario())
        srv.stop()
        # gunicorn outlives the CLI it was started by: its workers are reaped after that.
        assert until(lambda: not _server_running(srv), 30), "the server did not exit"
    finally:
        srv.stop()
        srv.remove_web_dir()
        rds.close()
    assert list(folder.glob("counter_*.db")), "the workers kept no values in the folder"
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    after = {s.name: s.value for f in registry.collect() for s in f.samples}
    assert after["chatapp_messages_stored_total"] == 1  # counters outlive their workers
    assert after.get("chatapp_connected_tabs", 0) == 0  # the exited workers' tabs are gone


@pytest.mark.redis
def test_sigterm_lets_a_send_in_flight_finish(own_db: tuple[OwnMariaDB, str]) -> None:
    """Two replicas on Redis. SIGTERM to the sender's replica while its send waits for the
    commit (the messages table is locked): the replica stops taking connections and closes the
    websocket, then waits for the running handler (SHUTDOWN_GRACE_SECONDS); once the lock is
    released the message is stored once and announced on the bus, so the recipient on the
    other replica sees it live (a cancelled handler would have stored it, its thread being past
    cancelling, but never announced it); and the replica exits well within its grace."""
    why = OwnRedis.available()
    need(why is None, f"cannot run a private Redis: {why}")
    db, url = own_db
    rds = OwnRedis()
    rds.start()
    going = AppServer(url, log_name="ops-term", backend_only=True, extra_env={"REDIS_URL": rds.url})
    staying = AppServer(
        url, log_name="ops-stay", backend_only=True, extra_env={"REDIS_URL": rds.url}
    )
    a, b = users(url, "ta", "tb")
    text = f"in flight {secrets.token_hex(4)}"
    name = url.rsplit("/", 1)[-1].split("?")[0]
    lock = pymysql.connect(host="127.0.0.1", port=db.port, user="root", database=name)
    watch = pymysql.connect(host="127.0.0.1", port=db.port, user="root", autocommit=True)

    def insert_waiting() -> bool:
        with watch.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.processlist"
                " WHERE info LIKE 'INSERT INTO messages%%'"
            )
            row = cur.fetchone()
        return bool(row and row[0])

    async def scenario() -> None:
        sender = ChatappTab(index=0, user=a, peer=b, port=going.port, sink=NullSink())
        receiver = ChatappTab(index=1, user=b, peer=a, port=staying.port, sink=NullSink())
        await sender.connect()
        await receiver.connect()
        try:
            await sender.open_conversation()
            await receiver.open_conversation()
            arrived = receiver.expect(
                lambda op: op.get("t") == "msg" and op["item"].get("body") == text
            )
            with lock.cursor() as cur:
                cur.execute("LOCK TABLES messages WRITE")
            sender.send(text, secrets.token_urlsafe(12))
            waiting = await asyncio.to_thread(until, insert_waiting, 30)
            assert waiting, "the send never reached its INSERT"
            assert going.proc is not None
            os.killpg(going.proc.pid, signal.SIGTERM)
            draining = await asyncio.to_thread(
                until, lambda: "running event handlers" in going.log_path.read_text(), 30
            )
            assert draining, "the replica did not wait for the running handler"
            with lock.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            await asyncio.wait_for(arrived, 30)  # live, through the other replica
        finally:
            sender.close()
            receiver.close()

    try:
        staying.start()
        going.start()
        asyncio.run(scenario())
        assert until(lambda: not _server_running(going), 30), "the replica did not exit"
    finally:
        lock.close()
        watch.close()
        for srv in (going, staying):
            srv.stop()
            srv.remove_web_dir()
        rds.close()
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE body = :b"), {"b": text}
        ).scalar()
    engine.dispose()
    assert stored == 1
    log = going.log_path.read_text()
    assert "waiting up to 10 s for 1 running event handlers" in log
    assert "still running at shutdown" not in log


def _server_running(srv: AppServer) -> bool:
    """Any process of the server's group left (gunicorn outlives the CLI that started it)."""
    assert srv.proc is not None
    srv.proc.poll()  # reap the CLI process (a zombie would keep the group alive)
    try:
        os.killpg(srv.proc.pid, 0)
    except ProcessLookupError:
        return False
    return True
