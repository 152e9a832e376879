"""Messages: send (idempotent), read history (keyset pages), catch up after a reconnect."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from chatapp import wire
from chatapp.db import get_engine
from chatapp.models import Conversation, Media, Message, User, utcnow
from chatapp.observability import metrics
from chatapp.services.conversations import get_conversation, mark_read, member_ids
from chatapp.services.dto import (
    ChangesOut,
    ConversationOut,
    MessageOut,
    MessagePage,
    PersonOut,
    QuoteOut,
    SendResult,
)
from chatapp.services.errors import NotAllowed, ServiceError, Throttled
from chatapp.services.events import send_event_on_commit
from chatapp.services.hints import messages_by_conversation
from chatapp.services.media import claim_for_message, thumb_url
from chatapp.services.membership import current_member_windows, require_reader, window
from chatapp.services.rawsql import RawStatement, integrity_error, is_mysql
from chatapp.services.throttle import get_login_throttle
from chatapp.wire import GroupCard, MessageEvent, SenderCard

_M = Message.__table__  # type: ignore[attr-defined]

_BY_CLIENT_ID = sa.select(_M.c.id).where(
    _M.c.sender_id == sa.bindparam("p_sender"), _M.c.client_id == sa.bindparam("p_cid")
)

# The hot path runs on the DB-API cursor (see rawsql.py for why and how much).
_LOCK_CONVERSATION = RawStatement(
    "SELECT kind, title, picture_ref FROM conversations WHERE id = :conv", for_update=True
)
_MEMBERS = RawStatement(
    "SELECT user_id FROM conversation_members WHERE conversation_id = :conv AND left_at IS NULL"
)
_INSERT_MESSAGE = RawStatement(
    "INSERT INTO messages (conversation_id, sender_id, client_id, body, media_ref, created_at,"
    " reply_to_id) VALUES (:conv, :sender, :cid, :body, :media, :at, :reply)"
)
_SET_LAST_MESSAGE = RawStatement(
    "UPDATE conversations SET last_message_id = :mid, last_message_at = :at WHERE id = :conv"
)
_SET_READ_MARKER = RawStatement(
    "UPDATE conversation_members SET last_read_message_id = :mid"
    " WHERE conversation_id = :conv AND user_id = :user"
)
# MySQL/MariaDB: both in one multi-table UPDATE (one round trip fewer per send).
_SET_LAST_MESSAGE_AND_READ_MARKER = RawStatement(
    "UPDATE conversations c JOIN conversation_members m"
    " ON m.conversation_id = c.id AND m.user_id = :user"
    " SET c.last_message_id = :mid, c.last_message_at = :at, m.last_read_message_id = :mid"
    " WHERE c.id = :conv"
)

MAX_BODY_CHARS = 4000
PAGE_SIZE = 50
MAX_PAGE = 200
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def clean_body(body: str) -> str:
    """Trimmed body, or ServiceError with a message for the sender (never truncated)."""
    text = body.strip()
    if not text:
        raise ServiceError("Type a message first.")
    if len(text) > MAX_BODY_CHARS:
        raise ServiceError(
            f"Messages can be at most {MAX_BODY_CHARS:,} characters (this one has {len(text):,})."
        )
    return text


def admit_send(*, sender_id: int) -> None:
    """Count one message against its sender's rate (a burst, then a steady rate; SECURITY.md);
    Throttled, saying how long to wait, when over it. No database: asked before any work."""
    wait = get_login_throttle().send(sender_id)
    if wait:
        raise Throttled(
            f"You are sending messages too fast. Wait {wait} second{'s' if wait != 1 else ''}"
            " and send again."
        )


def send_message(
    *,
    sender_id: int,
    conversation_id: int,
    body: str,
    client_id: str,
    media_ref: str | None = None,
    reply_to_id: int | None = None,
    origin: str = "",
    sender: SenderCard | None = None,
    session: Session | None = None,
    engine: sa.Engine | None = None,
) -> SendResult:
    """Store a message once per (sender, client id); a retry returns the stored one. A new
    message is published to the conversation's current members after commit (an event on
    commit): ``origin`` is the tab it came from (it shows it already), ``sender`` the name and
    avatar shown with it (read from the database when not given).

    The one send function. Without ``session`` it runs in its own transaction, committed when
    this returns: the hot path of a running server, on a plain connection instead of an ORM
    session (the session's set-up and commit machinery cost as much CPU as the statements
    themselves; one is made only for the rare image claim, retry or sender look-up). With
    ``session`` it runs in that session's transaction and the caller commits (tests that
    interleave two sends, seeds).
    """
    args: dict[str, Any] = {
        "sender_id": sender_id,
        "conversation_id": conversation_id,
        "body": body,
        "client_id": client_id,
        "media_ref": media_ref,
        "reply_to_id": reply_to_id,
        "origin": origin,
        "sender": sender,
    }
    if session is not None:
        return _send_and_announce(session.connection(), lambda: session, **args)
    with (engine or get_engine()).begin() as conn:  # begin(): commits on success
        orm: Session | None = None

        def session_on_conn() -> Session:
            nonlocal orm
            if orm is None:
                orm = Session(bind=conn, expire_on_commit=False)
            return orm

        try:
            result = _send_and_announce(conn, session_on_conn, **args)
            if orm is not None:
                orm.flush()
        finally:
            if orm is not None:
                orm.close()
    if result.created:  # committed (begin() above)
        metrics.MESSAGES_STORED.inc()
    return result


def _send_and_announce(
    conn: sa.Connection,
    session: Callable[[], Session],
    *,
    origin: str,
    sender: SenderCard | None,
    **args: Any,
) -> SendResult:
    result = _send(conn, session, **args)
    if result.created:
        card = sender or _sender_card(session(), result.message.sender_id)
        group = _group_card(result)
        to: list[int] = result.member_ids
        blind: list[int] = []
        if result.quote is not None and group is not None:
            # A group's members added after the quoted message get the reply without it.
            from chatapp.services.lifecycle import quote_readers

            to, blind = quote_readers(
                session(),
                conversation_id=result.message.conversation_id,
                quoted_id=result.quote.id,
                member_ids=result.member_ids,
            )
        event = message_event(result.message, card, origin=origin, group=group, quote=result.quote)
        send_event_on_commit(to, event)
        if blind:
            send_event_on_commit(blind, message_event(result.message, card, group=group))
    else:
        # A retry of a stored send: the first attempt may have committed without its answer
        # (the database stopped mid-commit), so nothing was published. Announce it again.
        _announce_again(session(), result, origin=origin, sender=sender)
    return result


def _announce_again(
    session: Session,
    result: SendResult,
    *,
    origin: str,
    sender: SenderCard | None,
    windows: list[tuple[int, int]] | None = None,
) -> None:
    """Publish a stored message again (``again``: tabs that show it drop it by client id), on
    commit, to the current members who may read it, if it was stored in the last
    AGAIN_WITHIN_S seconds (an older one was announced, or caught up, long since).
    ``windows``: the conversation's current_member_windows, when the caller has them."""
    m = result.message
    at = m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC)
    if at < utcnow() - timedelta(seconds=AGAIN_WITHIN_S):
        return
    from chatapp.services.lifecycle import quotes_of  # (lifecycle builds on this module)

    if windows is None:
        windows = current_member_windows(session=session, conversation_id=m.conversation_id)
    low_of = dict(windows)
    readers = [u for u in result.member_ids if u in low_of and low_of[u] < m.id]
    quoted = quotes_of(session, [m]).get(m.reply_to_id or 0)
    to = [u for u in readers if quoted is None or quoted.id > low_of[u]]
    blind = [u for u in readers if u not in to]
    card = sender or _sender_card(session, m.sender_id)
    group = _conversation_card(session, m.conversation_id)
    if to:
        send_event_on_commit(
            to, message_event(m, card, origin=origin, again=True, group=group, quote=quoted)
        )
    if blind:
        send_event_on_commit(blind, message_event(m, card, again=True, group=group))


