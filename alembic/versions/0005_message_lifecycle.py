"""message lifecycle: edits (with an audit of the old text), deletion by whom, replies,
reactions, a per-conversation change sequence for catch-up, the read-receipts setting

Written by hand (reviewed). Existing rows keep their meaning: change_seq 0 = never changed.

- conversations.change_seq: the conversation's last change number (edit, deletion, reaction).
- messages.change_seq: the number of the last change to this message (index with the
  conversation: "what changed after N" is a range scan); reply_to_id: the message quoted;
  deleted_by: who deleted it (deleted_at is when; the body stays in the row for moderation and
  is never shown).
- message_edits: every earlier text of an edited message, who edited and when (never shown).
- message_reactions: one row per (message, person, emoji).
- users.read_receipts: "Send read receipts" (on).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    with op.batch_alter_table("conversations") as t:
        t.add_column(sa.Column("change_seq", BIG, nullable=False, server_default="0"))
    with op.batch_alter_table("messages") as t:
        t.add_column(sa.Column("change_seq", BIG, nullable=False, server_default="0"))
        t.add_column(sa.Column("reply_to_id", BIG, nullable=True))
        t.add_column(sa.Column("deleted_by", sa.Integer(), nullable=True))
    op.create_index(
        "ix_messages_conversation_change", "messages", ["conversation_id", "change_seq"]
    )
    with op.batch_alter_table("users") as t:
        t.add_column(
            sa.Column("read_receipts", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "message_reactions",
        sa.Column(
            "message_id",
            BIG,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_reactions_message"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_reactions_user"),
            primary_key=True,
        ),
        sa.Column("emoji", sa.String(8), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        **TABLE,
    )
    op.create_table(
        "message_edits",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            BIG,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_edits_message"),
            nullable=False,
        ),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.Column("old_body", sa.Text(), nullable=False),
        sa.Column("edited_at", TS, nullable=False),
        **TABLE,
    )
    op.create_index("ix_message_edits_message", "message_edits", ["message_id"])


def downgrade() -> None:
    op.drop_table("message_edits")  # (its index goes with it)
    op.drop_table("message_reactions")
    with op.batch_alter_table("users") as t:
        t.drop_column("read_receipts")
    op.drop_index("ix_messages_conversation_change", table_name="messages")
    with op.batch_alter_table("messages") as t:
        t.drop_column("deleted_by")
        t.drop_column("reply_to_id")
        t.drop_column("change_seq")
    with op.batch_alter_table("conversations") as t:
        t.drop_column("change_seq")
