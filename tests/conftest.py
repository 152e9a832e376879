"""Shared fixtures: a throwaway MariaDB database per run, fast bcrypt for service tests.

Under CI=true a missing MariaDB (or Chromium, see tests/e2e) fails the run; elsewhere the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# Must be set before chatapp.settings is first read. Cost 12 is checked by a unit test;
# service tests use cost 4 so the suite stays fast.
os.environ.setdefault("BCRYPT_ROUNDS", "4")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import sqlalchemy as sa
from sqlmodel import Session

from bench.instances import DatabaseServer, ThrowawayDatabase

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MYSQL_SERVER_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def need(condition: bool, reason: str) -> None:
    """Skip locally, fail in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI: {reason}", pytrace=False)
    pytest.skip(reason)


# Throwaway databases are made by one helper, shared with the benchmark and the fault runner:
# bench/instances.py (DatabaseServer.throwaway -> ThrowawayDatabase).
@pytest.fixture(scope="session")
def mysql_server() -> Iterator[DatabaseServer]:
    server = DatabaseServer(MYSQL_SERVER_URL)
    err = server.reachable()
    need(err is None, f"MariaDB/MySQL not reachable at {MYSQL_SERVER_URL}: {err}")
    yield server
    server.dispose()


# scripts/mutation.sh --max-children 1 runs the tests again for every mutant, each time in a
# new process: it migrates one database beforehand and names it here, and each run empties and
# reuses it (making and migrating a database per run took as long as the tests themselves).
REUSE_DATABASE = os.environ.get("TEST_MYSQL_REUSE_DATABASE", "")


@dataclass
class ReusedDatabase:
    url: str
    engine: sa.Engine


@pytest.fixture(scope="session")
def mysql_db(mysql_server: DatabaseServer) -> Iterator[ThrowawayDatabase | ReusedDatabase]:
    """A fresh database migrated to head, with an engine on it; dropped at the end of the run."""
    if REUSE_DATABASE:
        from chatapp.db import make_engine

        url = mysql_server.url(REUSE_DATABASE)
        reused = ReusedDatabase(url, make_engine(url))
        _empty(reused.engine)  # (a run stopped midway leaves its rows)
        yield reused
        reused.engine.dispose()
        return
    with mysql_server.throwaway() as made:
        yield made


@pytest.fixture(scope="session")
def mysql_url(mysql_db: ThrowawayDatabase | ReusedDatabase) -> str:
    return mysql_db.url


@pytest.fixture(scope="session")
def mysql_engine(mysql_db: ThrowawayDatabase) -> sa.Engine:
    return mysql_db.engine


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 15 (TEST_REDIS_URL), emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
        err = None
    except redis.RedisError as exc:
        err = str(exc)
    need(err is None, f"Redis not reachable at {REDIS_URL}: {err}")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


TABLES_CHILD_FIRST = [
    "message_reactions",
    "message_edits",
    "push_subscriptions",
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
    _empty(engine)


def _empty(engine: sa.Engine) -> None:
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
        names = set(getattr(item, "fixturenames", ()))
        # (browser_type: a test that launches its own persistent Chromium profile)
        return bool(names & {"browser", "page", "browser_type", "playwright"})

    items.sort(key=uses_browser)
