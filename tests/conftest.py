"""Shared fixtures: a throwaway MariaDB database per run, fast bcrypt for service tests.

Under CI=true a missing MariaDB (or Chromium, see tests/e2e) fails the run; elsewhere the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

# Must be set before chatapp.settings is first read. Cost 12 is checked by a unit test;
# service tests use cost 4 so the suite stays fast.
os.environ.setdefault("BCRYPT_ROUNDS", "4")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import sqlalchemy as sa
from sqlmodel import Session

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MYSQL_SERVER_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI: {reason}", pytrace=False)
    pytest.skip(reason)


class MySQLServer:
    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.engine = sa.create_engine(server_url + "/?charset=utf8mb4", pool_pre_ping=True)

    def reachable(self) -> str | None:
        try:
            with self.engine.connect() as c:
                c.execute(sa.text("SELECT 1"))
        except Exception as exc:
            return str(exc).splitlines()[0]
        return None

    def create_database(self, prefix: str = "chatapp_test") -> str:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        with self.engine.connect() as c:
            c.execute(
                sa.text(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        with self.engine.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))

    def url(self, name: str) -> str:
        return f"{self.server_url}/{name}?charset=utf8mb4"


@pytest.fixture(scope="session")
def mysql_server() -> MySQLServer:
    server = MySQLServer(MYSQL_SERVER_URL)
    err = server.reachable()
    need(err is None, f"MariaDB/MySQL not reachable at {MYSQL_SERVER_URL}: {err}")
    return server


@pytest.fixture(scope="session")
def mysql_url(mysql_server: MySQLServer) -> Iterator[str]:
    """A fresh database migrated to head, dropped at the end of the run."""
    from chatapp import db

    name = mysql_server.create_database()
    url = mysql_server.url(name)
    try:
        db.upgrade(url)
        yield url
    finally:
        mysql_server.drop_database(name)


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[sa.Engine]:
    from chatapp.db import make_engine

    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


TABLES_CHILD_FIRST = [
    "media",
    "messages",
    "conversation_members",
    "conversations",
    "auth_sessions",
    "users",
]


def session_then_empty(engine: sa.Engine) -> Iterator[Session]:
    """A session on `engine` for one test; every table is emptied after it."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.rollback()
    with engine.begin() as c:
        for table in TABLES_CHILD_FIRST:
            c.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def db(mysql_engine: sa.Engine) -> Iterator[Session]:
    """A session on the throwaway MariaDB database; every table is emptied after the test."""
    yield from session_then_empty(mysql_engine)


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    from chatapp.services.throttle import get_login_throttle

    get_login_throttle.cache_clear()
    yield
    get_login_throttle.cache_clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running for the rest of
    the session, which asyncio tests (realtime, Redis) cannot share."""

    def uses_browser(item: pytest.Item) -> bool:
        names = getattr(item, "fixturenames", ())
        return "browser" in names or "page" in names

    items.sort(key=uses_browser)
