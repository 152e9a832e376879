"""Fault runs on private servers: a MariaDB of their own (stopped, killed and restarted by the
tests, so never the shared one on 3306), and the app's production backend in subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.instances import OwnMariaDB, OwnRedis
from tests.conftest import need


@pytest.fixture(scope="session")
def own_mariadb() -> Iterator[OwnMariaDB]:
    why = OwnMariaDB.available()
    need(why is None, f"cannot run a private MariaDB: {why}")
    db = OwnMariaDB()
    db.start()
    yield db
    db.close()


@pytest.fixture(scope="session")
def redis_available() -> None:
    why = OwnRedis.available()
    need(why is None, f"cannot run a private Redis: {why}")


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """The secret the test process signs session cookies with; the servers get the same."""
    from chatapp.settings import get_settings

    return get_settings().jwt_secret
