"""The realtime layer without services: presence on both backends (the Redis one needs a Redis
server: marked `redis`), the Hub over a LocalBus."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatapp.realtime import hub as hub_mod
from chatapp.realtime import presence as presence_mod
from chatapp.realtime.bus import LocalBus, RedisBus
from chatapp.realtime.hub import Hub, make_hub
from chatapp.realtime.presence import LocalPresence, Presence, RedisPresence
from tests.support.clock import FakeClock
from tests.support.realtime import Recorder, settle


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Time as presence sees it: starts on a whole second, so that TTL boundaries are exact."""
    fake = FakeClock()
    fake.now = float(int(fake.now))
    return fake.install(monkeypatch, presence_mod)


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


# Presence, on both backends --------------------------------------------------------------
@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def stores(
    request: pytest.FixtureRequest, clock: FakeClock
) -> AsyncIterator[tuple[Presence, Presence]]:
    """One presence store as two worker processes see it: the in-process backend has one
    process (both are the same object), Redis has two clients on one database."""
    if request.param == "local":
        local = LocalPresence()
        yield local, local
        return
    url: str = request.getfixturevalue("redis_url")
    made = (RedisPresence(url), RedisPresence(url))
    try:
        yield made
    finally:
        for p in made:
            await p._r.aclose()


async def test_presence_transitions(stores: tuple[Presence, Presence]) -> None:
    p1, p2 = stores
    assert await p1.online([1, 2]) == set()
    assert await p1.tab_up(1, "a-on-p1") is True  # came online
    assert await p2.tab_up(1, "b-on-p2") is False  # already online (through the other process)
    assert await p2.tab_up(1, "b-on-p2") is False  # the same tab again
    assert await p1.tab_up(1, "a-on-p1") is False
    assert await p1.tab_count(1) == 2
    assert await p2.tab_count(1) == 2
    assert await p2.online([1, 2]) == {1}
    assert await p2.tab_up(2, "c-on-p2") is True
    assert await p1.online([1, 2, 3]) == {1, 2}
    assert await p1.online([]) == set()

    assert await p1.tab_down(1, "a-on-p1") is False  # still open in the other process
    assert await p1.online([1]) == {1}
    assert await p1.tab_down(1, "a-on-p1") is False  # unknown now
    assert await p1.tab_count(1) == 1
    assert await p2.tab_down(1, "b-on-p2") is True  # the last tab anywhere
    assert await p2.tab_down(1, "b-on-p2") is False
    assert await p1.online([1, 2]) == {2}
    assert await p1.tab_count(1) == 0
    assert await p2.tab_down(9, "never") is False  # never seen
    assert await p2.tab_down(2, "a-on-p1") is False  # someone else's token
    assert await p2.online([2]) == {2}
    assert await p1.tab_down(2, "c-on-p2") is True
    assert await p2.online([1, 2]) == set()


async def test_presence_expires_after_ttl(
    stores: tuple[Presence, Presence], clock: FakeClock
) -> None:
    p1, p2 = stores
    assert await p1.tab_up(1, "a") is True
    clock.advance(presence_mod.TTL - 1)
    assert await p2.online([1]) == {1}
    assert await p2.tab_count(1) == 1
    clock.advance(2)  # p1 "crashed": no refresh
    assert await p2.online([1]) == set()
    assert await p2.tab_count(1) == 0
    assert await p1.tab_down(1, "a") is False  # already gone
    assert await p2.tab_up(1, "b") is True  # back online: a fresh transition
    assert await p1.tab_count(1) == 1


async def test_presence_lasts_exactly_ttl(
    stores: tuple[Presence, Presence], clock: FakeClock
) -> None:
    """A tab counts for TTL seconds after its last sign of life, and from then on it does
    not, whichever question is asked (online, tab_count, or tab_up's "came online")."""
    p1, p2 = stores
    await p1.tab_up(1, "a")
    clock.advance(presence_mod.TTL - 0.5)
    await p1.refresh({"a": 1})  # the last heartbeat
    clock.advance(presence_mod.TTL - 0.5)
    assert await p2.online([1]) == {1}
    assert await p2.tab_count(1) == 1
    clock.advance(0.5)  # exactly TTL after the heartbeat
    assert await p2.online([1]) == set()
    assert await p2.tab_count(1) == 0
    assert await p2.tab_up(1, "b") is True  # coming back is a transition, as online() said


async def test_presence_expiry_is_per_tab(
    stores: tuple[Presence, Presence], clock: FakeClock
) -> None:
    p1, p2 = stores
    await p1.tab_up(1, "old")
    clock.advance(presence_mod.TTL / 2)
    assert await p2.tab_up(1, "new") is False
    clock.advance(presence_mod.TTL / 2 + 1)  # "old" expired, "new" has not
    assert await p1.tab_count(1) == 1
    assert await p1.online([1]) == {1}
    assert await p2.tab_down(1, "new") is True


