"""Metrics, health checks, structured logs, the handler drain (observability/, state/instrument)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from chatapp.observability import health, logs, metrics
from chatapp.realtime.bus import LocalBus
from chatapp.realtime.hub import Hub
from chatapp.realtime.presence import LocalPresence
from chatapp.state import instrument

ROOT = Path(__file__).resolve().parents[2]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_render_names_every_metric_and_nothing_about_users() -> None:
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    body = text.decode()
    for name in (
        "chatapp_messages_stored_total",
        "chatapp_deliveries_total",
        "chatapp_delivery_latency_seconds_bucket",
        "chatapp_connected_tabs",
        "chatapp_upload_bytes_bucket",
        "chatapp_failed_logins_total",
        "chatapp_event_handler_seconds",
    ):
        assert name in body
    for private in ("user", "conversation", "token", "username"):
        assert f'{private}="' not in body


def test_delivered_counts_and_observes_latency() -> None:
    before = value("chatapp_deliveries_total")
    slow_before = value("chatapp_delivery_latency_seconds_bucket", le="0.05")
    count_before = value("chatapp_delivery_latency_seconds_count")
    metrics.delivered(time.time() - 0.2)  # published 200 ms ago
    metrics.delivered(None)  # an event without a publish time: counted, not timed
    assert value("chatapp_deliveries_total") == before + 2
    assert value("chatapp_delivery_latency_seconds_count") == count_before + 1
    assert value("chatapp_delivery_latency_seconds_bucket", le="0.05") == slow_before


async def test_hub_counts_tabs_and_deliveries() -> None:
    hub = Hub(LocalBus(), LocalPresence())
    got: list[str] = []

    async def deliver(token: str, event: dict[str, Any]) -> None:
        got.append(token)

    hub.attach(deliver, lambda _t: True)
    hub.start()
    await asyncio.sleep(0.05)  # the bus task registers its handler
    try:
        await hub.tab_opened(1, "tab-a")
        await hub.tab_opened(2, "tab-b")
        assert value("chatapp_connected_tabs") == 2
        before = value("chatapp_deliveries_total")
        await hub.publish([1, 2], {"type": "read", "conv": 1, "t": time.time()})
        for _ in range(100):
            if value("chatapp_deliveries_total") == before + 2:
                break
            await asyncio.sleep(0.01)
        assert sorted(got) == ["tab-a", "tab-b"]
        assert value("chatapp_deliveries_total") == before + 2
        await hub.tab_closed(1, "tab-a")
        assert value("chatapp_connected_tabs") == 1
        await hub.tab_closed(2, "tab-b")
    finally:
        await hub.stop()


def test_multiprocess_values_are_added_up(tmp_path: Path) -> None:
    """Two processes counting into one PROMETHEUS_MULTIPROC_DIR; a third renders the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    count = (
        "from chatapp.observability import metrics as m\n"
        "assert m.multiprocess_mode()\n"
        "m.MESSAGES_STORED.inc(3); m.CONNECTED_TABS.set(5)\n"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, cwd=ROOT)
    show = (
        "from chatapp.observability import metrics as m\n"
        "import sys; sys.stdout.write(m.render()[0].decode())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", show], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "chatapp_messages_stored_total 6.0" in out
    # livesum: only live processes count, and both counting processes have exited.
    assert "chatapp_connected_tabs 5.0" not in out


async def test_health_ok_with_the_database() -> None:
    result = await health.check(redis_url="", limit=2)
    assert result.ok
    assert result.body() == {"status": "ok", "checks": {"database": "ok"}}


async def test_health_names_the_database_that_is_down() -> None:
    dead = sa.create_engine("mysql+pymysql://nobody@127.0.0.1:1/none")  # nothing listens
    result = await health.check(redis_url="", limit=2, engine=dead)
    assert not result.ok
    assert result.checks["database"].startswith("unreachable")
    assert "127.0.0.1" not in result.checks["database"]  # no connection details


