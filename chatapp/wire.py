"""The one typed definition of what travels: events on the real-time bus, and the small records
the state layer shows in a tab (one message, one sidebar row, one person).

Nothing here imports Reflex: the realtime layer publishes these, the state layer turns them into
vars. Builders take service DTOs; times are epoch milliseconds (UTC) so they survive JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from chatapp.services.dto import ConversationOut, MessageOut, PersonOut, QuoteOut
from chatapp.services.media import full_url, thumb_url

PREVIEW_CHARS = 80
Status = Literal["pending", "sent", "failed"]


# What a tab shows ----------------------------------------------------------------------------
class MessageView(TypedDict):
    """One bubble. ``day`` and ``time`` are already in the viewer's time zone."""

    key: str  # stable React key: "c<client id>" (the same before and after it is stored)
    id: int  # 0 while pending or failed
    cid: str
    sender: int
    mine: bool
    body: str
    at: int  # ms since the epoch
    time: str  # "14:05" / "2:05 PM"
    day: str  # day separator shown above this bubble ("Today", "Yesterday", a date) or ""
    first: bool  # first of a run by one sender (shows the avatar)
    status: Status
    error: str
    img: str  # thumbnail URL or ""
    full: str
    w: int  # thumbnail box, so the view does not jump when the image loads
    h: int
    # Only where they apply (a bubble without them costs nothing on the wire): a system line
    # ("alice added bob"). (A group bubble's sender name and avatar are looked up in the tab's
    # map of the group's people, ChatState.writers.)
    sys: NotRequired[bool]
    edited: NotRequired[bool]
    deleted: NotRequired[bool]
    mod: NotRequired[bool]
    reply: NotRequired[Quote]
    rx: NotRequired[list[dict[str, Any]]]  # reaction chips: {e: emoji, n: count, mine}


class ConversationRow(TypedDict):
    """One sidebar row (a direct conversation's ``peer_*`` fields name the other person; a
    group's are empty and ``group`` is set)."""

    id: int
    title: str
    peer_id: int
    peer_username: str
    initials: str
    avatar: str
    online: bool
    last_seen: int  # ms, 0 = never
    preview: str
    when: str  # "14:05" today, "25 Nov" before (viewer's time zone)
    last_id: int
    unread: int
    group: NotRequired[bool]
    left: NotRequired[bool]  # the viewer left or was removed: read-only
    removed: NotRequired[bool]  # ... was removed (not left)
    role: NotRequired[str]  # the viewer's role in the group
    muted: NotRequired[int]  # muted until then (ms): no notifications, a grey badge


class PersonView(TypedDict):
    id: int
    name: str
    username: str
    initials: str
    avatar: str
    online: bool
    last_seen: int


# What the bus carries --------------------------------------------------------------------------
class WireMessage(TypedDict):
    """A stored message as published to members (no viewer-specific fields)."""

    id: int
    cid: str
    conv: int
    sender: int
    body: str
    at: int
    img: str
    full: str
    w: int
    h: int
    sys: NotRequired[str]  # a system line's kind
    # Only when they apply (a plain message carries none of these):
    edited: NotRequired[bool]
    deleted: NotRequired[bool]  # body and image are empty
    mod: NotRequired[bool]  # deleted by a moderator
    reply: NotRequired[Quote]  # the message this one answers


class Quote(TypedDict):
    id: int
    name: str  # who wrote the quoted message
    body: str  # an excerpt ("" for an image alone or a deleted message)
    img: bool
    deleted: bool


class GroupCard(TypedDict):
    """A group's name and picture, carried with its messages (a tab that does not list the
    group yet adds its row from this)."""

    title: str
    avatar: str


class SenderCard(TypedDict):
    id: int
    name: str
    username: str
    initials: str
    avatar: str


class MessageEvent(TypedDict):
    type: Literal["message"]
    origin: str  # the tab it came from (already shows it)
    message: WireMessage
    sender: SenderCard
    again: NotRequired[bool]  # announced again after a reconnect: maybe shown already
    group: NotRequired[GroupCard]  # a group's message


class ChangeEvent(TypedDict):
    """A message was edited, deleted or reacted to (services/lifecycle.py): the message as it
    is now, its reactions (emoji -> user ids), and the conversation's change number."""

    type: Literal["change"]
    conv: int
    seq: int
    message: WireMessage
    reactions: dict[str, list[int]]
    name: str  # who wrote the message


class SeenEvent(TypedDict):
    """Someone read a conversation up to a message (read receipts; services/conversations.py)."""

    type: Literal["seen"]
    conv: int
    user: int
    name: str
    upto: int


class TypingEvent(TypedDict):
    """Someone is typing in a conversation (never stored)."""

    type: Literal["typing"]
    conv: int
    user: int
    name: str


class GroupMemberChange(TypedDict):
    id: int
    role: str  # the new role; "" = no longer a member
    name: str
    username: str
    avatar: str


class GroupEvent(TypedDict):
    """A group changed (services/groups.py): its name, picture and setting as they are now,
    and whose role changed. ``deleted``: the group is gone."""

    type: Literal["group"]
    conv: int
    title: NotRequired[str]
    avatar: NotRequired[str]
    can_add: NotRequired[bool]
    members: NotRequired[list[GroupMemberChange]]
    why: NotRequired[str]  # a departure: "left" | "removed"
    deleted: NotRequired[bool]


class ReadEvent(TypedDict):
    type: Literal["read"]
    conv: int
    origin: str


