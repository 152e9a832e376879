"""groups: names, pictures, settings and archiving on conversations; roles and membership
history on members; system lines among messages

Written by hand (reviewed). Direct conversations are unchanged: every new column is NULL or has
a default that means "as before".

- conversations.picture_ref: the group picture (a media id, visible to signed-in users like an
  avatar); members_can_add: the setting "Members can add people" (off); archived_at: the last
  member left (nothing is deleted).
- conversation_members.role: "owner" | "admin" | "moderator" | "member" (existing column,
  widened to the four roles; direct conversations keep "member").
  history_from_id: the member sees messages with a larger id (NULL: all, as in a direct
  conversation); left_at: when they left or were removed (NULL: a current member);
  history_until_id: the last message they may still read after leaving (the line that says so).
- messages.system: NULL for what a person wrote; else the kind of system line ("created",
  "added", "removed", "left", "role", "renamed", "picture", "owner", "settings"), its text in
  body.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as t:
        t.add_column(sa.Column("picture_ref", sa.String(32), nullable=True))
        t.add_column(
            sa.Column("members_can_add", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        t.add_column(sa.Column("archived_at", TS, nullable=True))
    with op.batch_alter_table("conversation_members") as t:
        t.add_column(sa.Column("history_from_id", BIG, nullable=True))
        t.add_column(sa.Column("left_at", TS, nullable=True))
        t.add_column(sa.Column("history_until_id", BIG, nullable=True))
    with op.batch_alter_table("messages") as t:
        t.add_column(sa.Column("system", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as t:
        t.drop_column("system")
    with op.batch_alter_table("conversation_members") as t:
        t.drop_column("history_until_id")
        t.drop_column("left_at")
        t.drop_column("history_from_id")
    with op.batch_alter_table("conversations") as t:
        t.drop_column("archived_at")
        t.drop_column("members_can_add")
        t.drop_column("picture_ref")
