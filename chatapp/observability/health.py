"""What /healthz checks: the database (``SELECT 1`` through the app's engine) and, when
REDIS_URL is set, Redis (PING), each within HEALTH_TIMEOUT_SECONDS.

Safe to call every few seconds: the database check runs in a thread (never on the event loop)
and at most one runs at a time per process; a probe arriving while the last check is still
stuck (a database that drops packets) is answered "down" at once instead of queuing another
thread behind it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from chatapp.db import get_engine
from chatapp.settings import get_settings

_db_busy = threading.Lock()
_redis_clients: dict[tuple[int, str], Any] = {}  # (event loop, url) -> client


@dataclass
class Health:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or why not

    def body(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "unavailable", "checks": self.checks}


def _select_one(engine: sa.Engine | None) -> None:
    if not _db_busy.acquire(blocking=False):
        raise TimeoutError("a previous check is still waiting")
    try:
        with (engine or get_engine()).connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
    finally:
        _db_busy.release()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # (asyncio.TimeoutError is TimeoutError)
        return str(exc) or "timed out"
    # The exception class only: a driver's message can carry the host and user.
    return f"unreachable ({type(exc).__name__})"


async def check_database(limit: float, engine: sa.Engine | None = None) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(_select_one, engine), limit)
    except Exception as exc:
        return _why(exc)
    return "ok"


def _redis(url: str, timeout: float) -> Any:
    """One client per event loop (a worker has one; tests make several)."""
    key = (id(asyncio.get_running_loop()), url)
    client = _redis_clients.get(key)
    if client is None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        _redis_clients[key] = client
    return client


async def check_redis(url: str, limit: float) -> str:
    try:
        await asyncio.wait_for(_redis(url, limit).ping(), limit)
    except Exception as exc:
        return _why(exc)
    return "ok"


async def check(
    *, redis_url: str | None = None, limit: float | None = None, engine: sa.Engine | None = None
) -> Health:
    """Each check given ``limit`` seconds (default HEALTH_TIMEOUT_SECONDS); ``redis_url`` and
    ``engine`` default to the app's."""
    s = get_settings()
    url = s.redis_url if redis_url is None else redis_url
    limit = s.health_timeout_seconds if limit is None else limit
    names = ["database"]
    jobs = [check_database(limit, engine)]
    if url:
        names.append("redis")
        jobs.append(check_redis(url, limit))
    results = await asyncio.gather(*jobs)
    checks = dict(zip(names, results, strict=True))
    return Health(ok=all(r == "ok" for r in results), checks=checks)
