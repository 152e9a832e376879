"""Database tables (SQLModel). Services read and write these; nothing above services sees them.

Every string has a length (a bare ``str`` would be VARCHAR(255) on MySQL), message bodies are
TEXT, datetimes are timezone-aware UTC, and MySQL tables are utf8mb4 so emoji round-trip.
Alembic revisions in ``alembic/versions`` are the source of truth for the schema; keep these
classes and the revisions in step.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlmodel import Field, SQLModel

# MySQL/MariaDB BIGINT; SQLite only auto-increments "INTEGER PRIMARY KEY" (also 64-bit there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # People search is a prefix match on the username (its unique index) or on the
        # display name (this one). utf8mb4_unicode_ci makes that LIKE case-insensitive on
        # MySQL/MariaDB while still using the index, so never wrap the column in lower().
        sa.Index("ix_users_display_name", "display_name"),
        MYSQL_TABLE_ARGS,
    )

    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-cased: uniqueness is case-insensitive on every backend.
    username: str = Field(max_length=32, unique=True)
    email: str = Field(max_length=254, unique=True)
    display_name: str = Field(max_length=50)
    password_hash: str = Field(max_length=128)
    avatar_ref: str | None = Field(default=None, max_length=255)
    bio: str = Field(default="", max_length=280)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime | None = Field(default=None)
    # "Send read receipts": off means others do not see when you read, nor you when they do.
    read_receipts: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # "Show message text in notifications" (services/notifications.py): off, a notification
    # says who wrote, not what.
    notify_text: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})


class AuthSession(SQLModel, table=True):
    """One row per log-in. Its id is the JWT ``jti``; revoking the row kills the token."""

    __tablename__ = "auth_sessions"
    __table_args__ = MYSQL_TABLE_ARGS

    id: str = Field(primary_key=True, max_length=43)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    # NULL until the browser exchanged its one-time log-in ticket for the cookie.
    activated_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
    user_agent: str = Field(default="", max_length=255)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = MYSQL_TABLE_ARGS

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="direct", max_length=10)  # "direct" | "group"
    title: str | None = Field(default=None, max_length=100)
    creator_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    # "<smaller user id>:<larger user id>" for direct conversations, NULL for groups: the
    # unique index makes a second direct conversation between the same pair impossible.
    direct_key: str | None = Field(default=None, max_length=43, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_message_id: int | None = Field(default=None, sa_type=BigId)
    last_message_at: datetime | None = Field(default=None)
    # Groups only (services/groups.py): the picture (a media id), "Members can add people",
    # and when the last member left (archived: nothing is deleted).
    picture_ref: str | None = Field(default=None, max_length=32)
    # The number of the conversation's last change to a message (edit, deletion, reaction):
    # a tab that was away asks for what changed after the number it saw (services/lifecycle.py).
    change_seq: int = Field(default=0, sa_type=BigId, sa_column_kwargs={"server_default": "0"})
    members_can_add: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    archived_at: datetime | None = Field(default=None)


class ConversationMember(SQLModel, table=True):
    __tablename__ = "conversation_members"
    __table_args__ = (
        sa.Index("ix_members_user", "user_id"),
        MYSQL_TABLE_ARGS,
    )

    conversation_id: int = Field(
        foreign_key="conversations.id", primary_key=True, ondelete="CASCADE"
    )
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(default="member", max_length=16)  # "owner" | "admin" | "moderator" | "member"
    joined_at: datetime = Field(default_factory=utcnow)
    last_read_message_id: int | None = Field(default=None, sa_type=BigId)
    # What a member may read (services/membership.py): messages with id > history_from_id
    # (NULL: all); after leaving (left_at set), up to history_until_id. A row with left_at set
    # is a former member: no sending, no new messages, the old ones stay readable.
    history_from_id: int | None = Field(default=None, sa_type=BigId)
    left_at: datetime | None = Field(default=None)
    history_until_id: int | None = Field(default=None, sa_type=BigId)
    # Muted until then (services/notifications.py): no toast, notification or push for it.
    muted_until: datetime | None = Field(default=None)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotent sends: a retry with the same client id cannot create a second row.
        sa.UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
        # Serves "newest N messages of conversation C with id < X" as an index range scan.
        sa.Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # Serves "what changed in conversation C after change N".
        sa.Index("ix_messages_conversation_change", "conversation_id", "change_seq"),
        MYSQL_TABLE_ARGS,
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True)
    )
    conversation_id: int = Field(foreign_key="conversations.id", ondelete="CASCADE")
    sender_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    client_id: str = Field(max_length=64)
    body: str = Field(default="", sa_type=sa.Text)
    media_ref: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = Field(default=None)
    deleted_at: datetime | None = Field(default=None)
    # NULL for what a person wrote; else a system line's kind ("added", "left", ...; see
    # services/groups.py), its text in body. sender_id is who did it.
    system: str | None = Field(default=None, max_length=16)
    reply_to_id: int | None = Field(default=None, sa_type=BigId)
    deleted_by: int | None = Field(default=None)
    change_seq: int = Field(default=0, sa_type=BigId, sa_column_kwargs={"server_default": "0"})


class MessageReaction(SQLModel, table=True):
    __tablename__ = "message_reactions"
    __table_args__ = MYSQL_TABLE_ARGS

    message_id: int = Field(
        sa_column=sa.Column(
            BigId,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_reactions_message"),
            primary_key=True,
        )
    )
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    # Compared byte for byte (utf8mb4_bin, migration 0006): the table's unicode_ci collation
    # weighs every emoji outside the BMP the same (👍 = 😂).
    emoji: str = Field(
        sa_column=sa.Column(
            sa.String(8).with_variant(
                mysql.VARCHAR(8, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
            ),
            primary_key=True,
        )
    )
    created_at: datetime = Field(default_factory=utcnow)


class MessageEdit(SQLModel, table=True):
    """An earlier text of an edited message (moderation; never shown)."""

    __tablename__ = "message_edits"
    __table_args__ = (sa.Index("ix_message_edits_message", "message_id"), MYSQL_TABLE_ARGS)

    id: int | None = Field(
        default=None, sa_column=sa.Column(BigId, primary_key=True, autoincrement=True)
    )
    message_id: int = Field(
        sa_column=sa.Column(
            BigId,
            sa.ForeignKey("messages.id", ondelete="CASCADE", name="fk_edits_message"),
            nullable=False,
        )
    )
    editor_id: int
    old_body: str = Field(sa_type=sa.Text)
    edited_at: datetime = Field(default_factory=utcnow)


class Media(SQLModel, table=True):
    """An uploaded image: stored once, shown only to whoever may see it (see services/media)."""

    __tablename__ = "media"
    __table_args__ = (sa.Index("ix_media_owner", "owner_id"), MYSQL_TABLE_ARGS)

    id: str = Field(primary_key=True, max_length=32)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    purpose: str = Field(max_length=10)  # "chat" | "avatar"
    # Set when a chat image is sent: from then on the conversation's members may see it.
    conversation_id: int | None = Field(
        default=None, foreign_key="conversations.id", ondelete="CASCADE"
    )
    storage: str = Field(max_length=16)
    full_key: str = Field(max_length=255)
    thumb_key: str = Field(max_length=255)
    mime: str = Field(max_length=32)
    width: int
    height: int
    bytes: int
    created_at: datetime = Field(default_factory=utcnow)


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription, for one log-in session (services/push.py): deleted
    with the session's log-out, "Log out of all devices", a password change, or when its push
    service answers that it is gone (404/410)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (
        sa.Index("ix_push_subscriptions_user", "user_id"),
        sa.Index("ix_push_subscriptions_session", "session_id"),
        MYSQL_TABLE_ARGS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    session_id: str = Field(foreign_key="auth_sessions.id", max_length=43, ondelete="CASCADE")
    # The endpoint is long (up to ~1 KB): unique by its SHA-256 (one row per browser).
    endpoint_hash: str = Field(max_length=64, unique=True)
    endpoint: str = Field(sa_type=sa.Text)
    p256dh: str = Field(max_length=128)  # the browser's public key (base64url, 65 bytes)
    auth: str = Field(max_length=32)  # its auth secret (base64url, 16 bytes)
    created_at: datetime = Field(default_factory=utcnow)
