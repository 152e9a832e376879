"""Helpers for the realtime layer's tests, in-process and over Redis
(tests/realtime/test_realtime.py, tests/realtime/test_realtime_redis.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

MARKER = "test-marker"


class Recorder:
    """The state layer's side of a hub: records deliveries and presence changes; tabs can be
    marked disconnected (for the sweep) or broken (their delivery raises)."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.presence: list[tuple[int, bool]] = []
        self.disconnected: set[str] = set()
        self.failing: set[str] = set()
        self.markers = 0  # marker events taken out by take_markers()

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

    def marked(self) -> Counter[str]:
        """Tabs that got a marker event, with how often."""
        return Counter(t for t, e in self.delivered if e.get("type") == MARKER)

    def take_markers(self) -> None:
        """Forget the marker events (counted in ``markers``), keep everything else."""
        kept = [(t, e) for t, e in self.delivered if e.get("type") != MARKER]
        self.markers += len(self.delivered) - len(kept)
        self.delivered[:] = kept


async def settle() -> None:
    """Let the per-tab delivery tasks of an in-process hub run."""
    for _ in range(10):
        await asyncio.sleep(0)


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> None:
    """Wait (bounded) until `check` holds: for a positive signal, never for "nothing came"."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
