"""Who is online: a user is online while at least one of their tabs is connected anywhere.

Tabs are refreshed by their process every HEARTBEAT seconds and expire after TTL, so a crashed
process's users drop off by themselves.
"""

from __future__ import annotations

import time
from typing import Protocol

HEARTBEAT = 10.0
TTL = 45.0


class Presence(Protocol):
    async def tab_up(self, user_id: int, token: str) -> bool:
        """Record a tab; True when the user just came online."""
        ...

    async def tab_down(self, user_id: int, token: str) -> bool:
        """Forget a tab; True when the user just went offline."""
        ...

    async def refresh(self, tabs: dict[str, int]) -> None: ...
    async def online(self, user_ids: list[int]) -> set[int]: ...
    async def tab_count(self, user_id: int) -> int: ...


class LocalPresence:
    def __init__(self) -> None:
        self._tabs: dict[int, dict[str, float]] = {}

    def _live(self, user_id: int) -> dict[str, float]:
        now = time.monotonic()
        tabs = {t: exp for t, exp in self._tabs.get(user_id, {}).items() if exp > now}
        if tabs:
            self._tabs[user_id] = tabs
        else:
            self._tabs.pop(user_id, None)
        return tabs

    async def tab_up(self, user_id: int, token: str) -> bool:
        was = bool(self._live(user_id))
        self._tabs.setdefault(user_id, {})[token] = time.monotonic() + TTL
        return not was

    async def tab_down(self, user_id: int, token: str) -> bool:
        tabs = self._live(user_id)
        if tabs.pop(token, None) is None:
            return False
        if not tabs:
            self._tabs.pop(user_id, None)
            return True
        return False

    async def refresh(self, tabs: dict[str, int]) -> None:
        exp = time.monotonic() + TTL
        for token, uid in tabs.items():
            self._tabs.setdefault(uid, {})[token] = exp

    async def online(self, user_ids: list[int]) -> set[int]:
        return {u for u in user_ids if self._live(u)}

    async def tab_count(self, user_id: int) -> int:
        return len(self._live(user_id))


class RedisPresence:
    """One sorted set per user: member = tab token, score = expiry time. A tab whose expiry
    time has come is gone (scores ``<= now`` are expired, as in LocalPresence)."""

    def __init__(self, url: str, prefix: str = "chatapp:presence:") -> None:
        import redis.asyncio as aioredis

        self._r = aioredis.from_url(url)
        self._p = prefix

    def _key(self, user_id: int) -> str:
        return f"{self._p}{user_id}"

    async def tab_up(self, user_id: int, token: str) -> bool:
        now = time.time()
        key = self._key(user_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            pipe.zadd(key, {token: now + TTL})
            pipe.expire(key, int(TTL) + 5)
            _, before, _, _ = await pipe.execute()
        return int(before) == 0

    async def tab_down(self, user_id: int, token: str) -> bool:
        now = time.time()
        key = self._key(user_id)
        async with self._r.pipeline(transaction=True) as pipe:
            # Expired tabs first: a tab that already expired is not "going offline" again.
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrem(key, token)
            pipe.zcard(key)
            _, removed, left = await pipe.execute()
        return bool(removed) and int(left) == 0

    async def refresh(self, tabs: dict[str, int]) -> None:
        if not tabs:
            return
        exp = time.time() + TTL
        async with self._r.pipeline(transaction=False) as pipe:
            for token, uid in tabs.items():
                pipe.zadd(self._key(uid), {token: exp})
                pipe.expire(self._key(uid), int(TTL) + 5)
            await pipe.execute()

    async def online(self, user_ids: list[int]) -> set[int]:
        if not user_ids:
            return set()
        now = time.time()
        async with self._r.pipeline(transaction=False) as pipe:
            for uid in user_ids:
                pipe.zcount(self._key(uid), f"({now!r}", "+inf")
            counts = await pipe.execute()
        return {uid for uid, n in zip(user_ids, counts, strict=True) if int(n) > 0}

    async def tab_count(self, user_id: int) -> int:
        return int(await self._r.zcount(self._key(user_id), f"({time.time()!r}", "+inf"))
