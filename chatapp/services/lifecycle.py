"""What happens to a message after it is sent: edit, delete, react; quotes of replies; and the
per-conversation change sequence a tab catches up with.

Every change locks the conversation's row (as a send does), so changes to one conversation get
consecutive numbers (``conversations.change_seq``) in commit order; the changed message records
its number (``messages.change_seq``). A tab remembers the newest number it has seen and, back
from being away, asks :func:`changes_after` — "what changed after N" — instead of reloading.
Each change is published on commit (a ``change`` event) to the conversation's current members
who read that message (a group's members added after it do not). A quote is shown only to who
reads the quoted message (SECURITY.md: someone added later does not read what was said before).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from chatapp import wire
from chatapp.models import (
    Conversation,
    ConversationMember,
    Media,
    Message,
    MessageEdit,
    MessageReaction,
    User,
    utcnow,
)
from chatapp.services.dto import ChangedOut, ChangesOut, MessageOut, QuoteOut
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.services.events import send_event_on_commit
from chatapp.services.membership import (
    Action,
    current_member_windows,
    may,
    require_member,
    require_reader,
    window,
)
from chatapp.services.messages import clean_body

EDIT_WINDOW = timedelta(hours=24)
REACTIONS = ("👍", "❤️", "😂", "😮", "😢", "🙏")
QUOTE_CHARS = 120
MAX_CHANGES = 200
NOT_FOUND = "That message is not in this conversation."


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


Window = tuple[int, int | None]  # the ids a member reads: above the first, up to the second


def _locked_message(
    session: Session, user_id: int, message_id: int
) -> tuple[Message, Conversation, ConversationMember]:
    """The message, its conversation locked for this change, and the user's membership (a
    current member; NotAllowed otherwise, the same answer as for no such message)."""
    msg = session.get(Message, message_id)
    if msg is None:
        raise NotAllowed(NOT_FOUND)
    conv = session.exec(
        select(Conversation).where(Conversation.id == msg.conversation_id).with_for_update()
    ).first()
    if conv is None:
        raise NotAllowed(NOT_FOUND)
    try:
        member = require_member(session=session, user_id=user_id, conversation_id=conv.id or 0)
    except NotAllowed:
        raise NotAllowed(NOT_FOUND) from None
    session.refresh(msg)  # (as it is now that the conversation is locked)
    low, _until = window(member)
    if msg.id is None or msg.id <= low or msg.system is not None:
        raise NotAllowed(NOT_FOUND)
    return msg, conv, member


def _bump(session: Session, conv: Conversation, msg: Message) -> int:
    conv.change_seq = (conv.change_seq or 0) + 1
    msg.change_seq = conv.change_seq
    session.add_all([conv, msg])
    session.flush()
    return conv.change_seq


def edit_message(*, session: Session, user_id: int, message_id: int, body: str) -> ChangedOut:
    """Change the text of one's own message within 24 hours of sending it. The earlier text is
    kept in ``message_edits`` (never shown)."""
    msg, conv, member = _locked_message(session, user_id, message_id)
    if msg.sender_id != user_id:
        raise NotAllowed("You can only edit your own messages.")
    if msg.deleted_at is not None:
        raise ServiceError("That message was deleted.")
    if utcnow() - _aware(msg.created_at) > EDIT_WINDOW:
        raise ServiceError("Messages can be edited for 24 hours after sending.")
    # An image's caption may be emptied (as when sending); a text message needs its text.
    text = "" if msg.media_ref and not body.strip() else clean_body(body)
    if text == msg.body:
        return _changed(session, msg, window(member))  # nothing to change
    session.add(
        MessageEdit(message_id=message_id, editor_id=user_id, old_body=msg.body, edited_at=utcnow())
    )
    msg.body = text
    msg.edited_at = utcnow()
    _bump(session, conv, msg)
    return _announce(session, conv, msg, member)


def delete_message(*, session: Session, user_id: int, message_id: int) -> ChangedOut:
    """Delete a message for everyone: its sender at any time; in a group, a moderator, admin or
    the owner too ("Removed by a moderator"). The row stays (who and when; the text is never
    shown again); its image is unlinked (housekeeping removes the files)."""
    msg, conv, member = _locked_message(session, user_id, message_id)
    own = msg.sender_id == user_id
    if not own and not (conv.kind == "group" and may(member.role, Action.DELETE_ANY)):
        raise NotAllowed("You can only delete your own messages.")
    if msg.deleted_at is not None:
        return _changed(session, msg, window(member))  # (already)
    msg.deleted_at = utcnow()
    msg.deleted_by = user_id
    if msg.media_ref:
        _release_image(session, msg)
    session.execute(sa.delete(MessageReaction).where(col(MessageReaction.message_id) == message_id))
    _bump(session, conv, msg)
    return _announce(session, conv, msg, member)


def _release_image(session: Session, msg: Message) -> None:
    """A deleted message's image becomes an orphan (housekeeping deletes its files and row at
    its next sweep; media.viewable serves it to nobody meanwhile), unless another message of
    the conversation still shows it (an upload may be sent twice: its claim is idempotent)."""
    image = session.get(Media, msg.media_ref or "")
    if image is None or image.conversation_id != msg.conversation_id:
        return
    still_shown = session.exec(
        select(Message.id)
        .where(
            Message.conversation_id == msg.conversation_id,
            Message.media_ref == image.id,
            Message.id != msg.id,
            col(Message.deleted_at).is_(None),
        )
        .limit(1)
    ).first()
    if still_shown is not None:
        return
    image.conversation_id = None
    image.created_at = datetime(2000, 1, 1, tzinfo=UTC)  # (due at the next sweep)
    session.add(image)


def react(*, session: Session, user_id: int, message_id: int, emoji: str) -> ChangedOut:
    """Toggle the user's reaction with one of the fixed emoji."""
    if emoji not in REACTIONS:
        raise ServiceError("Pick one of the reactions offered.")
    msg, conv, member = _locked_message(session, user_id, message_id)
    if msg.deleted_at is not None:
        raise ServiceError("That message was deleted.")
    mine = session.get(MessageReaction, (message_id, user_id, emoji))
    if mine is not None:
        session.delete(mine)
    else:
        session.add(MessageReaction(message_id=message_id, user_id=user_id, emoji=emoji))
    session.flush()
    _bump(session, conv, msg)
    return _announce(session, conv, msg, member)


