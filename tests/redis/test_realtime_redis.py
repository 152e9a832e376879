"""The realtime layer over a real Redis: presence shared by processes, fan-out across hubs.

Two ``RedisPresence`` / ``Hub`` instances in one test stand for two worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from chatapp.realtime import presence as presence_mod
from chatapp.realtime.bus import RedisBus, channel_for
from chatapp.realtime.hub import Hub, make_hub
from chatapp.realtime.presence import RedisPresence
from tests.conftest import need

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHANNEL = channel_for(int(REDIS_URL.rsplit("/", 1)[1]))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 15, emptied before and after the test."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
        err = None
    except redis.RedisError as exc:
        err = str(exc)
    need(err is None, f"Redis not reachable at {REDIS_URL}: {err}")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def presences(redis_url: str) -> AsyncIterator[list[RedisPresence]]:
    """Two presence stores on the same Redis, as two worker processes would have."""
    made = [RedisPresence(redis_url), RedisPresence(redis_url)]
    yield made
    for p in made:
        await p._r.aclose()


class Recorder:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.presence: list[tuple[int, bool]] = []

    async def deliver(self, token: str, event: dict[str, Any]) -> None:
        self.delivered.append((token, event))

    async def presence_changed(self, user_id: int, online: bool) -> None:
        self.presence.append((user_id, online))

    def tokens(self) -> Counter[str]:
        return Counter(t for t, _ in self.delivered)


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    [(_name, n)] = await client.pubsub_numsub(channel)
    return int(n)


# Presence --------------------------------------------------------------------------------
async def test_presence_is_shared_between_processes(presences: list[RedisPresence]) -> None:
    p1, p2 = presences
    assert await p1.online([1, 2]) == set()
    assert await p1.tab_up(1, "a-on-p1") is True  # came online
    assert await p2.tab_up(1, "b-on-p2") is False  # already online via the other process
    assert await p2.tab_up(1, "b-on-p2") is False  # the same tab again
    assert await p1.tab_count(1) == 2
    assert await p2.tab_count(1) == 2
    assert await p2.online([1, 2]) == {1}
    assert await p2.tab_up(2, "c-on-p2") is True
    assert await p1.online([1, 2, 3]) == {1, 2}
    assert await p1.online([]) == set()

    assert await p1.tab_down(1, "a-on-p1") is False  # still open in the other process
    assert await p1.online([1]) == {1}
    assert await p1.tab_down(1, "a-on-p1") is False  # unknown now
    assert await p2.tab_down(1, "b-on-p2") is True  # the last tab anywhere
    assert await p1.online([1, 2]) == {2}
    assert await p1.tab_count(1) == 0
    assert await p2.tab_down(9, "never") is False
    assert await p1.tab_down(2, "c-on-p2") is True
    assert await p2.online([1, 2]) == set()


async def test_presence_keys_expire(presences: list[RedisPresence], raw: aioredis.Redis) -> None:
    """A crashed process leaves no immortal keys behind."""
    p1, _ = presences
    await p1.tab_up(1, "a")
    keys = await raw.keys("chatapp:presence:*")
    assert keys == [b"chatapp:presence:1"]
    ttl = await raw.ttl("chatapp:presence:1")
    assert 0 < ttl <= int(presence_mod.TTL) + 5
    await p1.tab_down(1, "a")
    assert await raw.exists("chatapp:presence:1") == 0  # empty sorted sets vanish


async def test_presence_expires_after_ttl(
    presences: list[RedisPresence], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence_mod, "TTL", 0.4)
    p1, p2 = presences
    assert await p1.tab_up(1, "a") is True
    assert await p2.online([1]) == {1}
    await asyncio.sleep(0.6)  # p1 "crashed": no refresh
    assert await p2.online([1]) == set()
    assert await p2.tab_count(1) == 0
    assert await p2.tab_up(1, "b") is True  # online again: a fresh transition
    assert await p1.tab_count(1) == 1


async def test_refresh_keeps_tabs_alive(
    presences: list[RedisPresence], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence_mod, "TTL", 0.5)
    p1, p2 = presences
    await p1.tab_up(1, "a")
    await p1.tab_up(2, "b")
    await p2.tab_up(3, "c")
    for _ in range(4):
        await asyncio.sleep(0.25)
        await p1.refresh({"a": 1, "b": 2})  # p2 stopped heartbeating
    await p1.refresh({})  # nothing to do: no error
    assert await p2.online([1, 2, 3]) == {1, 2}
    assert await p1.tab_count(3) == 0


# Fan-out across hubs ---------------------------------------------------------------------
HubFactory = Callable[[str], Hub]


def _hub_on_channel(channel: str) -> HubFactory:
    return lambda url: Hub(RedisBus(url, channel=channel), RedisPresence(url))


@pytest.fixture
async def two_hubs(
    redis_url: str, raw: aioredis.Redis, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[list[Hub], list[Recorder]]]:
    """Two started hubs (two "processes"), each with its own bus connection, on one channel."""
    channel: str = getattr(request, "param", None) or f"chatapp:test:{secrets.token_hex(6)}"
    factory = make_hub if channel == CHANNEL else _hub_on_channel(channel)
    before = await subscribers(raw, channel)
    hubs = [factory(redis_url), factory(redis_url)]
    recs = [Recorder(), Recorder()]
    for h, r in zip(hubs, recs, strict=True):
        h.attach(r.deliver, lambda _t: True, r.presence_changed)
        h.start()
    try:
        await eventually(lambda: _numsub_at_least(raw, channel, before + 2))
        yield hubs, recs
    finally:
        for h in hubs:
            await h.stop()
            await h.bus.close()
            assert isinstance(h.presence, RedisPresence)
            await h.presence._r.aclose()


async def _numsub_at_least(client: aioredis.Redis, channel: str, n: int) -> bool:
    return await subscribers(client, channel) >= n


@pytest.mark.parametrize(
    "two_hubs", [None, CHANNEL], indirect=True, ids=["own-channel", "make_hub"]
)
async def test_publish_reaches_tabs_on_both_hubs_exactly_once(
    two_hubs: tuple[list[Hub], list[Recorder]],
) -> None:
    (h1, h2), (r1, r2) = two_hubs
    # Ids far away from anything a running dev server could hold (pub/sub ignores the db number).
    u1, u2, u3, u4 = 900_000_001, 900_000_002, 900_000_003, 900_000_004
    await h1.tab_opened(u1, "u1-tab-on-h1")
    await h1.tab_opened(u2, "u2-tab-on-h1")
    await h2.tab_opened(u1, "u1-tab-on-h2")
    await h2.tab_opened(u1, "u1-tab2-on-h2")
    await h2.tab_opened(u3, "u3-tab-on-h2")
    # Presence is shared: u1 came online once, on the hub that saw it first.
    assert r1.presence == [(u1, True), (u2, True)]
    assert r2.presence == [(u3, True)]
    assert await h2.presence.online([u1, u2, u3, u4]) == {u1, u2, u3}

    event = {"type": "message", "body": "🦊👋🏽 你好 𝄞", "n": 1}
    await h1.publish([u1, u3, u4], event)
    await eventually(lambda: len(r1.delivered) + len(r2.delivered) == 4)
    await asyncio.sleep(0.2)  # a duplicate would have arrived by now
    assert r1.tokens() == Counter({"u1-tab-on-h1": 1})
    assert r2.tokens() == Counter({"u1-tab-on-h2": 1, "u1-tab2-on-h2": 1, "u3-tab-on-h2": 1})
    for _token, got in r1.delivered + r2.delivered:
        assert got == {**event, "to": [u1, u3, u4]}  # survives the JSON round trip

    # And the other way round.
    r1.delivered.clear()
    r2.delivered.clear()
    await h2.publish([u2], {"type": "typing"})
    await eventually(lambda: len(r1.delivered) == 1)
    await asyncio.sleep(0.2)
    assert r1.tokens() == Counter({"u2-tab-on-h1": 1})
    assert r2.delivered == []
    assert h1.delivered == 2
    assert h2.delivered == 3


async def test_closing_a_tab_on_one_hub_stops_its_delivery_only(
    two_hubs: tuple[list[Hub], list[Recorder]],
) -> None:
    (h1, h2), (r1, r2) = two_hubs
    await h1.tab_opened(1, "t1")
    await h2.tab_opened(1, "t2")
    await h1.tab_closed(1, "t1")
    assert r1.presence == [(1, True)]  # still online through h2's tab
    assert r2.presence == []
    await h1.publish([1], {"n": 1})
    await eventually(lambda: len(r2.delivered) == 1)
    await asyncio.sleep(0.2)
    assert r1.delivered == []
    assert r2.tokens() == Counter({"t2": 1})
    await h2.tab_closed(1, "t2")
    assert r2.presence == [(1, False)]  # the last tab anywhere
    assert await h1.presence.online([1]) == set()


async def test_sweep_on_one_hub_takes_its_user_offline_everywhere(
    two_hubs: tuple[list[Hub], list[Recorder]],
) -> None:
    (h1, h2), (r1, _r2) = two_hubs
    gone: set[str] = set()
    h1.attach(r1.deliver, lambda t: t not in gone, r1.presence_changed)
    await h1.tab_opened(5, "t5")
    gone.add("t5")
    await h1.sweep_once()
    assert r1.presence == [(5, True), (5, False)]
    assert await h2.presence.online([5]) == set()


async def test_malformed_messages_on_the_channel_are_skipped(
    two_hubs: tuple[list[Hub], list[Recorder]], raw: aioredis.Redis
) -> None:
    (h1, h2), (r1, r2) = two_hubs
    await h1.tab_opened(1, "t1")
    await h2.tab_opened(2, "t2")
    assert isinstance(h1.bus, RedisBus)
    await raw.publish(h1.bus._channel, b"{not json")
    await h1.publish([1, 2], {"n": 1})
    await eventually(lambda: len(r1.delivered) == 1 and len(r2.delivered) == 1)
    assert r1.delivered[0][1]["n"] == 1
    assert r2.delivered[0][1]["n"] == 1


async def test_buses_on_different_database_numbers_do_not_hear_each_other(
    redis_url: str,
) -> None:
    """Pub/sub is server-wide; the channel carries the database number so that deployments
    sharing a Redis server on different databases stay apart."""
    base = redis_url.rsplit("/", 1)[0]
    other = f"{base}/{14 if redis_url.endswith('/15') else 15}"
    mine, theirs = RedisBus(redis_url), RedisBus(other)
    assert mine._channel != theirs._channel
    heard: list[dict[str, Any]] = []
    heard_other: list[dict[str, Any]] = []

    async def on_mine(e: dict[str, Any]) -> None:
        heard.append(e)

    async def on_theirs(e: dict[str, Any]) -> None:
        heard_other.append(e)

    tasks = [asyncio.create_task(mine.run(on_mine)), asyncio.create_task(theirs.run(on_theirs))]
    try:
        probe = aioredis.from_url(redis_url)
        await eventually(lambda: _numsub_at_least(probe, mine._channel, 1))
        await eventually(lambda: _numsub_at_least(probe, theirs._channel, 1))
        await probe.aclose()
        await mine.publish({"n": 1})
        await eventually(lambda: heard == [{"n": 1}])
        await asyncio.sleep(0.2)
        assert heard_other == []
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await mine.close()
        await theirs.close()


async def test_bus_back_after_redis_restart_asks_every_tab_to_catch_up() -> None:
    """Pub/sub keeps nothing: events published while a process was cut off are gone. When
    the bus listens again it says so (the bridge then rebuilds every local tab from the
    database), and new events flow again. On a private Redis, restarted empty."""
    from tests.support.services import OwnRedis

    server = OwnRedis()
    server.start()
    got: list[dict[str, Any]] = []
    gaps = asyncio.Event()

    async def on_event(event: dict[str, Any]) -> None:
        got.append(event)

    async def on_gap() -> None:
        gaps.set()

    bus = RedisBus(server.url)
    task = asyncio.create_task(bus.run(on_event, on_gap))
    try:
        await _until(lambda: _subscribers(server.url, bus) > 0)
        await bus.publish({"n": 1})
        await _until(lambda: len(got) == 1)
        server.kill()
        server.start()
        await asyncio.wait_for(gaps.wait(), 15)
        await bus.publish({"n": 2})
        await _until(lambda: len(got) == 2)
        assert [e["n"] for e in got] == [1, 2]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await bus.close()
        server.close()


def _subscribers(url: str, bus: RedisBus) -> int:
    counts = redis.Redis.from_url(url).pubsub_numsub(bus._channel)
    return int(counts[0][1]) if counts else 0


async def _until(cond: Callable[[], bool], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