def message_event(
    m: MessageOut,
    sender: SenderCard,
    *,
    origin: str = "",
    again: bool = False,
    group: GroupCard | None = None,
    quote: QuoteOut | None = None,
) -> MessageEvent:
    event: MessageEvent = {
        "type": "message",
        "origin": origin,
        "message": wire.message(m, quote),
        "sender": sender,
    }
    if again:
        event["again"] = True
    if group is not None:
        event["group"] = group
    return event


def _group_card(result: SendResult) -> GroupCard | None:
    if result.group_title is None:
        return None
    return {"title": result.group_title, "avatar": thumb_url(result.group_picture)}


def _conversation_card(session: Session, conversation_id: int) -> GroupCard | None:
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.kind != "group":
        return None
    return {"title": conv.title or "", "avatar": thumb_url(conv.picture_ref)}


def _sender_card(session: Session, user_id: int) -> SenderCard:
    u = session.get(User, user_id)
    if u is None:
        return wire.sender_card(user_id, "Deleted account", "", "")
    return wire.sender_card(user_id, u.display_name, u.username, thumb_url(u.avatar_ref))


def _send(
    conn: sa.Connection,
    session: Callable[[], Session],
    *,
    sender_id: int,
    conversation_id: int,
    body: str,
    client_id: str,
    media_ref: str | None,
    reply_to_id: int | None = None,
) -> SendResult:
    """The send itself, on ``conn``'s open transaction; ``session()`` gives an ORM session on
    the same transaction for the rare paths."""
    if not CLIENT_ID_RE.fullmatch(client_id or ""):
        raise ServiceError("Invalid message id.")
    text = body.strip() if media_ref else clean_body(body)
    if len(text) > MAX_BODY_CHARS:
        raise ServiceError(f"Captions can be at most {MAX_BODY_CHARS:,} characters.")
    # Lock the conversation row first. Sends to one conversation queue here, which (a) avoids a
    # deadlock between two members (each INSERT's foreign-key check share-locks the row the
    # UPDATE below needs) and (b) makes the retry check below exact: a concurrent retry of the
    # same send waits for this transaction and then sees its row (READ COMMITTED).
    row = _LOCK_CONVERSATION.execute(conn, {"conv": conversation_id}).fetchone()
    kind = row[0] if row is not None else None
    group = (row[1] or "", row[2]) if kind == "group" else (None, None)
    members = _members(conn, conversation_id, cacheable=kind == "direct")
    if kind is None or sender_id not in members:
        raise NotAllowed("You are not in this conversation.")
    quoted: QuoteOut | None = None
    if reply_to_id:
        from chatapp.services.lifecycle import reply_target  # (lifecycle builds on this module)

        quoted = reply_target(
            session=session(),
            user_id=sender_id,
            conversation_id=conversation_id,
            message_id=reply_to_id,
        )
    image: Media | None = None
    if media_ref:
        # The claim reads the Media row anyway: its size comes along (text sends skip this).
        image = claim_for_message(
            session=session(),
            media_id=media_ref,
            sender_id=sender_id,
            conversation_id=conversation_id,
        )
    now = utcnow()
    try:
        # Optimistic: a retry is rare, so let the unique (sender, client id) key catch it
        # instead of looking first. A failed INSERT leaves the transaction usable.
        cur = _INSERT_MESSAGE.execute(
            conn,
            {
                "conv": conversation_id,
                "sender": sender_id,
                "cid": client_id,
                "body": text,
                "media": media_ref,
                "at": now,
                "reply": reply_to_id or None,
            },
        )
    except integrity_error(conn):
        existing = _by_client_id(session(), sender_id, client_id)
        if existing is None:
            raise
        return _replay(session(), existing, conversation_id, list(members), image, group)
    msg_id = int(cur.lastrowid)
    # The conversation's latest message; and your own message is read by you (and so is
    # everything before it).
    marks = {"conv": conversation_id, "user": sender_id, "mid": msg_id, "at": now}
    if is_mysql(conn):
        _SET_LAST_MESSAGE_AND_READ_MARKER.execute(conn, marks)
    else:
        _SET_LAST_MESSAGE.execute(conn, marks)
        _SET_READ_MARKER.execute(conn, marks)
    out = MessageOut(
        id=msg_id,
        conversation_id=conversation_id,
        sender_id=sender_id,
        client_id=client_id,
        body=text,
        media_ref=media_ref,
        created_at=now,
        edited_at=None,
        media_width=image.width if image is not None else 0,
        media_height=image.height if image is not None else 0,
        reply_to_id=reply_to_id or None,
    )
    return SendResult(
        message=out,
        created=True,
        member_ids=list(members),
        group_title=group[0],
        group_picture=group[1],
        quote=quoted,
    )


