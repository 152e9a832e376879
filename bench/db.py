"""The benchmark's throwaway MariaDB database and its users (made through the service layer).

Import :mod:`bench.env` first: chatapp reads JWT_SECRET and BCRYPT_ROUNDS once, on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from bench.instances import DEFAULT_SERVER_URL, DatabaseServer, ThrowawayDatabase
from chatapp.services import accounts

SERVER_URL = DEFAULT_SERVER_URL
PASSWORD = "bench-password-1"


@dataclass(frozen=True, slots=True)
class BenchUser:
    id: int
    username: str
    token: str  # the chatapp_session cookie value (a signed JWT)


class TempDatabase(ThrowawayDatabase):
    """CREATE DATABASE bench_<pid>_<random> (utf8mb4), migrated to head; dropped by :meth:`drop`
    (the shared helper in bench/instances.py, on its own connection to `server_url`)."""

    def __init__(self, server_url: str = SERVER_URL, prefix: str = "bench") -> None:
        super().__init__(DatabaseServer(server_url), prefix)

    def drop(self) -> None:
        super().drop()
        self.server.dispose()


def make_user(engine: sa.Engine, username: str) -> BenchUser:
    """One user with a live session (as a browser after logging in)."""
    with Session(engine, expire_on_commit=False) as s:
        user = accounts.sign_up(
            session=s, username=username, email=f"{username}@bench.example", password=PASSWORD
        )
        ticket = accounts.start_session(session=s, user_id=user.id)
        issued = accounts.activate_session(session=s, ticket=ticket)
        assert issued is not None
        s.commit()
    return BenchUser(id=user.id, username=username, token=issued.token)


def create_users(engine: sa.Engine, count: int, start: int = 0) -> list[BenchUser]:
    """`count` users with live sessions, in order (user 2k talks to user 2k+1)."""
    names = [f"bench{i:05d}" for i in range(start, start + count)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda n: make_user(engine, n), names))


def stored_counts(engine: sa.Engine, client_ids: Iterable[str]) -> dict[str, int]:
    """Rows in `messages` per client id (exactly-once storage check)."""
    wanted = set(client_ids)
    for attempt in (1, 2):
        counts: dict[str, int] = {}
        try:
            with engine.connect() as c:
                q = sa.text("SELECT client_id, COUNT(*) FROM messages GROUP BY client_id")
                for cid, n in c.execute(q):
                    if cid in wanted:
                        counts[cid] = int(n)
            return counts
        except sa.exc.DBAPIError as exc:
            # A pooled connection from before a database restart: the pool was invalidated,
            # the second attempt gets a fresh one.
            if attempt == 2 or not exc.connection_invalidated:
                raise
    return {}
