"""Alembic: upgrade head -> downgrade base -> upgrade head, on MariaDB and on SQLite."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from bench.instances import DatabaseServer
from chatapp import db

EXPECTED = {
    "users",
    "auth_sessions",
    "conversations",
    "conversation_members",
    "messages",
    "media",
    "message_reactions",
    "message_edits",
    "push_subscriptions",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    db.upgrade(url)
    assert _tables(url) == EXPECTED
    db.downgrade(url, "base")
    assert _tables(url) == set()
    db.upgrade(url)
    assert _tables(url) == EXPECTED


def test_round_trip_on_mariadb(mysql_server: DatabaseServer) -> None:
    with mysql_server.throwaway("chatapp_migr", migrate=False) as made:
        url = made.url
        _round_trip(url)
        engine = sa.create_engine(url)
        with engine.connect() as c:
            ddl = c.execute(sa.text("SHOW CREATE TABLE messages")).one()[1]
            emoji = c.execute(
                sa.text(
                    "SELECT collation_name FROM information_schema.columns WHERE"
                    " table_schema = DATABASE() AND table_name = 'message_reactions'"
                    " AND column_name = 'emoji'"
                )
            ).scalar_one()
            indexes = {i["name"]: i for i in sa.inspect(engine).get_indexes("messages")}
            user_indexes = {i["name"]: i for i in sa.inspect(engine).get_indexes("users")}
        engine.dispose()
        assert "utf8mb4" in ddl
        assert "bigint" in ddl.lower()
        assert indexes["ix_messages_conversation_id_id"]["column_names"] == [
            "conversation_id",
            "id",
        ]
        assert user_indexes["ix_users_display_name"]["column_names"] == ["display_name"]
        assert emoji == "utf8mb4_bin"  # (👍 and 😂 are different reactions)


def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_models_match_the_migrations(mysql_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import chatapp.models  # noqa: F401

    engine = sa.create_engine(mysql_url)
    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": False})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    structural = [
        d
        for d in diff
        if d[0]
        in {"add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index"}
    ]
    assert structural == []
