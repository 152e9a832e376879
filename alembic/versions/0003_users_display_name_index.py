"""users: index on display_name, for people search by display-name prefix

Written by hand. Search matches a prefix of the username (served by uq_users_username) or of
the display name (served by this index). The column's utf8mb4_unicode_ci collation makes LIKE
case-insensitive on MySQL/MariaDB, so the search never wraps the column in lower() and the
range scan stays on the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_users_display_name", "users", ["display_name"])


def downgrade() -> None:
    op.drop_index("ix_users_display_name", table_name="users")
