"""/metrics' values (chatapp/observability/metrics.py) counted where they happen: a message
stored on MariaDB (a re-send is not counted again), a refused log-in, a hub's tabs and
deliveries (in-process and over Redis), upload sizes; several processes added up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlmodel import Session

from chatapp.observability import metrics
from chatapp.realtime.bus import LocalBus
from chatapp.realtime.hub import Hub, make_hub
from chatapp.realtime.presence import LocalPresence
from chatapp.services import accounts
from chatapp.services import conversations as convs
from chatapp.services import messages as msgs
from chatapp.services.dto import SendResult
from chatapp.services.errors import AuthFailed
from chatapp.state import uploads
from tests.support.realtime import Recorder, eventually, settle

ROOT = Path(__file__).resolve().parents[2]
PW = "correct horse battery"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_render_names_every_metric_and_nothing_about_users() -> None:
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    body = text.decode()
    for name in (
        "chatapp_messages_stored_total",
        "chatapp_deliveries_total",
        "chatapp_delivery_failures_total",
        "chatapp_delivery_latency_seconds_bucket",
        "chatapp_connected_tabs",
        "chatapp_upload_bytes_bucket",
        "chatapp_failed_logins_total",
        "chatapp_event_handler_seconds",
    ):
        assert name in body
    for private in ("user", "conversation", "token", "username", "tab"):
        assert f'{private}="' not in body


def test_delivered_counts_and_observes_latency() -> None:
    before = value("chatapp_deliveries_total")
    fast_before = value("chatapp_delivery_latency_seconds_bucket", le="0.1")
    count_before = value("chatapp_delivery_latency_seconds_count")
    metrics.delivered(time.time() - 0.2)  # published 200 ms ago
    metrics.delivered(None)  # an event without a publish time: counted, not timed
    assert value("chatapp_deliveries_total") == before + 2
    assert value("chatapp_delivery_latency_seconds_count") == count_before + 1
    assert value("chatapp_delivery_latency_seconds_bucket", le="0.1") == fast_before


# Counted where it happens -------------------------------------------------------------------
@pytest.mark.mysql
def test_a_stored_message_is_counted_once(db: Session) -> None:
    a = accounts.sign_up(session=db, username="malice", email="malice@example.com", password=PW)
    b = accounts.sign_up(session=db, username="mbob", email="mbob@example.com", password=PW)
    db.commit()
    conv = convs.open_direct(session=db, user_id=a.id, other_user_id=b.id)
    db.commit()
    engine = db.get_bind()
    assert isinstance(engine, sa.Engine)
    cid = secrets.token_urlsafe(12)
    before = value("chatapp_messages_stored_total")

    def store() -> SendResult:
        # The server's path: its own transaction, counted once committed.
        return msgs.send_message(
            engine=engine, sender_id=a.id, conversation_id=conv, body="counted", client_id=cid
        )

    assert store().created
    assert value("chatapp_messages_stored_total") == before + 1
    assert not store().created  # the same send again (a retry): stored once, counted once
    assert value("chatapp_messages_stored_total") == before + 1


@pytest.mark.mysql
def test_a_refused_log_in_is_counted(db: Session) -> None:
    accounts.sign_up(session=db, username="mcarol", email="mcarol@example.com", password=PW)
    db.commit()
    before = value("chatapp_failed_logins_total")
    with pytest.raises(AuthFailed):
        accounts.authenticate(session=db, login="mcarol", password="wrong password")
    with pytest.raises(AuthFailed):
        accounts.authenticate(session=db, login="nobody-here", password="wrong password")
    assert value("chatapp_failed_logins_total") == before + 2
    accounts.authenticate(session=db, login="mcarol", password=PW)
    assert value("chatapp_failed_logins_total") == before + 2


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def counted_hub(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Hub, Recorder]]:
    """A hub as a worker runs it, on each bus: in-process, and Redis pub/sub."""
    if request.param == "local":
        hub = Hub(LocalBus(), LocalPresence())
    else:
        hub = make_hub(request.getfixturevalue("redis_url"))
    rec = Recorder()
    hub.attach(rec.deliver, rec.is_connected, rec.presence_changed)
    hub.start()
    await settle()
    try:
        yield hub, rec
    finally:
        await hub.stop()


async def test_hub_counts_tabs_deliveries_and_failures(counted_hub: tuple[Hub, Recorder]) -> None:
    hub, rec = counted_hub
    # Ids no dev server holds (pub/sub ignores the Redis database number).
    u1, u2 = 910_000_001, 910_000_002
    await hub.tab_opened(u1, "m-tab-a")
    await hub.tab_opened(u2, "m-tab-b")
    assert value("chatapp_connected_tabs") == 2
    delivered = value("chatapp_deliveries_total")
    timed = value("chatapp_delivery_latency_seconds_count")
    failed = value("chatapp_delivery_failures_total")
    rec.failing.add("m-tab-b")
    await hub.publish([u1, u2], {"type": "read", "conv": 1})
    await eventually(lambda: value("chatapp_delivery_failures_total") == failed + 1)
    await eventually(lambda: value("chatapp_deliveries_total") == delivered + 1)
    assert [t for t, _ in rec.delivered] == ["m-tab-a"]
    # Timed from the hub's own publish stamp, whichever process published.
    assert value("chatapp_delivery_latency_seconds_count") == timed + 1
    await hub.tab_closed(u1, "m-tab-a")
    assert value("chatapp_connected_tabs") == 1
    await hub.tab_closed(u2, "m-tab-b")
    assert value("chatapp_connected_tabs") == 0


class _Chunk(SimpleNamespace):
    filename: str
    data: bytes


async def _chunks(*parts: bytes) -> AsyncIterator[Any]:
    for part in parts:
        yield _Chunk(filename="photo.png", data=part)


async def test_upload_sizes_are_observed_even_when_refused() -> None:
    count = value("chatapp_upload_bytes_count")
    total = value("chatapp_upload_bytes_sum")
    name, data, error = await uploads.receive(_chunks(b"x" * 3000, b"y" * 2000))
    assert (name, len(data), error) == ("photo.png", 5000, "")
    big = b"z" * (1024 * 1024)
    _, data, error = await uploads.receive(_chunks(*[big] * 11))  # past the 10 MB limit
    assert data == b"" and error == uploads.TOO_BIG
    assert value("chatapp_upload_bytes_count") == count + 2
    assert value("chatapp_upload_bytes_sum") == total + 5000 + 11 * len(big)


# Several worker processes -------------------------------------------------------------------
def test_multiprocess_values_are_added_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes counting into one PROMETHEUS_MULTIPROC_DIR; a third renders the sum, and
    the gunicorn hook removes an exited worker's live gauge."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    count = (
        "import os, sys\n"
        "from chatapp.observability import metrics as m\n"
        "assert m.multiprocess_mode()\n"
        "m.MESSAGES_STORED.inc(3); m.CONNECTED_TABS.set(5)\n"
        "sys.stdout.write(str(os.getpid()))\n"
    )
    pids = [
        subprocess.run(
            [sys.executable, "-c", count], env=env, check=True, cwd=ROOT, capture_output=True
        ).stdout.decode()
        for _ in range(2)
    ]
    show = (
        "import sys\n"
        "from chatapp.observability import metrics as m\n"
        "sys.stdout.write(m.render()[0].decode())\n"
    )

    def rendered() -> str:
        return subprocess.run(
            [sys.executable, "-c", show], env=env, check=True, cwd=ROOT, capture_output=True
        ).stdout.decode()

    out = rendered()
    assert "chatapp_messages_stored_total 6.0" in out
    assert "chatapp_connected_tabs 10.0" in out
    # A live gauge's file stays until gunicorn's child_exit hook (run in the master, which has
    # the folder in its environment) marks its process dead.
    from chatapp.observability import gunicorn_conf

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=int(pids[0])))
    out = rendered()
    assert "chatapp_messages_stored_total 6.0" in out  # counters outlive their process
    assert "chatapp_connected_tabs 5.0" in out
