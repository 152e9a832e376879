"""The MariaDB engine's pool handling (chatapp/db.py): idle connections are checked before use,
and a connection goes back to the pool without a wasted ROLLBACK unless a transaction is open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from chatapp import db as chat_db


@pytest.fixture
def engine(mysql_url: str) -> Iterator[sa.Engine]:
    eng = chat_db.make_engine(mysql_url)
    eng.pool.dispose()
    yield eng
    eng.dispose()


def _rollbacks(c: sa.Connection) -> int:
    row = c.execute(sa.text("SHOW SESSION STATUS LIKE 'Com_rollback'")).one()
    return int(row[1])


def _connection_id(c: sa.Connection) -> int:
    return int(c.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one())


def test_no_rollback_after_a_commit(engine: sa.Engine) -> None:
    with engine.connect() as c:
        first = _connection_id(c)
        before = _rollbacks(c)
        c.commit()
    with engine.connect() as c:
        assert _connection_id(c) == first  # the same pooled connection
        assert _rollbacks(c) == before
        c.rollback()


def test_an_open_transaction_is_rolled_back_on_return(engine: sa.Engine) -> None:
    with engine.begin() as c:
        c.execute(sa.text("CREATE TEMPORARY TABLE pool_probe (v INT) ENGINE=InnoDB"))
    with engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        # Raw driver use outside any SQLAlchemy transaction, then returned to the pool.
        raw.cursor().execute("INSERT INTO pool_probe VALUES (1)")
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM pool_probe")).scalar_one() == 0
        c.rollback()


def test_a_connection_killed_while_idle_is_replaced(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.connect() as c:
        victim = _connection_id(c)
        c.commit()
    admin = sa.create_engine(engine.url)  # another pool: the server kills the idle one
    with admin.connect() as admin_conn:
        admin_conn.execute(sa.text(f"KILL {victim}"))
    admin.dispose()
    monkeypatch.setattr(chat_db, "IDLE_PING_AFTER", 0.0)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert _connection_id(c) != victim
        c.rollback()
