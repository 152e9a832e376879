"""Password hashing (bcrypt) in its own small, bounded thread pool.

bcrypt costs ~0.25 s of CPU per call at cost 12, by design. Run in the database pool
(state/db_call.py), a log-in flood queued every user's database work behind it: one user's
message send waited 15-19 s (issue 11, finding 1). Here it gets HASH_WORKERS threads of its
own (one by default: the other core stays free for the event loop and the database), at most
HASH_QUEUE_MAX password flows are under way (beyond that the answer is "busy, try again" at
once, before any database work), and a job whose
tab has disconnected by the time a thread is free for it is skipped: nobody is waiting for
the answer, and an attacker who leaves does not leave minutes of work behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

from chatapp.services.errors import Throttled
from chatapp.settings import get_settings

T = TypeVar("T")
BUSY = "The server is busy. Try again in a moment."


class TabGone(Exception):
    """The tab that asked has disconnected: the work was not done."""


# Is this client token connected to this process? Plugged in by state/bridge.py (Reflex's
# websocket namespace knows); everything counts as connected until then (tests, scripts).
def _always(_token: str) -> bool:
    return True


_is_connected: Callable[[str], bool] = _always


def set_liveness(check: Callable[[str], bool]) -> None:
    global _is_connected
    _is_connected = check


class HashPool:
    def __init__(self, *, workers: int, queue_max: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")
        self.queue_max = queue_max
        self.pending = 0  # flows holding a slot; touched on the event loop only
        self.skipped = 0  # jobs dropped because their tab had gone

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Room for one password flow (its look-ups and its bcrypt steps), or Throttled
        ("busy") at once: a burst of attempts cannot even start its database work."""
        if self.pending >= self.queue_max:
            raise Throttled(BUSY)
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    async def run(self, fn: Callable[..., T], /, *, token: str, **kwargs: Any) -> T:
        """Run `fn` in a hashing thread for the tab `token` (the caller holds a slot)."""
        if token and not _is_connected(token):
            raise TabGone
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, self._job, fn, token, kwargs
            )
        except TabGone:
            self.skipped += 1
            raise

    @staticmethod
    def _job(fn: Callable[..., T], token: str, kwargs: dict[str, Any]) -> T:
        # Checked again when a thread is free: the job may have waited while its tab left.
        if token and not _is_connected(token):
            raise TabGone
        return fn(**kwargs)


@lru_cache(maxsize=1)
def get_hash_pool() -> HashPool:
    s = get_settings()
    return HashPool(workers=s.hash_workers, queue_max=s.hash_queue_max)


async def hash_call(fn: Callable[..., T], /, *, token: str, **kwargs: Any) -> T:
    """``await hash_call(accounts.check_password, token=tab, password=..., password_hash=...)``:
    run a bcrypt step for the tab `token` in the hashing pool, inside a ``slot()``. Raises
    TabGone when the tab disconnected first."""
    return await get_hash_pool().run(fn, token=token, **kwargs)
