"""Event handlers seen through Reflex's public middleware hook (chatapp/state/instrument.py):
how long each ran, the tab and handler in its log lines, and the shutdown drain that waits for
the running ones. Events go through a real Reflex event processor with the app's middleware (in
memory): if a Reflex upgrade stopped calling ``preprocess`` in the event's own task, these
fail."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reflex as rx
import structlog
from prometheus_client import REGISTRY
from reflex.istate.manager.memory import StateManagerMemory
from reflex_base.event import Event
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor

from chatapp.chatapp import app
from chatapp.observability import logs
from chatapp.state import instrument

release = asyncio.Event()


class InstrumentProbeState(rx.State):
    """Handlers that take as long as a test needs (a test-only substate)."""

    done: int = 0

    @rx.event
    async def slow(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.done += 1

    @rx.event
    async def stuck(self) -> None:
        await release.wait()

    @rx.event(background=True)
    async def slow_in_background(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    @rx.event
    def says(self, text: str) -> None:
        logging.getLogger("chatapp.test").warning(text)


def event(handler: str, **payload: Any) -> Event:
    return Event(name=f"{InstrumentProbeState.get_full_name()}.{handler}", payload=payload)


@pytest.fixture
async def processor() -> AsyncIterator[BaseStateEventProcessor]:
    """Reflex's event processor as the app runs it: the app's middleware, a state manager."""
    with app.set_contexts():
        proc = BaseStateEventProcessor(middleware=app)
        proc.configure(state_manager=StateManagerMemory())
        async with proc:
            yield proc


async def until_running(count: int) -> None:
    deadline = time.monotonic() + 5
    while instrument.running() != count:
        assert time.monotonic() < deadline, f"{instrument.running()} handlers running"
        await asyncio.sleep(0.005)


async def test_drain_waits_for_a_running_handler(processor: BaseStateEventProcessor) -> None:
    done = await processor.enqueue("tab-1", event("slow", seconds=0.3))
    await until_running(1)
    started = time.monotonic()
    assert await instrument.drain(5) == 0
    assert 0.1 < time.monotonic() - started < 2
    await done
    assert instrument.running() == 0


async def test_background_handlers_are_not_waited_for(
    processor: BaseStateEventProcessor,
) -> None:
    bg = await processor.enqueue("tab-2", event("slow_in_background", seconds=0.3))
    fg = await processor.enqueue("tab-3", event("slow", seconds=0.2))
    await until_running(1)  # the foreground one only
    assert await instrument.drain(5) == 0
    assert fg.done() and not bg.done()
    await bg


async def test_drain_gives_up_after_its_time(processor: BaseStateEventProcessor) -> None:
    release.clear()
    stuck = await processor.enqueue("tab-4", event("stuck"))
    await until_running(1)
    started = time.monotonic()
    assert await instrument.drain(0.2) == 1
    assert time.monotonic() - started < 1
    assert await instrument.drain(0) == 1  # no grace: nothing waited for
    release.set()
    await stuck
    assert instrument.running() == 0


def test_handler_names_are_qualified_names() -> None:
    assert instrument.handler_of(rx.State, event("slow").name) == (
        "InstrumentProbeState.slow",
        False,
    )
    assert instrument.handler_of(rx.State, event("slow_in_background").name)[1] is True


def timed(handler: str) -> tuple[float, float]:
    labels = {"handler": f"InstrumentProbeState.{handler}"}
    count = REGISTRY.get_sample_value("chatapp_event_handler_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("chatapp_event_handler_seconds_sum", labels) or 0.0
    return count, total


async def test_handler_latency_is_observed_per_handler(
    processor: BaseStateEventProcessor,
) -> None:
    count, total = timed("slow")
    bg_count, bg_total = timed("slow_in_background")
    await (await processor.enqueue("tab-5", event("slow", seconds=0.25)))
    await (await processor.enqueue("tab-5", event("slow_in_background", seconds=0.2)))
    new_count, new_total = timed("slow")
    assert new_count == count + 1
    assert 0.25 <= new_total - total < 1.5
    new_bg_count, new_bg_total = timed("slow_in_background")
    assert new_bg_count == bg_count + 1
    assert new_bg_total - bg_total >= 0.2  # a background handler: its whole run


async def test_log_lines_of_a_handler_name_its_tab_and_handler(
    processor: BaseStateEventProcessor,
) -> None:
    out = io.StringIO()
    logs.configure(json=True, stream=out)
    try:
        says = Event(
            name=event("says").name,
            payload={"text": "from a handler"},
            router_data={"token": "tab6-token-rest", "pathname": "/"},  # as a browser sends
        )
        await (await processor.enqueue("tab6-token-rest", says))
        logging.getLogger("chatapp.test").warning("outside any handler")
    finally:
        structlog.contextvars.clear_contextvars()
        logs.configure(json=False, stream=sys.stderr)
    lines = {x["event"]: x for x in map(json.loads, out.getvalue().splitlines())}
    inside = lines["from a handler"]
    assert inside["tab"] == "tab6-tok"
    assert inside["handler"] == "InstrumentProbeState.says"
    assert "tab" not in lines["outside any handler"]  # the binding ended with the event