async def test_presence_refresh_keeps_tabs_alive(
    stores: tuple[Presence, Presence], clock: FakeClock
) -> None:
    p1, p2 = stores
    await p1.tab_up(1, "a")
    await p1.tab_up(2, "b")
    await p2.tab_up(3, "c")
    for _ in range(5):
        clock.advance(presence_mod.TTL * 0.8)
        await p1.refresh({"a": 1, "b": 2})  # only p1 heartbeats, and not for tab c
    await p1.refresh({})  # nothing to do: no error
    assert await p2.online([1, 2, 3]) == {1, 2}
    assert await p1.tab_count(3) == 0


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


# Events that queue up for a tab go out together -------------------------------------------
class Batches:
    """A state layer that shows several events at once (``deliver_many``) and can hold a
    tab's delivery while more events are published."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []  # (token, [n, ...]) per call
        self.hold: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()

    async def deliver(self, token: str, event: dict[str, Any]) -> None:
        await self.deliver_many(token, [event])

    async def deliver_many(self, token: str, events: list[dict[str, Any]]) -> None:
        if token in self.hold:
            await self.hold[token].wait()
        if token in self.failing:
            raise RuntimeError(f"tab {token} is broken")
        self.calls.append((token, [e["n"] for e in events]))

    def of(self, token: str) -> list[list[Any]]:
        return [ns for t, ns in self.calls if t == token]


@pytest.fixture
async def batching(rec: Recorder) -> AsyncIterator[tuple[Hub, Batches]]:
    b = Batches()
    h = Hub(LocalBus(), LocalPresence())
    h.attach(b.deliver, rec.is_connected, deliver_many=b.deliver_many)
    h.start()
    await settle()
    yield h, b
    await h.stop()


async def test_events_that_queue_up_for_a_busy_tab_go_out_together(
    batching: tuple[Hub, Batches],
) -> None:
    """A busy group: while one tab's update is under way, the next messages for it wait and
    then go out in one update (one delta, one frame), in publish order; other tabs are not
    held up and still get each event on its own."""
    hub, b = batching
    await _open(hub, {"slow": 1, "b1": 2})
    b.hold["slow"] = asyncio.Event()
    for n in range(5):
        await hub.publish([1, 2], {"n": n})
        await settle()
    assert b.of("b1") == [[0], [1], [2], [3], [4]]
    assert b.of("slow") == []
    b.hold.pop("slow").set()
    await settle()
    assert b.of("slow") == [[0], [1, 2, 3, 4]]
    assert hub.delivered == 10
    assert hub._waiting == {}  # nothing left behind: the next event starts a new task
    await hub.publish([1], {"n": 5})
    await settle()
    assert b.of("slow") == [[0], [1, 2, 3, 4], [5]]


async def test_a_tab_far_behind_catches_up_in_bounded_updates(
    batching: tuple[Hub, Batches],
) -> None:
    hub, b = batching
    await _open(hub, {"a1": 1})
    b.hold["a1"] = asyncio.Event()
    total = 2 * hub_mod.MAX_BATCH + 3
    for n in range(total):
        await hub.publish([1], {"n": n})
    b.hold.pop("a1").set()
    await settle()
    got = b.of("a1")
    assert [n for ns in got for n in ns] == list(range(total))
    assert max(len(ns) for ns in got) <= hub_mod.MAX_BATCH


async def test_a_failing_batch_is_not_counted_and_the_tab_keeps_receiving(
    batching: tuple[Hub, Batches],
) -> None:
    hub, b = batching
    await _open(hub, {"a1": 1, "b1": 2})
    b.hold["a1"] = asyncio.Event()
    for n in range(3):
        await hub.publish([1, 2], {"n": n})
    b.failing.add("a1")
    b.hold.pop("a1").set()
    await settle()
    assert b.of("a1") == [] and b.of("b1") == [[0, 1, 2]]  # (b1's task had not run yet)
    assert hub.delivered == 3
    b.failing.clear()
    await hub.publish([1], {"n": 3})
    await settle()
    assert b.of("a1") == [[3]]


async def test_without_deliver_many_queued_events_go_one_by_one(hub: Hub, rec: Recorder) -> None:
    release = asyncio.Event()
    fast = rec.deliver

    async def deliver(token: str, event: dict[str, Any]) -> None:
        if event["n"] == 0:
            await release.wait()
        await fast(token, event)

    hub.attach(deliver, rec.is_connected)
    await _open(hub, {"a1": 1})
    for n in range(4):
        await hub.publish([1], {"n": n})
    await settle()
    assert rec.delivered == []
    release.set()
    await settle()
    assert [e["n"] for _, e in rec.delivered] == [0, 1, 2, 3]
    assert hub.delivered == 4
