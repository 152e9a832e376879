"""Statements run straight on the DB-API cursor, for the one path where SQLAlchemy's per-
statement machinery is most of the cost: sending a message.

Measured (bench/RESULTS.md): the four statements of a send took ~860 us of CPU through Core
(prebuilt, cached statements) and ~350 us on the cursor -- at a few hundred messages a second
on one event loop that is the difference between keeping up and queueing.

The SQL is written once with ``:name`` parameters and adapted to the driver's parameter style.
It always runs inside the caller's SQLAlchemy transaction (``session.connection()``), so commit,
rollback and connection-pool handling stay SQLAlchemy's. The drivers chatapp supports are
PyMySQL (mysqlclient works the same way) and sqlite3; any other is refused with a clear error
rather than half-working (lastrowid and datetime handling differ between drivers).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa

_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
# SQLAlchemy's own SQLite DATETIME storage format (text that sorts and parses back).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


_MYSQL_DRIVERS = ("pymysql", "mysqldb")


def is_mysql(conn: sa.Connection) -> bool:
    """MySQL or MariaDB through a driver the fast path knows."""
    return conn.dialect.driver in _MYSQL_DRIVERS


class RawStatement:
    def __init__(self, sql: str, *, for_update: bool = False) -> None:
        """``for_update``: lock the selected rows (SQLite locks the whole database on write
        anyway and has no FOR UPDATE)."""
        self.sql = " ".join(sql.split())
        locking = self.sql + " FOR UPDATE" if for_update else self.sql
        self._pyformat = _PARAM.sub(r"%(\1)s", locking.replace("%", "%%"))

    def execute(self, conn: sa.Connection, params: dict[str, Any]) -> Any:
        """Run on ``conn``'s DB-API connection; returns the DB-API cursor (rowcount,
        lastrowid, fetchone). Driver errors are the driver's (see :func:`integrity_error`)."""
        driver = conn.dialect.driver
        if driver in _MYSQL_DRIVERS:
            cur = conn.connection.cursor()
            cur.execute(self._pyformat, params)
            return cur
        if driver == "pysqlite":
            cur = conn.connection.cursor()
            cur.execute(self.sql, {k: _sqlite_value(v) for k, v in params.items()})
            return cur
        raise NotImplementedError(
            f"database driver {driver!r} is not supported: use mysql+pymysql:// or sqlite://"
        )


def integrity_error(conn: sa.Connection) -> tuple[type[BaseException], ...]:
    """The exception classes a duplicate key raises on this path."""
    dbapi = conn.dialect.dbapi
    extra = (dbapi.IntegrityError,) if dbapi is not None else ()
    return (sa.exc.IntegrityError, *extra)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime(_SQLITE_DATETIME)
    return value
