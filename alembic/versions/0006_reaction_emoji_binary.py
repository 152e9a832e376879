"""message_reactions.emoji compares byte for byte (MySQL/MariaDB)

The table's utf8mb4_unicode_ci collation gives every character outside the Basic Multilingual
Plane the same weight, so 👍 😂 😮 😢 🙏 were one and the same key: a person's 😂 found their 👍
and toggled it off, and two of them could not be stored at once
(tests/services/test_lifecycle.py: test_every_offered_reaction_round_trips). The column gets
utf8mb4_bin. SQLite compares bytes already: nothing to do there.

Downgrade: if someone holds two reactions on one message that the old collation calls equal,
the ALTER fails on the primary key; delete one of them first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _emoji_collation(collation: str) -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    op.execute(
        "ALTER TABLE message_reactions MODIFY emoji VARCHAR(8)"
        f" CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
    )


def upgrade() -> None:
    _emoji_collation("utf8mb4_bin")


def downgrade() -> None:
    _emoji_collation("utf8mb4_unicode_ci")
