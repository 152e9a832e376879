"""The index hint of services/hints.py is rendered for MySQL and MariaDB (whichever URL scheme
names them) and for nothing else. Whether it makes MariaDB read only the rows it needs:
tests/services/test_chat_services.py (test_message_windows_read_only_their_rows_...)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from chatapp.models import Message
from chatapp.services.hints import messages_by_conversation

HINT = "FORCE INDEX (ix_messages_conversation_id_id)"


def _sql(dialect: sa.engine.Dialect) -> str:
    table = Message.__table__  # type: ignore[attr-defined]
    stmt = messages_by_conversation(sa.select(table.c.id).where(table.c.conversation_id == 1))
    return str(stmt.compile(dialect=dialect))


@pytest.mark.parametrize("url", ["mysql+pymysql://", "mariadb+pymysql://"])
def test_the_hint_is_rendered_for_mysql_and_mariadb(url: str) -> None:
    dialect = sa.create_engine(url).dialect
    assert f"FROM messages {HINT}" in _sql(dialect)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_no_other_database_gets_it(dialect: sa.engine.Dialect) -> None:
    assert "FORCE INDEX" not in _sql(dialect)
    assert "FORCE INDEX" in _sql(mysql.dialect())
