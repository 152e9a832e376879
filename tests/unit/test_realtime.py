"""The in-process realtime layer: LocalPresence and the Hub over a LocalBus (no services)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatapp.realtime import presence as presence_mod
from chatapp.realtime.bus import LocalBus, RedisBus
from chatapp.realtime.hub import Hub, make_hub
from chatapp.realtime.presence import LocalPresence, RedisPresence


class FakeClock:
    """Stands in for the `time` module inside chatapp.realtime.presence only
    (patching time.monotonic itself would also move asyncio's clock)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """The state layer's side of the hub: records deliveries and presence changes."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.presence: list[tuple[int, bool]] = []
        self.disconnected: set[str] = set()
        self.failing: set[str] = set()

    async def deliver(self, token: str, event: dict[str, Any]) -> None:
        if token in self.failing:
            raise RuntimeError(f"tab {token} is broken")
        self.delivered.append((token, event))

    def is_connected(self, token: str) -> bool:
        return token not in self.disconnected

    async def presence_changed(self, user_id: int, online: bool) -> None:
        self.presence.append((user_id, online))

    def tokens(self) -> Counter[str]:
        return Counter(t for t, _ in self.delivered)

    def clear(self) -> None:
        self.delivered.clear()


async def settle() -> None:
    """Let the per-tab delivery tasks run."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(presence_mod, "time", fake)
    return fake


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def hub(rec: Recorder) -> AsyncIterator[Hub]:
    h = Hub(LocalBus(), LocalPresence())
    h.attach(rec.deliver, rec.is_connected, rec.presence_changed)
    h.start()
    await settle()  # the bus task registers its handler
    yield h
    await h.stop()


# LocalPresence ---------------------------------------------------------------------------
async def test_local_presence_transitions() -> None:
    p = LocalPresence()
    assert await p.online([1, 2]) == set()
    assert await p.tab_up(1, "a") is True  # came online
    assert await p.tab_up(1, "b") is False  # already online
    assert await p.tab_up(1, "a") is False  # same tab again
    assert await p.tab_count(1) == 2
    assert await p.online([1, 2, 3]) == {1}
    assert await p.tab_up(2, "c") is True
    assert await p.online([1, 2, 3]) == {1, 2}
    assert await p.online([]) == set()

    assert await p.tab_down(1, "a") is False  # still has tab b
    assert await p.tab_down(1, "a") is False  # unknown tab now
    assert await p.tab_count(1) == 1
    assert await p.tab_down(1, "b") is True  # just went offline
    assert await p.tab_down(1, "b") is False
    assert await p.tab_count(1) == 0
    assert await p.online([1, 2]) == {2}
    assert await p.tab_down(3, "zzz") is False  # never seen
    assert await p.tab_down(2, "a") is False  # someone else's token
    assert await p.online([2]) == {2}


async def test_local_presence_expires_after_ttl(clock: FakeClock) -> None:
    p = LocalPresence()
    assert await p.tab_up(1, "a") is True
    clock.advance(presence_mod.TTL - 1)
    assert await p.online([1]) == {1}
    assert await p.tab_count(1) == 1
    clock.advance(2)
    assert await p.online([1]) == set()
    assert await p.tab_count(1) == 0
    assert await p.tab_down(1, "a") is False  # already gone
    assert await p.tab_up(1, "a") is True  # back online: a fresh transition


async def test_local_presence_expiry_is_per_tab(clock: FakeClock) -> None:
    p = LocalPresence()
    await p.tab_up(1, "old")
    clock.advance(presence_mod.TTL / 2)
    assert await p.tab_up(1, "new") is False
    clock.advance(presence_mod.TTL / 2 + 1)  # "old" expired, "new" has not
    assert await p.tab_count(1) == 1
    assert await p.online([1]) == {1}
    assert await p.tab_down(1, "new") is True


async def test_local_presence_refresh_keeps_tabs_alive(clock: FakeClock) -> None:
    p = LocalPresence()
    await p.tab_up(1, "a")
    await p.tab_up(2, "b")
    for _ in range(5):
        clock.advance(presence_mod.TTL * 0.8)
        await p.refresh({"a": 1})  # only a's process heartbeats
    assert await p.online([1, 2]) == {1}
    assert await p.tab_count(2) == 0


async def test_local_presence_uses_the_patched_ttl(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence_mod, "TTL", 2.0)
    p = LocalPresence()
    await p.tab_up(1, "a")
    clock.advance(1.5)
    assert await p.online([1]) == {1}
    clock.advance(1)
    assert await p.online([1]) == set()


# Hub with a LocalBus ---------------------------------------------------------------------
async def _open(hub: Hub, tabs: dict[str, int]) -> None:
    for token, uid in tabs.items():
        await hub.tab_opened(uid, token)


async def test_event_reaches_every_tab_of_each_target_exactly_once(hub: Hub, rec: Recorder) -> None:
    await _open(hub, {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "c1": 3})
    await hub.publish([1, 2], {"type": "message", "text": "🦊 hi"})
    await settle()
    assert rec.tokens() == Counter({"a1": 1, "a2": 1, "a3": 1, "b1": 1})
    for _token, event in rec.delivered:
        assert event["type"] == "message"
        assert event["text"] == "🦊 hi"
        assert event["to"] == [1, 2]
    assert hub.delivered == 4

    rec.clear()
    await hub.publish([3, 2, 3, 2], {"type": "x"})  # duplicate targets: still once each
    await settle()
    assert rec.tokens() == Counter({"b1": 1, "c1": 1})
    assert rec.delivered[0][1]["to"] == [2, 3]

    rec.clear()
    await hub.publish([4, 5], {"type": "nobody here"})
    await hub.publish([], {"type": "to no one"})
    await settle()
    assert rec.delivered == []


async def test_the_origin_tab_is_skipped_but_the_senders_other_tabs_are_not(
    hub: Hub, rec: Recorder
) -> None:
    """The tab that sent a message already shows it: no state update for it (one fewer per
    message); the sender's other tabs and the recipients still get the event."""
    await _open(hub, {"a1": 1, "a2": 1, "b1": 2})
    await hub.publish([1, 2], {"type": "message", "origin": "a1"})
    await settle()
    assert rec.tokens() == Counter({"a2": 1, "b1": 1})


async def test_one_tab_sees_events_in_publish_order(hub: Hub, rec: Recorder) -> None:
    await _open(hub, {"a1": 1, "b1": 2})
    for i in range(20):
        await hub.publish([1, 2], {"n": i})
    await settle()
    for token in ("a1", "b1"):
        assert [e["n"] for t, e in rec.delivered if t == token] == list(range(20))


async def test_tab_closed_stops_delivery(hub: Hub, rec: Recorder) -> None:
    await _open(hub, {"a1": 1, "a2": 1, "b1": 2})
    await hub.tab_closed(1, "a1")
    assert hub.local_tabs(1) == {"a2"}
    await hub.publish([1, 2], {"type": "x"})
    await settle()
    assert rec.tokens() == Counter({"a2": 1, "b1": 1})

    rec.clear()
    await hub.tab_closed(1, "a2")
    assert hub.local_tabs(1) == set()
    assert hub.local_tab_count() == 1
    await hub.publish([1, 2], {"type": "y"})
    await settle()
    assert rec.tokens() == Counter({"b1": 1})
    assert await hub.presence.online([1, 2]) == {2}


async def test_presence_changes_on_first_and_last_tab_only(hub: Hub, rec: Recorder) -> None:
    await hub.tab_opened(1, "a1")
    await hub.tab_opened(1, "a2")
    await hub.tab_opened(1, "a1")  # the same tab registering again
    assert rec.presence == [(1, True)]
    assert hub.local_tab_count() == 2
    assert await hub.presence.tab_count(1) == 2
    await hub.tab_closed(1, "a1")
    assert rec.presence == [(1, True)]
    await hub.tab_closed(1, "a2")
    assert rec.presence == [(1, True), (1, False)]
    await hub.tab_closed(1, "a2")  # closing twice changes nothing
    await hub.tab_closed(7, "never-opened")
    assert rec.presence == [(1, True), (1, False)]
    assert hub.local_tab_count() == 0


async def test_token_registered_by_another_user_moves(hub: Hub, rec: Recorder) -> None:
    """A tab that logs out and in as someone else must stop getting the first user's events."""
    await hub.tab_opened(1, "t")
    await hub.tab_opened(2, "t")
    assert hub.local_tabs(1) == set()
    assert hub.local_tabs(2) == {"t"}
    assert hub.local_tab_count() == 1
    assert rec.presence == [(1, True), (1, False), (2, True)]
    assert await hub.presence.online([1, 2]) == {2}

    await hub.publish([1], {"for": 1})
    await hub.publish([2], {"for": 2})
    await settle()
    assert [(t, e["for"]) for t, e in rec.delivered] == [("t", 2)]


async def test_sweep_closes_disconnected_tabs(hub: Hub, rec: Recorder) -> None:
    await _open(hub, {"a1": 1, "a2": 1, "b1": 2, "b2": 2})
    rec.presence.clear()
    rec.disconnected |= {"a1", "a2", "b1"}
    await hub.sweep_once()
    assert rec.presence == [(1, False)]  # once, although both of its tabs went
    assert hub.local_tabs(1) == set()
    assert hub.local_tabs(2) == {"b2"}
    assert hub.local_tab_count() == 1
    assert await hub.presence.online([1, 2]) == {2}
    assert await hub.presence.tab_count(2) == 1

    await hub.sweep_once()  # nothing more to do
    assert rec.presence == [(1, False)]
    await hub.publish([1, 2], {"type": "x"})
    await settle()
    assert rec.tokens() == Counter({"b2": 1})


async def test_sweep_keeps_connected_tabs_online(clock: FakeClock, rec: Recorder) -> None:
    h = Hub(LocalBus(), LocalPresence())
    h.attach(rec.deliver, rec.is_connected, rec.presence_changed)
    await h.tab_opened(1, "a1")
    for _ in range(5):
        clock.advance(presence_mod.TTL * 0.8)
        await h.sweep_once()
    assert await h.presence.online([1]) == {1}
    assert rec.presence == [(1, True)]


async def test_a_failing_tab_does_not_stop_the_others(hub: Hub, rec: Recorder) -> None:
    await _open(hub, {"a1": 1, "a2": 1, "b1": 2})
    rec.failing.add("a1")
    await hub.publish([1, 2], {"type": "x"})
    await settle()
    assert rec.tokens() == Counter({"a2": 1, "b1": 1})
    assert hub.delivered == 2  # counts successful deliveries only
    # The hub keeps working afterwards.
    rec.failing.clear()
    rec.clear()
    await hub.publish([1], {"type": "y"})
    await settle()
    assert rec.tokens() == Counter({"a1": 1, "a2": 1})


async def test_a_slow_tab_does_not_hold_up_the_others(hub: Hub, rec: Recorder) -> None:
    release = asyncio.Event()
    fast = rec.deliver

    async def deliver(token: str, event: dict[str, Any]) -> None:
        if token == "slow":
            await release.wait()
        await fast(token, event)

    hub.attach(deliver, rec.is_connected, rec.presence_changed)
    await _open(hub, {"slow": 1, "a2": 1, "b1": 2})
    await hub.publish([1, 2], {"type": "x"})
    await settle()
    assert rec.tokens() == Counter({"a2": 1, "b1": 1})
    release.set()
    await settle()
    assert rec.tokens() == Counter({"slow": 1, "a2": 1, "b1": 1})


async def test_events_are_dropped_without_a_deliver_callback() -> None:
    h = Hub(LocalBus(), LocalPresence())
    h.start()
    await settle()
    try:
        await h.tab_opened(1, "a1")  # no presence callback either: must not fail
        await h.publish([1], {"type": "x"})
        await settle()
        assert h.delivered == 0
    finally:
        await h.stop()


async def test_start_is_idempotent_and_stop_ends_the_tasks(rec: Recorder) -> None:
    h = Hub(LocalBus(), LocalPresence())
    h.attach(rec.deliver, rec.is_connected)
    h.start()
    tasks = list(h._tasks)
    h.start()
    assert h._tasks == tasks
    await settle()
    await h.tab_opened(1, "a1")
    await h.publish([1], {"type": "x"})
    await settle()
    assert rec.tokens() == Counter({"a1": 1})
    await h.stop()
    assert all(t.done() for t in tasks)
    assert h._tasks == []


async def test_local_bus_without_a_listener_drops_events() -> None:
    bus = LocalBus()
    await bus.publish({"type": "x"})  # nobody runs the bus yet: no error
    got: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any]) -> None:
        got.append(event)

    task = asyncio.create_task(bus.run(handler))
    await settle()
    await bus.publish({"type": "y"})
    assert got == [{"type": "y"}]
    await bus.close()
    await bus.publish({"type": "z"})
    assert got == [{"type": "y"}]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_make_hub_picks_the_backend() -> None:
    local = make_hub("")
    assert isinstance(local.bus, LocalBus)
    assert isinstance(local.presence, LocalPresence)
    remote = make_hub("redis://127.0.0.1:6379/15")  # constructing does not connect
    assert isinstance(remote.bus, RedisBus)
    assert isinstance(remote.presence, RedisPresence)
    await remote.bus.close()
