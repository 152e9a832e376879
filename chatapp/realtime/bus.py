"""Event buses: where a published event goes. Same interface in-process and over Redis."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
# Called after the bus was cut off and is listening again: events published meanwhile are gone
# (pub/sub keeps nothing), so every local tab must catch up from the database.
GapHandler = Callable[[], Awaitable[None]]
CHANNEL_PREFIX = "chatapp:events"


def channel_for(db: int) -> str:
    """Pub/sub channels ignore Redis database numbers, so the channel names the database:
    two deployments (or a test run and a dev server) on one Redis server on different database
    numbers must not receive each other's events, whose user ids would collide."""
    return f"{CHANNEL_PREFIX}:{db}"


class Bus(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...
    async def run(self, handler: Handler, on_gap: GapHandler | None = None) -> None: ...
    async def close(self) -> None: ...


class LocalBus:
    """One process: publishing hands the event straight to this process's handler."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    async def publish(self, event: dict[str, Any]) -> None:
        if self._handler is not None:
            await self._handler(event)

    async def run(self, handler: Handler, on_gap: GapHandler | None = None) -> None:
        self._handler = handler
        await asyncio.Event().wait()  # until cancelled

    async def close(self) -> None:
        self._handler = None


class RedisBus:
    """Every process subscribes to one channel and delivers to the tabs it holds."""

    def __init__(self, url: str, channel: str | None = None) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        db = int(self._redis.connection_pool.connection_kwargs.get("db", 0))
        self._channel = channel or channel_for(db)

    async def publish(self, event: dict[str, Any]) -> None:
        await self._redis.publish(self._channel, json.dumps(event, separators=(",", ":")))

    async def run(self, handler: Handler, on_gap: GapHandler | None = None) -> None:
        cut_off = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if cut_off and on_gap is not None:
                    cut_off = False
                    log.warning("redis bus is back: every tab here catches up")
                    await on_gap()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        event = json.loads(msg["data"])
                    except ValueError:
                        log.warning("dropping malformed event on %s", self._channel)
                        continue
                    await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # connection lost: resubscribe after a pause
                log.warning("redis bus listener failed; resubscribing", exc_info=True)
                cut_off = True
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                except Exception:
                    log.debug("pubsub close failed", exc_info=True)

    async def close(self) -> None:
        await self._redis.aclose()
