"""Reflex's opportunistic lock (rxconfig.py: REFLEX_OPLOCK_ENABLED with Redis) after Redis
restarted empty.

The process holding a tab's websocket keeps the tab's state in memory between events, under a
lease on the tab's Redis lock, and writes it back when the lease ends (half the lock's expiry,
5 s). Redis restarted empty holds no such lock any more: the copy kept here would be used on
until then and then could not be written ("Exception in Redis State Manager lease breaker":
LockExpiredError). What the tab did meanwhile was lost while its browser already showed it, and
the tab's next events ran on another state than the one its screen was drawn from (a message
shown twice, CI 2026-11-28).

:func:`end_leases` ends every lease held here when the bus finds Redis back, before the bridge
makes every tab reconnect: a state whose lock survived is written back, and from then on a tab's
state is what Redis has (after a restart, nothing: the tab's on_load rebuilds it from the
database). :func:`watch_lost_writes` has any tab whose state could not be written back rebuilt.
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


async def end_leases(manager: object) -> int:
    """End every lease this process holds now, as Reflex does when another process asks for a
    tab (under the tab's own lock, then cancelled, then awaited). Each writes its state back if
    its Redis lock is still there (the bus was only cut off); if Redis lost it (restarted
    empty), the write is refused and :func:`watch_lost_writes` has the tab rebuilt. From then
    on every event reads its tab's state from Redis. Returns how many leases were ended (0 for
    a manager that keeps none: the memory or disk manager)."""
    held = getattr(manager, "_local_leases", None)
    locks = getattr(manager, "_cached_states_locks", None)
    if not isinstance(held, dict) or not isinstance(locks, dict):
        return 0
    tasks: list[asyncio.Task[Any]] = []
    for key, task in list(held.items()):
        if not isinstance(task, asyncio.Task):
            continue
        lock = locks.get(key)
        if lock is not None:
            # (A lease still being set up holds this lock until its state is cached.)
            async with lock:
                task.cancel()
        else:
            task.cancel()
        tasks.append(task)
    # Awaited here, so their errors are retrieved once, not again when the tasks are collected.
    # A tab that takes a new lock in the empty Redis during these few round trips can still
    # have it deleted by an old lease's release (Reflex releases with GETDEL); the reconnect
    # that follows (bridge.reconnect_all) rebuilds every tab anyway.
    await asyncio.gather(*tasks, return_exceptions=True)
    if tasks:
        log.warning("ended %d tab-state leases taken before the bus was cut off", len(tasks))
    return len(tasks)


LEASE_BREAKER_FAILED = "Exception in Redis State Manager lease breaker"


def lost_write(exc: BaseException | None) -> str:
    """The client token of a tab whose state Reflex could not write back (its lock was gone
    when its lease ended), from the error; "" for any other error."""
    if exc is None or type(exc).__name__ != "LockExpiredError":
        return ""
    found = _LOST.search(str(exc))
    return found.group(1) if found else ""


def watch_lost_writes(
    loop: asyncio.AbstractEventLoop, on_lost: Callable[[str], Any]
) -> Callable[[], None]:
    """Call ``on_lost(token)`` whenever a lease's write-back fails on this loop. Reflex reports
    that only to the loop's exception handler (LEASE_BREAKER_FAILED): what the tab did during
    the lease is lost while its browser shows it, so the bridge rebuilds the tab. Whatever
    handled the loop's exceptions before still does. Returns a function that puts the
    previous handler back."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # (Only Reflex's own report: the same error can come again as "Task exception was
        # never retrieved" when its task is collected, at any later time.)
        token = (
            lost_write(context.get("exception"))
            if context.get("message") == LEASE_BREAKER_FAILED
            else ""
        )
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
    return lambda: loop.set_exception_handler(previous)