# Members of direct conversations never change: remember them instead of asking each time.
_direct_members: dict[tuple[sa.URL, int], tuple[int, ...]] = {}
_DIRECT_CACHE_MAX = 50_000


def _members(conn: sa.Connection, conversation_id: int, *, cacheable: bool) -> tuple[int, ...]:
    key = (conn.engine.url, conversation_id)  # one process may use several databases
    if cacheable and (hit := _direct_members.get(key)) is not None:
        return hit
    members = tuple(r[0] for r in _MEMBERS.execute(conn, {"conv": conversation_id}).fetchall())
    if cacheable and members:
        if len(_direct_members) >= _DIRECT_CACHE_MAX:
            _direct_members.clear()
        _direct_members[key] = members
    return members


def _by_client_id(session: Session, sender_id: int, client_id: str) -> Message | None:
    found = (
        session.connection()
        .execute(_BY_CLIENT_ID, {"p_sender": sender_id, "p_cid": client_id})
        .scalar()
    )
    return session.get(Message, found) if found is not None else None


AGAIN_WITHIN_S = 120  # a re-sent message found stored this recently is announced again


def stored_sends(
    *,
    session: Session,
    sender_id: int,
    client_ids: list[str],
    origin: str = "",
    sender: SenderCard | None = None,
) -> list[SendResult]:
    """The sender's messages already stored under these client ids, with their conversations'
    members. A tab back from a crash asks this before re-sending what it never saw confirmed:
    those are not stored again. Those stored in the last AGAIN_WITHIN_S seconds are announced
    again on commit (``again``): the process that stored one may have died before publishing
    it, and recipients drop what they already show."""
    wanted = [c for c in client_ids if CLIENT_ID_RE.fullmatch(c)][:100]
    if not wanted:
        return []
    rows = session.exec(
        select(Message, col(Media.width), col(Media.height))
        .outerjoin(Media, col(Media.id) == col(Message.media_ref))
        .where(col(Message.sender_id) == sender_id, col(Message.client_id).in_(wanted))
    ).all()  # (on the unique (sender_id, client_id) key)
    windows: dict[int, list[tuple[int, int]]] = {}
    out = []
    for m, width, height in rows:
        conv = m.conversation_id
        if conv not in windows:
            windows[conv] = current_member_windows(session=session, conversation_id=conv)
        # Who may read it now: a group's members added since it was sent do not.
        readers = [u for u, low in windows[conv] if low < (m.id or 0)]
        result = SendResult(message=_out(m, width, height), created=False, member_ids=readers)
        out.append(result)
        _announce_again(session, result, origin=origin, sender=sender, windows=windows[conv])
    return out


