"""services/rawsql.py on both databases it supports (MariaDB through PyMySQL, SQLite): named
parameters, literal percent signs, FOR UPDATE where it exists, duplicate keys, datetimes.
The send path that uses it: tests/services/test_chat_services.py (and tests/db/ on SQLite)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp import db as chat_db
from chatapp.models import User
from chatapp.services import accounts
from chatapp.services.rawsql import RawStatement, integrity_error, is_mysql

PW = "correct horse"


@pytest.fixture(params=["mariadb", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.Engine, bool]]:
    if request.param == "mariadb":
        mysql_engine: sa.Engine = request.getfixturevalue("mysql_engine")
        request.getfixturevalue("db")  # empties the tables afterwards
        yield mysql_engine, True
        return
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    chat_db.upgrade(url)
    lite = chat_db.make_engine(url)
    yield lite, False
    lite.dispose()


def _user(engine: sa.Engine, name: str = "alice") -> int:
    with Session(engine) as s:
        user = accounts.sign_up(session=s, username=name, email=f"{name}@example.com", password=PW)
        s.commit()
        return user.id


def test_named_parameters_repeat_and_percent_signs_stay_literal(
    engine: tuple[sa.Engine, bool],
) -> None:
    eng, mysql = engine
    stmt = RawStatement(
        """SELECT :a AS a,
                  :a + :b AS sum,
                  '100%' AS pct"""
    )
    with eng.connect() as conn:
        assert is_mysql(conn) is mysql
        row = stmt.execute(conn, {"a": 2, "b": 40}).fetchone()
    assert tuple(row) == (2, 42, "100%")


def test_inserts_report_their_row_and_duplicates_raise_the_drivers_integrity_error(
    engine: tuple[sa.Engine, bool],
) -> None:
    eng, _ = engine
    insert = RawStatement(
        "INSERT INTO users (username, email, display_name, password_hash, bio, created_at)"
        " VALUES (:u, :e, :u, 'x', '', :at)"
    )
    at = datetime(2026, 11, 28, 12, 30, 45, 123456, tzinfo=UTC)
    with eng.begin() as conn:
        cur = insert.execute(conn, {"u": "raw", "e": "raw@example.com", "at": at})
        assert cur.rowcount == 1
        uid = cur.lastrowid
        with pytest.raises(integrity_error(conn)):
            insert.execute(conn, {"u": "raw", "e": "other@example.com", "at": at})
    with Session(eng) as s:
        row = s.get(User, uid)
        assert row is not None
        assert (row.username, row.created_at) == ("raw", at)  # the datetime reads back as it was


def test_integrity_errors_include_the_drivers_own(engine: tuple[sa.Engine, bool]) -> None:
    eng, mysql = engine
    with eng.connect() as conn:
        caught = integrity_error(conn)
    assert sa.exc.IntegrityError in caught
    assert (pymysql.err.IntegrityError if mysql else sqlite3.IntegrityError) in caught


def test_for_update_locks_the_row_on_mariadb_and_is_left_out_on_sqlite(
    engine: tuple[sa.Engine, bool],
) -> None:
    eng, mysql = engine
    uid = _user(eng)
    lock = RawStatement("SELECT username FROM users WHERE id = :id", for_update=True)
    with eng.connect() as holder:
        holder.begin()
        assert lock.execute(holder, {"id": uid}).fetchone()[0] == "alice"
        if not mysql:  # (SQLite has no FOR UPDATE: the statement ran without it)
            holder.rollback()
            return
        with eng.connect() as other:
            other.execute(sa.text("SET SESSION innodb_lock_wait_timeout = 1"))
            with pytest.raises(sa.exc.OperationalError) as exc:
                other.execute(sa.text("UPDATE users SET bio = 'x' WHERE id = :id"), {"id": uid})
            assert exc.value.orig.args[0] == 1205  # lock wait timeout: the row was locked
        holder.rollback()


def test_updates_report_how_many_rows_they_changed(engine: tuple[sa.Engine, bool]) -> None:
    eng, _ = engine
    uid = _user(eng)
    update = RawStatement("UPDATE users SET bio = :bio WHERE id = :id")
    with eng.begin() as conn:
        assert update.execute(conn, {"bio": "hello", "id": uid}).rowcount == 1
        assert update.execute(conn, {"bio": "hello", "id": uid + 1000}).rowcount == 0
    with Session(eng) as s:
        row = s.get(User, uid)
        assert row is not None and row.bio == "hello"
