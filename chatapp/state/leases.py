"""Reflex's opportunistic lock (rxconfig.py: REFLEX_OPLOCK_ENABLED with Redis) after Redis
restarted empty.

The process holding a tab's websocket keeps the tab's state in memory between events, under a
lease on the tab's Redis lock, and writes it back when the lease ends (half the lock's expiry,
5 s). Redis restarted empty holds no such lock any more: the copy kept here would be used on
until then and then could not be written ("Exception in Redis State Manager lease breaker":
LockExpiredError). What the tab did meanwhile was lost while its browser already showed it, and
the tab's next events ran on another state than the one its screen was drawn from (a message
shown twice, CI 2026-11-28).

:func:`forget_leases` drops every copy kept here. The bridge calls it when its bus finds Redis
back, before it makes every tab reconnect: from then on a tab's state is what Redis has (nothing;
the tab's on_load rebuilds it from the database), and new leases take locks in the new Redis.
This reads private attributes of Reflex's ``StateManagerRedis`` (reflex 0.10.1, pinned; the
test in tests/state/test_leases.py runs it against that class and a real Redis restart).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Reflex's LockExpiredError names the state's Redis key: "<client token>_<state path>".
_LOST = re.compile(
    r"Lock expired for token ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_"
)


async def forget_leases(manager: object) -> int:
    """Drop the states this process keeps under leases and end the leases without writing
    them back. Returns how many states were dropped (0 for a manager that keeps none here).

    The leases are awaited: each one's end deletes its lock key, whoever's it is by then
    (Reflex's ``_lock`` uses GETDEL), so a lock a tab takes in the new Redis must come after."""
    cached = getattr(manager, "_cached_states", None)
    held = getattr(manager, "_local_leases", None)
    if not isinstance(cached, dict) or not isinstance(held, dict):
        return 0  # the memory (or disk) manager: states live in this process anyway
    dropped = len(cached)
    cached.clear()  # (a lease that ends finds nothing to write back)
    tasks = [t for t in held.values() if isinstance(t, asyncio.Task)]
    for task in tasks:
        task.cancel()
    # (Each ends with a CancelledError of its own, or a Redis error for its gone lock.)
    await asyncio.gather(*tasks, return_exceptions=True)
    if dropped:
        log.warning("dropped %d tab states kept under leases on the old Redis", dropped)
    return dropped


def lost_write(exc: BaseException | None) -> str:
    """The client token of a tab whose state Reflex could not write back (its lock was gone
    when its lease ended), from the error; "" for any other error."""
    if exc is None or type(exc).__name__ != "LockExpiredError":
        return ""
    found = _LOST.search(str(exc))
    return found.group(1) if found else ""


def watch_lost_writes(loop: asyncio.AbstractEventLoop, on_lost: Callable[[str], Any]) -> None:
    """Call ``on_lost(token)`` whenever a lease's write-back fails on this loop. Reflex reports
    that only to the loop's exception handler ("Exception in Redis State Manager lease
    breaker"): what the tab did during the lease is lost while its browser shows it, so the
    bridge rebuilds the tab. Whatever handled the loop's exceptions before still does."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        token = lost_write(context.get("exception"))
        if token:
            try:
                on_lost(token)
            except Exception:
                log.exception("rebuilding a tab whose state was lost failed")
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
