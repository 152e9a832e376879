"""initial schema: users, auth sessions, conversations, members, messages

Written from an autogenerate draft and reviewed by hand:
- plain sa.String / sa.Text types (no sqlmodel types in migrations, so they never change under us);
- timestamps are DATETIME(6) on MySQL/MariaDB (microseconds), stored as UTC;
- message ids are BIGINT (INTEGER on SQLite, which is 64-bit and the only auto-increment type);
- (conversation_id, id) serves "newest N messages before id X" as an index range scan;
- unique (sender_id, client_id) makes sends idempotent; unique direct_key allows one direct
  conversation per pair of users;
- utf8mb4 tables, so emoji round-trip.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(50), nullable=False),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("avatar_ref", sa.String(255), nullable=True),
        sa.Column("bio", sa.String(280), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        **TABLE,
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(43), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_auth_sessions_user"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("activated_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        **TABLE,
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False, server_default="direct"),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column(
            "creator_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_conversations_creator"),
            nullable=True,
        ),
        sa.Column("direct_key", sa.String(43), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_message_id", BIGID, nullable=True),
        sa.Column("last_message_at", TS, nullable=True),
        sa.UniqueConstraint("direct_key", name="uq_conversations_direct_key"),
        **TABLE,
    )
    op.create_table(
        "conversation_members",
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE", name="fk_members_conversation"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_members_user"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("last_read_message_id", BIGID, nullable=True),
        **TABLE,
    )
    op.create_index("ix_members_user", "conversation_members", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE", name="fk_messages_conversation"),
            nullable=False,
        ),
        sa.Column(
            "sender_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_messages_sender"),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_ref", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("edited_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
        **TABLE,
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("conversation_members")
    op.drop_table("conversations")
    op.drop_table("auth_sessions")
    op.drop_table("users")
