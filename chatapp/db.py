"""Engine, sessions and migrations. The engine is built once from settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from chatapp.settings import PROJECT_ROOT, get_settings


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    # READ COMMITTED: after losing a unique-key race (two people opening the same direct
    # conversation, two retries of one send) the fallback lookup must see the winner's row,
    # which MariaDB's default REPEATABLE READ snapshot would hide.
    engine = sa.create_engine(
        url,
        pool_recycle=1800,
        pool_use_lifo=True,  # reuse the warmest connection; spare ones idle out (and get pinged)
        pool_size=10,
        max_overflow=20,
        isolation_level="READ COMMITTED",
        # Replaced by the two listeners below: SQLAlchemy's pre-ping and rollback-on-return
        # cost two of the seven round trips of a message send (bench/RESULTS.md).
        pool_pre_ping=False,
        pool_reset_on_return=None,
    )
    _ping_when_idle(engine)
    _roll_back_open_transactions_on_return(engine)
    return engine


IDLE_PING_AFTER = 10.0  # seconds a pooled connection may sit unused before it is checked


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle (a restarted or
    failed-over server, wait_timeout): ping those on checkout, and let the pool replace a dead
    one. A connection used a moment ago is not pinged: under load that saved a round trip per
    transaction."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_AFTER:
            return
        try:
            dbapi_conn.ping(False)
        except Exception as exc:
            raise sa.exc.DisconnectionError() from exc  # the pool retries with a new one


_SERVER_STATUS_IN_TRANS = 1  # MySQL protocol: the OK packet's "in transaction" flag


def _roll_back_open_transactions_on_return(engine: sa.Engine) -> None:
    """Reset a connection coming back to the pool only when the server says a transaction is
    still open. SQLAlchemy's default rolls back every time, even right after a COMMIT.

    SQLAlchemy itself always ends its transactions (a Connection closed mid-transaction rolls
    back), so this is a safety net for driver-level use. The server's "in transaction" flag is
    set by writes, not by plain reads, so driver-level statements must run inside a SQLAlchemy
    transaction (as services/rawsql.py's do), never on a bare pooled connection."""

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn, _record, state):  # type: ignore[no-untyped-def]
        if state.transaction_was_reset:
            return
        status = getattr(dbapi_conn, "server_status", None)
        if status is None or status & _SERVER_STATUS_IN_TRANS:
            dbapi_conn.rollback()


@lru_cache(maxsize=1)
def get_engine() -> sa.Engine:
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: sa.Engine | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = url or get_settings().database_url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def wait_for_database(seconds: float, url: str | None = None) -> None:
    """Until the database accepts a connection (a container started with its database, before
    that has opened its port), at most `seconds`; then the last error is raised."""
    engine = make_engine(url or get_settings().database_url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except sa.exc.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise
                print(f"waiting for the database: {exc.orig}", flush=True)
                time.sleep(2)
    finally:
        engine.dispose()


def is_migrated(url: str | None = None) -> tuple[bool, str | None, str | None]:
    """(has the schema this code needs?, the database's revision, this code's newest revision).

    A revision this code does not know counts as migrated: a newer version's migration job ran
    (during a rolling update, or a roll-back of the code), and migrations only add."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    engine = make_engine(url or get_settings().database_url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current is None or current == head:
        return current == head, current, head
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    return not known, current, head


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m chatapp.db", description="Apply pending database migrations."
    )
    parser.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="wait for the database first"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing: exit 0 if the schema is the newest, 1 if not (a pod waiting for "
        "its migration job)",
    )
    args = parser.parse_args(argv)
    if args.wait:
        wait_for_database(args.wait)
    if args.check:
        ok, current, head = is_migrated()
        print(f"database at revision {current}, newest {head}")
        return 0 if ok else 1
    upgrade()
    print("database is at the newest schema revision")
    return 0


if __name__ == "__main__":  # python -m chatapp.db [--wait SECONDS] [--check]
    raise SystemExit(main())