class PersonEvent(TypedDict):
    type: Literal["person"]
    user: int
    title: str
    initials: str
    avatar: str
    bio: str


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    user: int
    online: bool
    last_seen: int


class RevokedEvent(TypedDict):
    """Sessions of a user were ended (log out, log out of all devices, password change): every
    tab of an ended session forgets its data and goes to /login."""

    type: Literal["revoked"]
    only: str  # this one session ended ("" = every session of the user ...)
    keep: str  # ... except this one (the tab that changed the password)


def revoked(*, only: str = "", keep: str = "") -> RevokedEvent:
    return {"type": "revoked", "only": only, "keep": keep}


def is_revoked(session_id: str, event: RevokedEvent) -> bool:
    if not session_id:
        return False
    if event["only"]:
        return session_id == event["only"]
    return session_id != event["keep"]


class MuteEvent(TypedDict):
    """The user muted or unmuted a conversation (services/notifications.py): their tabs follow."""

    type: Literal["mute"]
    conv: int
    until: int  # ms, 0 = not muted


class NotifyTextEvent(TypedDict):
    """The user turned "Show message text in notifications" on or off."""

    type: Literal["notify_text"]
    on: bool


BusEvent = (
    MessageEvent
    | ReadEvent
    | PersonEvent
    | PresenceEvent
    | RevokedEvent
    | GroupEvent
    | ChangeEvent
    | SeenEvent
    | TypingEvent
    | MuteEvent
    | NotifyTextEvent
)


# Builders ----------------------------------------------------------------------------------------
def ms(dt: datetime | None) -> int:
    return int(dt.timestamp() * 1000) if dt else 0


def initials(name: str) -> str:
    """Up to two letters for a round picture: the first letter (or digit) of the first and last
    words that have one ("Saturday climb 🧗" → "SC"; an emoji alone is not a letter)."""
    words = [w for w in name.replace("_", " ").replace(".", " ").split() if _letter(w)]
    if not words:
        return "?"
    if len(words) == 1:
        letters = [c for c in words[0] if c.isalnum()]
        return "".join(letters[:2]).upper()
    return (_letter(words[0]) + _letter(words[-1])).upper()


def _letter(word: str) -> str:
    return next((c for c in word if c.isalnum()), "")


def person(p: PersonOut, online: bool = False) -> PersonView:
    return {
        "id": p.id,
        "name": p.display_name,
        "username": p.username,
        "initials": initials(p.display_name),
        "avatar": thumb_url(p.avatar_ref),
        "online": online,
        "last_seen": ms(p.last_seen_at),
    }


def sender_card(user_id: int, display_name: str, username: str, avatar: str) -> SenderCard:
    return {
        "id": user_id,
        "name": display_name,
        "username": username,
        "initials": initials(display_name),
        "avatar": avatar,
    }


def thumb_box(width: int, height: int, box: int = 320) -> tuple[int, int]:
    """The size a thumbnail is drawn at (fits a box of `box` px wide, 360 px high)."""
    if width <= 0 or height <= 0:
        return 0, 0
    scale = min(1.0, box / width, 360 / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def quote(q: QuoteOut) -> Quote:
    return {
        "id": q.id,
        "name": q.sender_name,
        "body": q.body,
        "img": q.has_image,
        "deleted": q.deleted,
    }


def message(m: MessageOut, reply: QuoteOut | None = None) -> WireMessage:
    w, h = thumb_box(m.media_width, m.media_height)
    out: WireMessage = {
        "id": m.id,
        "cid": m.client_id,
        "conv": m.conversation_id,
        "sender": m.sender_id,
        "body": m.body,
        "at": ms(m.created_at),
        "img": thumb_url(m.media_ref),
        "full": full_url(m.media_ref),
        "w": w,
        "h": h,
    }
    if m.system:
        out["sys"] = m.system
    if m.edited_at is not None and not m.deleted:
        out["edited"] = True
    if m.deleted:
        out["deleted"] = True
        if m.moderated:
            out["mod"] = True
    if reply is not None:
        out["reply"] = quote(reply)
    return out


def preview(
    body: str, mine: bool, has_image: bool = False, *, who: str = "", system: bool = False
) -> str:
    """A sidebar row's last line: "You: …" for your own message, "bob: …" for someone else's
    in a group (``who``), a system line as it is."""
    text = " ".join(body.split()) or ("📷 Photo" if has_image else "")
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    if system:
        return text
    if mine:
        return f"You: {text}"
    return f"{who}: {text}" if who else text


def conversation(
    c: ConversationOut, viewer_id: int, online: set[int], when: str
) -> ConversationRow:
    peer = c.peer
    lm = c.last_message
    row: ConversationRow = {
        "id": c.id,
        "title": c.title,
        "peer_id": peer.id if peer else 0,
        "peer_username": peer.username if peer else "",
        "initials": initials(c.title),
        "avatar": thumb_url(c.picture_ref if c.is_group else peer.avatar_ref if peer else None),
        "online": bool(peer and peer.id in online),
        "last_seen": ms(peer.last_seen_at) if peer else 0,
        "preview": preview(
            lm.body,
            lm.sender_id == viewer_id,
            bool(lm.media_ref),
            who=c.last_sender_name,
            system=bool(lm.system),
        )
        if lm
        else "",
        "when": when,
        "last_id": lm.id if lm else 0,
        "unread": c.unread,
    }
    if c.muted_until is not None:
        row["muted"] = ms(c.muted_until)
    if c.is_group:
        row["group"] = True
        row["role"] = c.role
        if c.left:
            row["left"] = True
            if c.removed:
                row["removed"] = True
    return row
