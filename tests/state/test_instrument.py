"""Which event handlers are running (chatapp/state/instrument.py), seen through Reflex's public
middleware hook, and the shutdown drain that waits for them. Events go through a real Reflex
event processor with the app's middleware (in memory): if a Reflex upgrade stopped calling
``preprocess`` in the event's own task, these fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reflex as rx
from reflex.istate.manager.memory import StateManagerMemory
from reflex_base.event import Event
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor

from chatapp.chatapp import app
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
