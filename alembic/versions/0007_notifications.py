"""notifications: Web Push subscriptions per log-in session, muted conversations, and the
setting "Show message text in notifications"

Written by hand (reviewed). Nothing existing changes meaning: no subscriptions, nothing muted,
message text shown (the default before this revision, when there were no notifications).

- push_subscriptions: one row per browser subscription (unique by the SHA-256 of its endpoint),
  bound to the log-in session that made it (deleted with it: ON DELETE CASCADE when the session
  row is purged; explicitly when the session is revoked, see services/push.py).
- conversation_members.muted_until: no toast, notification or push for the conversation before
  then (NULL: not muted; "always" is the year 9999).
- users.notify_text: "Show message text in notifications" (on).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TABLE = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_push_subscriptions_user"),
            nullable=False,
        ),
        sa.Column(
            "session_id",
            sa.String(43),
            sa.ForeignKey(
                "auth_sessions.id", ondelete="CASCADE", name="fk_push_subscriptions_session"
            ),
            nullable=False,
        ),
        sa.Column("endpoint_hash", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(128), nullable=False),
        sa.Column("auth", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("endpoint_hash", name="uq_push_subscriptions_endpoint"),
        **TABLE,
    )
    op.create_index("ix_push_subscriptions_user", "push_subscriptions", ["user_id"])
    op.create_index("ix_push_subscriptions_session", "push_subscriptions", ["session_id"])
    with op.batch_alter_table("conversation_members") as t:
        t.add_column(sa.Column("muted_until", TS, nullable=True))
    with op.batch_alter_table("users") as t:
        t.add_column(
            sa.Column("notify_text", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as t:
        t.drop_column("notify_text")
    with op.batch_alter_table("conversation_members") as t:
        t.drop_column("muted_until")
    op.drop_table("push_subscriptions")
