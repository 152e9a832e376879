"""Notifications: muting a conversation, "Show message text in notifications", and what a
notification says (one wording for the open tab's notification and for Web Push).

A muted conversation gets no toast, notification or push until ``muted_until`` (its unread
badge is grey). Muting is per member: a current or former member may mute; the change is
sent on commit to the user's own tabs (every tab's sidebar and header follow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col

from chatapp.models import ConversationMember, User, utcnow
from chatapp.services.errors import ServiceError
from chatapp.services.events import send_event_on_commit
from chatapp.services.membership import require_reader
from chatapp.wire import ms

MuteFor = Literal["8h", "1w", "always", "off"]
MUTE_CHOICES: dict[str, timedelta | None] = {
    "8h": timedelta(hours=8),
    "1w": timedelta(weeks=1),
    "always": None,
    "off": None,
}
ALWAYS = datetime(9999, 1, 1, tzinfo=UTC)  # "Always": far beyond any real date
PREVIEW_CHARS = 140  # a notification's text (push services carry 4 KB; phones show ~2 lines)


def is_muted(muted_until: datetime | None, now: datetime | None = None) -> bool:
    if muted_until is None:
        return False
    until = muted_until if muted_until.tzinfo else muted_until.replace(tzinfo=UTC)
    return until > (now or utcnow())


def mute(*, session: Session, user_id: int, conversation_id: int, choice: str) -> int:
    """Mute a conversation for 8 hours, a week, always, or unmute ("off"). Returns the new
    muted-until time in epoch ms (0: not muted)."""
    if choice not in MUTE_CHOICES:
        raise ServiceError("Choose 8 hours, 1 week or Always.")
    require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    span = MUTE_CHOICES[choice]
    until = None if choice == "off" else ALWAYS if span is None else utcnow() + span
    session.execute(
        update(ConversationMember)
        .where(
            col(ConversationMember.conversation_id) == conversation_id,
            col(ConversationMember.user_id) == user_id,
        )
        .values(muted_until=until)
    )
    until_ms = ms(until)
    send_event_on_commit([user_id], {"type": "mute", "conv": conversation_id, "until": until_ms})
    return until_ms


def show_text(*, session: Session, user_id: int) -> bool:
    user = session.get(User, user_id)
    return bool(user.notify_text) if user is not None else True


def set_show_text(*, session: Session, user_id: int, on: bool) -> bool:
    """ "Show message text in notifications" (on by default)."""
    session.execute(update(User).where(col(User.id) == user_id).values(notify_text=bool(on)))
    send_event_on_commit([user_id], {"type": "notify_text", "on": bool(on)})
    return bool(on)


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str


def describe(
    *,
    sender: str,
    group: str | None,
    body: str,
    has_image: bool,
    count: int,
    show_text: bool,
) -> Notice:
    """What a notification of a new message says: who (and which group), how many are unread
    there, and the text only when the person wants it shown ("Photo" for an image)."""
    title = f"{sender} in {group}" if group else sender
    if count > 1:
        title = f"{title} ({count} new messages)"
    if not show_text:
        return Notice(title, "New message")
    text = " ".join(body.split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    if has_image:
        text = f"Photo: {text}" if text else "Photo"
    return Notice(title, text or "New message")
