"""The benchmark's throwaway MariaDB database and its users (made through the service layer).

Import :mod:`bench.env` first: chatapp reads JWT_SECRET and BCRYPT_ROUNDS once, on first use.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from chatapp.db import make_engine, upgrade
from chatapp.services import accounts

SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"
PASSWORD = "bench-password-1"


@dataclass(frozen=True, slots=True)
class BenchUser:
    id: int
    username: str
    token: str  # the chatapp_session cookie value (a signed JWT)


class TempDatabase:
    """CREATE DATABASE bench_<random> (utf8mb4), migrated to head; dropped by :meth:`drop`."""

    def __init__(self, server_url: str = SERVER_URL, prefix: str = "bench") -> None:
        self.server_url = server_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self._admin = sa.create_engine(server_url + "/?charset=utf8mb4")
        with self._admin.connect() as c:
            c.execute(
                sa.text(
                    f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_unicode_ci"
                )
            )
        self.url = f"{server_url}/{self.name}?charset=utf8mb4"
        upgrade(self.url)
        self.engine = make_engine(self.url)

    def drop(self) -> None:
        self.engine.dispose()
        with self._admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS `{self.name}`"))
        self._admin.dispose()


def _make_user(engine: sa.Engine, username: str) -> BenchUser:
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
        return list(pool.map(lambda n: _make_user(engine, n), names))


def stored_counts(engine: sa.Engine, client_ids: Iterable[str]) -> dict[str, int]:
    """Rows in `messages` per client id (exactly-once storage check)."""
    wanted = set(client_ids)
    counts: dict[str, int] = {}
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT client_id, COUNT(*) FROM messages GROUP BY client_id"))
        for cid, n in rows:
            if cid in wanted:
                counts[cid] = int(n)
    return counts