def post_system_line(
    *,
    session: Session,
    conversation_id: int,
    actor_id: int,
    kind: str,
    text: str,
    also_to: list[int] | None = None,
) -> MessageOut:
    """A system line ("alice added bob") in a group's timeline, stored like a message (so it is
    in history, in catch-up and in the sidebar preview) and published on commit to the current
    members and ``also_to`` (someone just removed sees why). The caller holds the
    conversation's lock (services/groups.py)."""
    now = utcnow()
    msg = Message(
        conversation_id=conversation_id,
        sender_id=actor_id,
        client_id="sys-" + secrets.token_urlsafe(12),
        body=text[:MAX_BODY_CHARS],
        created_at=now,
        system=kind,
    )
    session.add(msg)
    session.flush()
    assert msg.id is not None
    _SET_LAST_MESSAGE.execute(
        session.connection(), {"conv": conversation_id, "mid": msg.id, "at": now}
    )
    out = MessageOut.of(msg)
    to = set(member_ids(session=session, conversation_id=conversation_id)) | set(also_to or ())
    card = _conversation_card(session, conversation_id)
    send_event_on_commit(
        sorted(to), message_event(out, _sender_card(session, actor_id), group=card)
    )
    return out


def _replay(
    session: Session,
    existing: Message,
    conversation_id: int,
    members: list[int],
    image: Media | None,
    group: tuple[str | None, str | None],
) -> SendResult:
    if existing.conversation_id != conversation_id:
        raise ServiceError("Invalid message id.")
    if existing.media_ref and (image is None or image.id != existing.media_ref):
        image = session.get(Media, existing.media_ref)  # a retry that names another image
    return SendResult(
        message=_out(existing, image.width, image.height) if image else MessageOut.of(existing),
        created=False,
        member_ids=members,
        group_title=group[0],
        group_picture=group[1],
    )


def _out(m: Message, width: int | None, height: int | None) -> MessageOut:
    """``width``/``height`` from the outer-joined Media row (None when it is gone)."""
    return MessageOut.of(m, media_width=width or 0, media_height=height or 0)


def _select_with_image_size() -> Select[Message, int, int]:
    """Messages with the size of their image: an outer join on the media primary key (one
    eq_ref lookup per row that has an image). Width and height are None in a row without an
    image. The messages are read as a range on (conversation_id, id): see hints.py."""
    return messages_by_conversation(
        select(Message, col(Media.width), col(Media.height)).outerjoin(
            Media, col(Media.id) == col(Message.media_ref)
        )
    )


