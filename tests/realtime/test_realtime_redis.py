"""The realtime layer over a real Redis: presence shared by processes, fan-out across hubs.

Two ``RedisPresence`` / ``Hub`` instances in one test stand for two worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from chatapp.realtime import presence as presence_mod
from chatapp.realtime.bus import RedisBus, channel_for
from chatapp.realtime.hub import Hub, make_hub
from chatapp.realtime.presence import RedisPresence
from tests.conftest import REDIS_URL
from tests.support.realtime import MARKER, Recorder, eventually

pytestmark = pytest.mark.redis

CHANNEL = channel_for(int(REDIS_URL.rsplit("/", 1)[1]))


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


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    [(_name, n)] = await client.pubsub_numsub(channel)
    return int(n)


# Presence (the behaviour both backends share: tests/realtime/test_realtime.py) ------------------
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


async def all_quiet(
    publisher: Hub, hubs: list[Hub], recs: list[Recorder], user_ids: list[int]
) -> None:
    """Instead of sleeping before asserting that nothing (more) arrived: publish a marker to
    `user_ids` and wait until every one of their tabs, on every hub, has it. One channel keeps
    the publish order and a tab gets its events in order, so whatever was published before the
    marker (a duplicate too) has arrived by then. The markers are then taken out again."""
    await publisher.publish(user_ids, {"type": MARKER})
    expected = [Counter({t: 1 for u in user_ids for t in h.local_tabs(u)}) for h in hubs]
    await eventually(lambda: [r.marked() for r in recs] == expected)
    for r in recs:
        r.take_markers()


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
    await all_quiet(h1, [h1, h2], [r1, r2], [u1, u2, u3])  # a duplicate would have come first
    assert r1.tokens() == Counter({"u1-tab-on-h1": 1})
    assert r2.tokens() == Counter({"u1-tab-on-h2": 1, "u1-tab2-on-h2": 1, "u3-tab-on-h2": 1})
    for _token, got in r1.delivered + r2.delivered:
        assert isinstance(got["t"], float)  # the publish time (the delivery latency metric)
        assert got == {**event, "to": [u1, u3, u4], "t": got["t"]}  # survives the JSON trip

    # And the other way round.
    r1.delivered.clear()
    r2.delivered.clear()
    await h2.publish([u2], {"type": "typing"})
    await eventually(lambda: len(r1.delivered) == 1)
    await all_quiet(h2, [h1, h2], [r1, r2], [u1, u2, u3])
    assert r1.tokens() == Counter({"u2-tab-on-h1": 1})
    assert r2.delivered == []
    assert h1.delivered == 2 + r1.markers
    assert h2.delivered == 3 + r2.markers


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
    await h1.tab_opened(2, "other-user-on-h1")  # a tab on h1 for the marker to reach
    await all_quiet(h1, [h1, h2], [r1, r2], [1, 2])
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
        # Instead of sleeping: a marker on the other database's channel, published after n=1
        # (one server keeps the order), arrives there; n=1 would have come first.
        await theirs.publish({"n": "marker"})
        await eventually(lambda: heard_other != [])
        assert heard_other == [{"n": "marker"}]
        assert heard == [{"n": 1}]
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
