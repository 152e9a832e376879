"""Run a service function in a worker thread, inside one database transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from chatapp.db import session_scope
from chatapp.services import events
from chatapp.services.errors import Unavailable
from chatapp.services.throttle import get_login_throttle

T = TypeVar("T")
log = logging.getLogger(__name__)
# Its own pool, sized like the engine's connection pool (10 + 20 overflow would be too many
# threads fighting for the GIL): enough to keep MariaDB busy, few enough to stay responsive.
_POOL = ThreadPoolExecutor(max_workers=12, thread_name_prefix="db")


Done = tuple[T, list[events.Outgoing]]


def _in_transaction(fn: Callable[..., T], kwargs: dict[str, Any]) -> Done[T]:
    with _unavailable_on_outage(), events.collecting() as out:
        with session_scope() as session:
            result = fn(session=session, **kwargs)
    return result, out  # (committed: session_scope returned)


def _direct(fn: Callable[..., T], kwargs: dict[str, Any]) -> Done[T]:
    with _unavailable_on_outage(), events.collecting() as out:
        result = fn(**kwargs)
    return result, out


async def _announced(done: Done[T]) -> T:
    """Publish what the committed unit of work sent on commit (services/events.py)."""
    result, out = done
    if out:
        try:
            await events.publish(out)
        except Exception as exc:
            log.warning("publishing %d event(s) after commit failed", len(out), exc_info=True)
            raise events.NotAnnounced(result) from exc
    return result


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    """A lost or refused database connection becomes ``Unavailable`` (a ServiceError with a
    message for the user), so every handler's refusal path shows it and offers a retry."""
    try:
        yield
    except PoolTimeout as exc:
        raise Unavailable() from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or _is_connection_error(exc):
            raise Unavailable() from exc
        raise


def _is_connection_error(exc: DBAPIError) -> bool:
    # PyMySQL: 2003 can't connect, 2006 gone away, 2013 lost during query; sqlite: locked/IO.
    code = getattr(exc.orig, "args", (None,))[0] if exc.orig is not None else None
    return code in (2003, 2006, 2013, 2014, 2055) or "OperationalError" in type(exc).__name__


async def db_call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``await db_call(accounts.authenticate, login=..., password=...)``.

    Event handlers must not block the event loop (every tab on this worker shares it), so
    database work and bcrypt run in a thread. Events the service sent on commit are published
    once it committed; ``events.NotAnnounced`` (carrying the result) if that failed.
    """
    loop = asyncio.get_running_loop()
    return await _announced(await loop.run_in_executor(_POOL, _in_transaction, fn, kwargs))


async def db_run(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Like :func:`db_call` for a service that runs its own transaction (the send path)."""
    loop = asyncio.get_running_loop()
    return await _announced(await loop.run_in_executor(_POOL, _direct, fn, kwargs))


async def limit_call(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """A rate-limit check (services/throttle.py): memory counts answer in microseconds, on the
    event loop; Redis ones are I/O, in a thread."""
    if get_login_throttle().in_memory:
        return fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)
