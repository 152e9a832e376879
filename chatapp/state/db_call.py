"""Run a service function in a worker thread, inside one database transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from chatapp.db import session_scope

T = TypeVar("T")


def _in_transaction(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with session_scope() as session:
        return fn(session=session, **kwargs)


async def db_call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``await db_call(accounts.authenticate, login=..., password=...)``.

    Event handlers must not block the event loop (every tab on this worker shares it), so
    database work and bcrypt run in a thread.
    """
    return await asyncio.to_thread(_in_transaction, fn, kwargs)
