"""Small public records the services hand upwards (never table rows, never secrets): all of them
in one place, whichever service makes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chatapp.models import Media, Message, User


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
class PersonCard:
    """Another person's card (opened from a header or a member list)."""

    person: PersonOut
    bio: str


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
    system: str | None = None  # a system line's kind ("added", ...), its text in body
    deleted: bool = False  # "This message was deleted" (body and image are gone)
    moderated: bool = False  # ... by a moderator, not by its sender
    reply_to_id: int | None = None
    change_seq: int = 0

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
            system=m.system,
            deleted=m.deleted_at is not None,
            moderated=m.deleted_at is not None and m.deleted_by not in (None, m.sender_id),
            reply_to_id=m.reply_to_id,
            change_seq=m.change_seq or 0,
        )


@dataclass(frozen=True, slots=True)
class ConversationOut:
    """One row of a user's sidebar. A direct conversation has a ``peer`` (the other person);
    a group has a name (``title``), maybe a picture, and the viewer's role in it."""

    id: int
    kind: str  # "direct" | "group"
    title: str
    peer: PersonOut | None  # the other person of a direct conversation, None in a group
    last_message: MessageOut | None
    unread: int
    picture_ref: str | None = None  # a group's picture
    role: str = "member"  # the viewer's role (groups)
    left: bool = False  # the viewer left or was removed (reads the history up to then)
    removed: bool = False  # ... was removed by someone else
    last_sender_name: str = ""  # who wrote the last message (a group's preview "bob: hi")
    muted_until: datetime | None = None  # the viewer muted it until then (notifications.py)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"


@dataclass(frozen=True, slots=True)
class QuoteOut:
    """What a reply shows of the message it answers."""

    id: int
    sender_id: int
    sender_name: str
    body: str  # a short excerpt; "" when deleted or an image alone
    has_image: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class ChangedOut:
    """A message as it is after a change (edit, deletion, reaction): what a tab needs to redraw
    its bubble."""

    message: MessageOut
    reactions: dict[str, list[int]]  # emoji -> who reacted, in order
    quote: QuoteOut | None = None


@dataclass(frozen=True, slots=True)
class ChangesOut:
    """What changed in a conversation after a change number (catching up)."""

    items: list[ChangedOut]
    seq: int  # the conversation's newest change number
    complete: bool  # False: more than the limit changed: reload the view instead


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
    # Who wrote the page's messages, for a group's bubbles (name and avatar); empty in a
    # direct conversation (the header shows the other person).
    senders: dict[int, PersonOut] = field(default_factory=dict)
    # Reactions and quotes of the page's messages (by message id), and the conversation's
    # change number when the page was read (a tab catches up on changes after it).
    reactions: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    quotes: dict[int, QuoteOut] = field(default_factory=dict)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class SendResult:
    message: MessageOut
    created: bool  # False: this client id was already stored (a retry); nothing new
    member_ids: list[int]
    group_title: str | None = None  # a group's name (None: a direct conversation)
    group_picture: str | None = None
    quote: QuoteOut | None = None  # the message this one answers


@dataclass(frozen=True, slots=True)
class ReaderOut:
    """How far another member has read (read receipts)."""

    user_id: int
    name: str
    upto: int  # the id of the newest message they have read


@dataclass(frozen=True, slots=True)
class MemberOut:
    """One line of a group's member list."""

    person: PersonOut
    role: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class GroupOut:
    """A group as its members see it (Group info)."""

    id: int
    name: str
    picture_ref: str | None
    members_can_add: bool
    archived: bool
    members: list[MemberOut]  # current members, owner first, then by role and seniority
    my_role: str  # the viewer's role; "" for a former member


# Accounts, media and profiles (services/accounts.py, media.py, profiles.py) ------------------
@dataclass(frozen=True, slots=True)
class UserOut:
    """What the rest of the app may know about a user (never the password hash)."""

    id: int
    username: str
    email: str
    display_name: str
    avatar_ref: str | None
    bio: str
    created_at: datetime
    last_seen_at: datetime | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        assert u.id is not None
        return cls(
            id=u.id,
            username=u.username,
            email=u.email,
            display_name=u.display_name,
            avatar_ref=u.avatar_ref,
            bio=u.bio,
            created_at=u.created_at,
            last_seen_at=u.last_seen_at,
        )


@dataclass(frozen=True, slots=True)
class CurrentSession:
    user: UserOut
    session_id: str


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """What a log-in needs to know before bcrypt runs (never leaves the server)."""

    account: str  # what failures are counted against: "user:<id>", or "login:<what was typed>"
    user_id: int | None
    password_hash: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MediaOut:
    id: str
    purpose: str
    mime: str
    width: int
    height: int

    @property
    def thumb_url(self) -> str:
        return f"/media/{self.id}/thumb"  # (= services.media.thumb_url)

    @property
    def full_url(self) -> str:
        return f"/media/{self.id}/full"  # (= services.media.full_url)

    @classmethod
    def of(cls, m: Media) -> MediaOut:
        return cls(m.id, m.purpose, m.mime, m.width, m.height)


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    user: UserOut
    replaced_avatar: str | None  # media id to delete once the change is committed
