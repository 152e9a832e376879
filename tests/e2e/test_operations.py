"""/healthz and /metrics of a real running app (backend, one worker) on a private MariaDB that
the test stops and starts again; a message sent over the websocket by the protocol client is
counted in /metrics."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.tabs import ChatappTab
from chatapp.db import make_engine, upgrade
from tests.conftest import need
from tests.e2e.conftest import AppServer
from tests.e2e.test_crafted_events import NullSink, _user
from tests.support.services import OwnMariaDB

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
    srv = AppServer(url, log_name="ops", backend_only=True, extra_env={"APP_ENV": "development"})
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


def until(what: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_metrics_count_a_message_sent_over_the_websocket(server: AppServer) -> None:
    engine = make_engine(server.database_url)
    a, b = _user(engine, "ma"), _user(engine, "mb")
    engine.dispose()
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
            during = samples(server)
            assert during["chatapp_connected_tabs"] >= 2
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
    assert after[sends] >= before.get(sends, 0) + 1
    # Aggregates only: nobody's name, id or text.
    _, body, _ = get(server.url + "/metrics")
    for private in (a.username, b.username, text, a.token):
        assert private.encode() not in body


def test_healthz_follows_the_database(server: AppServer, own_db: tuple[OwnMariaDB, str]) -> None:
    db, _ = own_db
    status, body = health(server)
    assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok"}})
    db.stop()
    try:
        down = until(lambda: health(server)[0] == 503, 20)
        assert down, "/healthz stayed 200 with the database stopped"
        status, body = health(server)
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] != "ok"
        started = time.monotonic()
        for _ in range(5):  # safe to call often: each answers within the check's limit
            assert health(server)[0] == 503
        assert time.monotonic() - started < 5 * 2.5
    finally:
        db.start()
    assert until(lambda: health(server)[0] == 200, 30), "/healthz did not recover"
    assert health(server) == (200, {"status": "ok", "checks": {"database": "ok"}})
