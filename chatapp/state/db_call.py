"""Run a service function in a worker thread, inside one database transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from chatapp.db import session_scope

T = TypeVar("T")
# Its own pool, sized like the engine's connection pool (10 + 20 overflow would be too many
# threads fighting for the GIL): enough to keep MariaDB busy, few enough to stay responsive.
_POOL = ThreadPoolExecutor(max_workers=12, thread_name_prefix="db")


def _in_transaction(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with session_scope() as session:
        return fn(session=session, **kwargs)


async def db_call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``await db_call(accounts.authenticate, login=..., password=...)``.

    Event handlers must not block the event loop (every tab on this worker shares it), so
    database work and bcrypt run in a thread.
    """
    return await asyncio.get_running_loop().run_in_executor(_POOL, _in_transaction, fn, kwargs)


async def db_run(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Like :func:`db_call` for a service that runs its own transaction (the send path)."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, lambda: fn(**kwargs))
