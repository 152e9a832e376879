"""Small public records the services hand upwards (never table rows, never secrets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chatapp.models import Message, User


@dataclass(frozen=True, slots=True)
class PersonOut:
    id: int
    username: str
    display_name: str
    avatar_ref: str | None
    last_seen_at: datetime | None

    @classmethod
    def of(cls, u: User) -> PersonOut:
        assert u.id is not None
        return cls(u.id, u.username, u.display_name, u.avatar_ref, u.last_seen_at)


@dataclass(frozen=True, slots=True)
class MessageOut:
    id: int
    conversation_id: int
    sender_id: int
    client_id: str
    body: str
    media_ref: str | None
    created_at: datetime
    edited_at: datetime | None
    # The stored image's size in pixels (its thumbnail has the same aspect ratio), so the
    # browser can reserve the image's box before it loads; 0 without an image, or when the
    # message or its image was deleted.
    media_width: int = 0
    media_height: int = 0

    @classmethod
    def of(cls, m: Message, *, media_width: int = 0, media_height: int = 0) -> MessageOut:
        """``media_width``/``media_height``: the Media row of ``m.media_ref`` (the caller
        fetched it, or 0 when it is gone)."""
        assert m.id is not None
        shown = m.deleted_at is None and bool(m.media_ref)
        return cls(
            id=m.id,
            conversation_id=m.conversation_id,
            sender_id=m.sender_id,
            client_id=m.client_id,
            body="" if m.deleted_at else m.body,
            media_ref=None if m.deleted_at else m.media_ref,
            created_at=m.created_at,
            edited_at=m.edited_at,
            media_width=media_width if shown else 0,
            media_height=media_height if shown else 0,
        )


@dataclass(frozen=True, slots=True)
class ConversationOut:
    """One row of a user's sidebar."""

    id: int
    kind: str
    title: str
    peer: PersonOut | None  # the other person of a direct conversation
    last_message: MessageOut | None
    unread: int


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[MessageOut]  # oldest first
    has_more: bool  # older messages exist before items[0]
    # The message just before items[0] in the conversation (for the day separator and the
    # sender grouping of the first item): its created_at and sender_id; None/0 when there is
    # none. Filled by list_messages; messages_after leaves them None/0 (its caller already
    # shows the message at after_id).
    before_at: datetime | None = None
    before_sender: int = 0


@dataclass(frozen=True, slots=True)
class SendResult:
    message: MessageOut
    created: bool  # False: this client id was already stored (a retry); nothing new
    member_ids: list[int]