def reactions_of(session: Session, message_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """Reactions of these messages: {message id: {emoji: [user ids, in order]}} (one query)."""
    if not message_ids:
        return {}
    out: dict[int, dict[str, list[int]]] = {}
    rows = session.exec(
        select(MessageReaction)
        .where(col(MessageReaction.message_id).in_(message_ids))
        .order_by(col(MessageReaction.created_at), col(MessageReaction.user_id))
    ).all()
    for r in rows:
        out.setdefault(r.message_id, {}).setdefault(r.emoji, []).append(r.user_id)
    return {m: {e: v[e] for e in REACTIONS if e in v} for m, v in out.items()}


def quotes_of(
    session: Session, items: list[MessageOut], reader: Window | None = None
) -> dict[int, QuoteOut]:
    """The quoted messages of these replies (one query for the messages, one for names).
    ``reader``: the reader's window (membership.window); a quoted message outside it is left
    out (a member added later does not read what was said before, not even in a quote)."""
    wanted = {m.reply_to_id for m in items if m.reply_to_id}
    if reader is not None:
        wanted = {i for i in wanted if _within(i, reader)}
    if not wanted:
        return {}
    found = {m.id: m for m in session.exec(select(Message).where(col(Message.id).in_(wanted)))}
    names = {
        u.id: u.display_name
        for u in session.exec(
            select(User).where(col(User.id).in_({m.sender_id for m in found.values()}))
        )
    }
    return {
        i: quote(m, names.get(m.sender_id, "Someone")) for i, m in found.items() if i is not None
    }


def _within(message_id: int, reader: Window) -> bool:
    low, until = reader
    return message_id > low and (until is None or message_id <= until)


def quote_readers(
    session: Session, *, conversation_id: int, quoted_id: int, member_ids: list[int]
) -> tuple[list[int], list[int]]:
    """Of these current members, who may read the quoted message of a reply, and who may not
    (added to the group after it: they get the reply without its quote)."""
    low_of = dict(current_member_windows(session=session, conversation_id=conversation_id))
    readers = [u for u in member_ids if quoted_id > low_of.get(u, 0)]
    return readers, [u for u in member_ids if quoted_id <= low_of.get(u, 0)]


def excerpt(body: str, *, deleted: bool = False) -> str:
    """What a quote shows of a message's text: one line, at most QUOTE_CHARS; nothing of a
    deleted message."""
    text = "" if deleted else " ".join(body.split())
    if len(text) > QUOTE_CHARS:
        text = text[: QUOTE_CHARS - 1] + "…"
    return text


def quote(m: Message, sender_name: str) -> QuoteOut:
    assert m.id is not None
    deleted = m.deleted_at is not None
    text = excerpt(m.body, deleted=deleted)
    return QuoteOut(
        id=m.id,
        sender_id=m.sender_id,
        sender_name=sender_name,
        body=text,
        has_image=bool(m.media_ref) and not deleted,
        deleted=deleted,
    )


def reply_target(
    *, session: Session, user_id: int, conversation_id: int, message_id: int
) -> QuoteOut:
    """The message a reply may quote: one the user may read in that conversation."""
    member = require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    low, until = window(member)
    m = session.get(Message, message_id)
    if (
        m is None
        or m.conversation_id != conversation_id
        or m.system is not None
        or (m.id or 0) <= low
        or (until is not None and (m.id or 0) > until)
    ):
        raise NotAllowed(NOT_FOUND)
    sender = session.get(User, m.sender_id)
    return quote(m, sender.display_name if sender else "Someone")


def changes_after(
    *, session: Session, user_id: int, conversation_id: int, after_seq: int
) -> ChangesOut:
    """Messages changed after change number ``after_seq`` (within what the user may read), as
    they are now; ``complete`` False when more than MAX_CHANGES changed (reload instead)."""
    member = require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    conv = session.get(Conversation, conversation_id)
    assert conv is not None
    low, until = window(member)
    stmt = (
        select(Message, col(Media.width), col(Media.height))
        .outerjoin(Media, col(Media.id) == col(Message.media_ref))
        .where(
            Message.conversation_id == conversation_id,
            col(Message.change_seq) > after_seq,
            col(Message.id) > low,
        )
    )
    if until is not None:
        stmt = stmt.where(col(Message.id) <= until)
    rows = list(session.exec(stmt.order_by(col(Message.change_seq)).limit(MAX_CHANGES + 1)))
    outs = [
        MessageOut.of(m, media_width=w or 0, media_height=h or 0) for m, w, h in rows[:MAX_CHANGES]
    ]
    reactions = reactions_of(session, [m.id for m in outs])
    quotes = quotes_of(session, outs, (low, until))
    return ChangesOut(
        items=[
            ChangedOut(o, reactions.get(o.id, {}), quotes.get(o.reply_to_id or 0)) for o in outs
        ],
        seq=conv.change_seq or 0,
        complete=len(rows) <= MAX_CHANGES,
    )


def _changed(session: Session, msg: Message, reader: Window | None = None) -> ChangedOut:
    """The message as it is now (its image's size too: the bubble keeps its box), with its
    reactions and its quote (left out when outside ``reader``'s window)."""
    image = session.get(Media, msg.media_ref) if msg.media_ref and not msg.deleted_at else None
    out = MessageOut.of(
        msg,
        media_width=image.width if image is not None else 0,
        media_height=image.height if image is not None else 0,
    )
    q = quotes_of(session, [out], reader).get(out.reply_to_id or 0)
    return ChangedOut(out, reactions_of(session, [out.id]).get(out.id, {}), q)


def _announce(
    session: Session, conv: Conversation, msg: Message, actor: ConversationMember
) -> ChangedOut:
    """Publish the change on commit to the current members who read the message (not those
    added after it), the quote only to those who read the quoted message too; return the
    message as the actor sees it."""
    changed = _changed(session, msg)
    assert conv.id is not None and msg.id is not None
    sender = session.get(User, msg.sender_id)
    name = sender.display_name if sender else ""
    seq = conv.change_seq or 0
    readers = [
        (u, low)
        for u, low in current_member_windows(session=session, conversation_id=conv.id)
        if msg.id > low
    ]
    quoted = changed.quote.id if changed.quote is not None else 0
    if full := [u for u, low in readers if not quoted or quoted > low]:
        send_event_on_commit(full, change_event(changed, seq, name))
    if blind := [u for u, low in readers if quoted and quoted <= low]:
        send_event_on_commit(blind, change_event(replace(changed, quote=None), seq, name))
    if changed.quote is not None and not _within(changed.quote.id, window(actor)):
        return replace(changed, quote=None)
    return changed


def change_event(changed: ChangedOut, seq: int, sender_name: str = "") -> dict[str, object]:
    """What tabs get for a change: the message as it is now (the same whatever the history a
    tab shows: O(1) bytes)."""
    m = changed.message
    return {
        "type": "change",
        "conv": m.conversation_id,
        "seq": seq,
        "message": wire.message(m, changed.quote),
        "reactions": changed.reactions,
        "name": sender_name,  # (a group's sidebar preview names who wrote it)
    }


def reactors(*, session: Session, user_id: int, message_id: int) -> list[str]:
    """Who reacted to a message, one line per emoji ("👍 Ann, Bob"), for someone who may read
    it (NotAllowed otherwise, as for no such message)."""
    m = session.get(Message, message_id)
    if m is None:
        raise NotAllowed(NOT_FOUND)
    try:
        member = require_reader(session=session, user_id=user_id, conversation_id=m.conversation_id)
    except NotAllowed:
        raise NotAllowed(NOT_FOUND) from None
    low, until = window(member)
    if (m.id or 0) <= low or (until is not None and (m.id or 0) > until):
        raise NotAllowed(NOT_FOUND)
    by_emoji = reactions_of(session, [message_id]).get(message_id, {})
    ids = {u for users in by_emoji.values() for u in users}
    names = {u.id: u.display_name for u in session.exec(select(User).where(col(User.id).in_(ids)))}
    return [
        f"{e} {', '.join('You' if u == user_id else names.get(u, '?') for u in users)}"
        for e, users in by_emoji.items()
    ]