async def test_health_names_redis_when_it_is_down() -> None:
    result = await health.check(redis_url="redis://127.0.0.1:1/0", limit=1)
    assert not result.ok
    assert result.checks["database"] == "ok"
    assert result.checks["redis"] != "ok"
    assert result.body()["status"] == "unavailable"


async def test_health_check_times_out_without_blocking_the_loop() -> None:
    """A database that does not answer: the probe answers within its limit, the loop runs."""
    started = time.monotonic()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    hold = health._db_busy  # a check already stuck in a thread
    hold.acquire()
    task = asyncio.create_task(ticker())
    try:
        result = await health.check(redis_url="", limit=0.3)
    finally:
        hold.release()
        task.cancel()
    assert not result.ok and "still waiting" in result.checks["database"]
    assert time.monotonic() - started < 1
    assert (await health.check(redis_url="", limit=2)).ok


def test_json_log_lines_carry_bound_fields() -> None:
    out = io.StringIO()
    logs.configure(json=True, stream=out)
    try:
        logs.bind(tab="abcd1234", handler="ChatState.send")
        logging.getLogger("chatapp.test").warning("publishing message %s failed", 7)
        logging.getLogger("uvicorn.error").info("Shutting down")
    finally:
        import structlog

        structlog.contextvars.clear_contextvars()
        logs.configure(json=False, stream=sys.stderr)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    first = lines[0]
    assert first["event"] == "publishing message 7 failed"
    assert first["level"] == "warning"
    assert first["logger"] == "chatapp.test"
    assert first["tab"] == "abcd1234" and first["handler"] == "ChatState.send"
    assert "timestamp" in first
    assert lines[1]["logger"] == "uvicorn.error"


def test_text_log_lines_in_development() -> None:
    out = io.StringIO()
    logs.configure(json=False, stream=out)
    try:
        logging.getLogger("chatapp.test").warning("plain %s", "text")
    finally:
        logs.configure(json=False, stream=sys.stderr)
    line = out.getvalue()
    assert "plain text" in line and not line.lstrip().startswith("{")


class _Processor:
    """Stands in for Reflex's event processor: only the hook that is wrapped."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def _execute_event(self, *, entry: Any, registered_handler: Any) -> None:
        await asyncio.sleep(self.seconds)


def _handler(name: str, background: bool = False) -> Any:
    def fn() -> None: ...

    fn.__qualname__ = name
    return SimpleNamespace(handler=SimpleNamespace(fn=fn, is_background=background))


async def test_handler_latency_and_drain() -> None:
    proc = _Processor(0.2)
    assert instrument.instrument(proc)
    assert not instrument.instrument(proc)  # once
    entry = SimpleNamespace(ctx=SimpleNamespace(token="tok-123456789"))
    before = value("chatapp_event_handler_seconds_count", handler="Test.slow")
    task = asyncio.create_task(
        proc._execute_event(entry=entry, registered_handler=_handler("Test.slow"))
    )
    background = asyncio.create_task(
        proc._execute_event(entry=entry, registered_handler=_handler("Test.bg", True))
    )
    await asyncio.sleep(0.05)
    assert instrument.running() == 1  # the background handler is not waited for
    assert await instrument.drain(2.0) == 0
    assert task.done()
    await background
    assert value("chatapp_event_handler_seconds_count", handler="Test.slow") == before + 1
    assert value("chatapp_event_handler_seconds_sum", handler="Test.slow") >= 0.2


async def test_drain_gives_up_after_its_time() -> None:
    proc = _Processor(5)
    instrument.instrument(proc)
    entry = SimpleNamespace(ctx=SimpleNamespace(token="t"))
    task = asyncio.create_task(
        proc._execute_event(entry=entry, registered_handler=_handler("Test.stuck"))
    )
    await asyncio.sleep(0.01)
    started = time.monotonic()
    assert await instrument.drain(0.2) == 1
    assert time.monotonic() - started < 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