def list_messages(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> MessagePage:
    """The newest `limit` messages before `before_id` (keyset on the message id, never OFFSET)
    that the user may read (a group's member: from when they were added; a former member: up
    to when they left)."""
    member = require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    low, until = window(member)
    conv = session.get(Conversation, conversation_id)
    group = conv is not None and conv.kind == "group"
    limit = max(1, min(limit, MAX_PAGE))
    stmt = _select_with_image_size().where(Message.conversation_id == conversation_id)
    if before_id is not None:
        stmt = stmt.where(col(Message.id) < before_id)
    if low:
        stmt = stmt.where(col(Message.id) > low)
    if until is not None:
        stmt = stmt.where(col(Message.id) <= until)
    rows = list(session.exec(stmt.order_by(col(Message.id).desc()).limit(limit + 1)).all())
    # The extra row (fetched to know has_more) is the message just before the page.
    before = rows[limit][0] if len(rows) > limit else None
    items = [_out(m, w, h) for m, w, h in reversed(rows[:limit])]
    return MessagePage(
        items=items,
        has_more=before is not None,
        before_at=before.created_at if before is not None else None,
        before_sender=before.sender_id if before is not None else 0,
        # A member's newest page (opening the group) names every current member too: a tab
        # keeps one map of who is who for the open group, and a message then carries no name.
        # (Not for a former member: who joined since is none of their business.)
        senders=_senders(
            session, items, conversation_id if before_id is None and until is None else 0
        )
        if group
        else {},
        **_extras(session, conv, items, (low, until)),
    )


def _extras(
    session: Session,
    conv: Conversation | None,
    items: list[MessageOut],
    reader: tuple[int, int | None],
) -> dict[str, Any]:
    """Reactions and quotes of a page's messages (quotes within the ``reader``'s window), and
    the conversation's change number. (A conversation that never changed has no reactions: no
    query.)"""
    from chatapp.services.lifecycle import quotes_of, reactions_of

    seq = conv.change_seq if conv is not None else 0
    ids = [m.id for m in items]
    return {
        "reactions": reactions_of(session, ids) if seq else {},
        "quotes": quotes_of(session, items, reader),
        "seq": seq or 0,
    }


def _senders(
    session: Session, items: list[MessageOut], members_of: int = 0
) -> dict[int, PersonOut]:
    """Name and avatar of who wrote these messages, for a group's bubbles, and of the current
    members of ``members_of`` when given (one query)."""
    ids = {m.sender_id for m in items if m.system is None}
    if members_of:
        ids.update(member_ids(session=session, conversation_id=members_of))
    if not ids:
        return {}
    people = session.exec(select(User).where(col(User.id).in_(ids)))
    return {u.id or 0: PersonOut.of(u) for u in people}


def messages_after(
    *, session: Session, user_id: int, conversation_id: int, after_id: int, limit: int = MAX_PAGE
) -> MessagePage:
    """Messages newer than `after_id`, oldest first (catching up after a reconnect).
    `has_more` means more than `limit` were missed: reload the newest page instead."""
    member = require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    low, until = window(member)
    conv = session.get(Conversation, conversation_id)
    group = conv is not None and conv.kind == "group"
    stmt = _select_with_image_size().where(
        Message.conversation_id == conversation_id, col(Message.id) > max(after_id, low)
    )
    if until is not None:
        stmt = stmt.where(col(Message.id) <= until)
    rows = list(session.exec(stmt.order_by(col(Message.id)).limit(limit + 1)).all())
    items = [_out(m, w, h) for m, w, h in rows[:limit]]
    return MessagePage(
        items=items,
        has_more=len(rows) > limit,
        senders=_senders(session, items) if group else {},
        **_extras(session, conv, items, (low, until)),
    )


def open_conversation(
    *, session: Session, user_id: int, conversation_id: int, origin: str = ""
) -> tuple[ConversationOut, MessagePage]:
    """Opening a conversation, in one transaction: authorise, its sidebar row, the newest page,
    and the reader's marker moved to the end (the user's other tabs clear the badge)."""
    row = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    page = list_messages(session=session, user_id=user_id, conversation_id=conversation_id)
    mark_read(session=session, user_id=user_id, conversation_id=conversation_id, origin=origin)
    return row, page


def catch_up(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    after_id: int,
    after_seq: int,
    origin: str = "",
) -> tuple[ConversationOut, MessagePage, ChangesOut]:
    """A tab back on a new connection with its view intact: its sidebar row, the messages
    after ``after_id`` and the changes after change number ``after_seq`` ("what changed after
    N", not a reload), and the reader's marker moved to the end. The caller reloads instead
    when either answer is incomplete (``has_more`` / not ``complete``)."""
    from chatapp.services.lifecycle import changes_after  # (lifecycle builds on this module)

    row = get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    page = messages_after(
        session=session, user_id=user_id, conversation_id=conversation_id, after_id=after_id
    )
    changes = changes_after(
        session=session, user_id=user_id, conversation_id=conversation_id, after_seq=after_seq
    )
    mark_read(session=session, user_id=user_id, conversation_id=conversation_id, origin=origin)
    return row, page, changes
