"""Conversations: who talks to whom, the sidebar, search, read markers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from chatapp.models import Conversation, ConversationMember, Message, User
from chatapp.services.dto import ConversationOut, MessageOut, PersonCard, PersonOut, ReaderOut
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.services.events import send_event_on_commit
from chatapp.services.hints import messages_by_conversation
from chatapp.services.membership import (
    NOT_A_MEMBER,
    current_member_ids,
    require_member,
    require_reader,
    window,
)
from chatapp.services.notifications import is_muted

__all__ = ["PersonCard", "require_member", "require_reader"]

SIDEBAR_LIMIT = 50
# Unread badges show "99+" past this. The count itself is an index range scan on
# (conversation_id, id) from the read marker, so it stays cheap for realistic backlogs.
UNREAD_CAP = 100


def direct_key(a: int, b: int) -> str:
    lo, hi = sorted((a, b))
    return f"{lo}:{hi}"


def member_ids(*, session: Session, conversation_id: int) -> list[int]:
    """Who receives the conversation's new messages (its current members)."""
    return current_member_ids(session=session, conversation_id=conversation_id)


def open_direct(*, session: Session, user_id: int, other_user_id: int) -> int:
    """The id of the direct conversation between two users, created on first use."""
    if user_id == other_user_id:
        raise ServiceError("Pick someone else to talk to.")
    if session.get(User, other_user_id) is None:
        raise NotAllowed("That person does not exist.")
    key = direct_key(user_id, other_user_id)
    existing = session.exec(select(Conversation.id).where(Conversation.direct_key == key)).first()
    if existing is not None:
        return existing
    conv = Conversation(kind="direct", creator_id=user_id, direct_key=key)
    try:
        with session.begin_nested():
            session.add(conv)
            session.flush()
            assert conv.id is not None
            session.add(ConversationMember(conversation_id=conv.id, user_id=user_id))
            session.add(ConversationMember(conversation_id=conv.id, user_id=other_user_id))
            session.flush()
    except IntegrityError:
        # Both people opened the conversation at the same moment: the other insert won.
        found = session.exec(select(Conversation.id).where(Conversation.direct_key == key)).one()
        assert found is not None
        return found
    assert conv.id is not None
    return conv.id


def _unread_counts(
    session: Session, user_id: int, convs: list[Conversation], mine: dict[int, ConversationMember]
) -> dict[int, int]:
    """Unread messages per conversation, counted only up to UNREAD_CAP each (system lines and
    the user's own messages do not count; a former member's count ends where they left).

    One statement: a UNION ALL of one LIMITed index range scan per conversation that has
    anything newer than the read marker, so a backlog of 100,000 costs what 100 does."""
    m = Message.__table__  # type: ignore[attr-defined]
    parts = []
    for c in convs:
        member = mine.get(c.id or 0)
        if c.id is None or member is None or not c.last_message_id:
            continue
        low, until = window(member)
        marker = max(member.last_read_message_id or 0, low)
        last_id = min(c.last_message_id, until) if until is not None else c.last_message_id
        if last_id <= marker:
            continue
        where = [
            m.c.conversation_id == c.id,
            m.c.id > marker,
            m.c.sender_id != user_id,
            m.c.deleted_at.is_(None),
            m.c.system.is_(None),
        ]
        if until is not None:
            where.append(m.c.id <= until)
        window_q = messages_by_conversation(
            sa.select(sa.literal(1).label("one")).where(*where).limit(UNREAD_CAP)
        ).subquery()
        parts.append(
            sa.select(sa.literal(c.id).label("cid"), sa.func.count().label("n")).select_from(
                window_q
            )
        )
    if not parts:
        return {}
    stmt = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return {int(cid): int(n) for cid, n in session.connection().execute(stmt) if n}


def _last_shown(session: Session, conv: Conversation, member: ConversationMember) -> int | None:
    """The newest message id the member sees in the conversation."""
    _low, until = window(member)
    if until is None or not conv.last_message_id or conv.last_message_id <= until:
        return conv.last_message_id
    assert conv.id is not None
    return session.exec(
        select(sa.func.max(Message.id)).where(
            Message.conversation_id == conv.id, col(Message.id) <= until
        )
    ).one()


def list_conversations(
    *, session: Session, user_id: int, limit: int = SIDEBAR_LIMIT, only_ids: list[int] | None = None
) -> list[ConversationOut]:
    """The user's conversations, most recent activity first, with previews and unread counts:
    direct ones and groups, also groups the user left or was removed from (read-only)."""
    stmt = (
        select(Conversation, ConversationMember)
        .join(ConversationMember, col(ConversationMember.conversation_id) == col(Conversation.id))
        .where(ConversationMember.user_id == user_id)
    )
    if only_ids is not None:
        stmt = stmt.where(col(Conversation.id).in_(only_ids))
    # By the newest message the user sees: a group they left does not climb with what is
    # said there after they left (it would tell them it is still active).
    newest = case(
        (col(ConversationMember.left_at).is_not(None), col(ConversationMember.history_until_id)),
        else_=col(Conversation.last_message_id),
    )
    stmt = stmt.order_by(
        case((newest.is_(None), 1), else_=0), newest.desc(), col(Conversation.id).desc()
    ).limit(limit)
    pairs = list(session.exec(stmt).all())
    if not pairs:
        return []
    convs = [c for c, _m in pairs]
    mine = {c.id or 0: m for c, m in pairs}
    shown = {c.id or 0: _last_shown(session, c, mine[c.id or 0]) for c in convs}
    last_ids = [i for i in shown.values() if i]
    last = (
        {m.id: m for m in session.exec(select(Message).where(col(Message.id).in_(last_ids))).all()}
        if last_ids
        else {}
    )
    # The other member of each direct conversation.
    direct = [c.id for c in convs if c.kind != "group" and c.id is not None]
    peers: dict[int, PersonOut] = {}
    if direct:
        for cid, user in session.exec(
            select(ConversationMember.conversation_id, User)
            .join(User, col(User.id) == col(ConversationMember.user_id))
            .where(col(ConversationMember.conversation_id).in_(direct), User.id != user_id)
        ).all():
            peers.setdefault(cid, PersonOut.of(user))
    # Who wrote each group's last message (its preview says "bob: hi").
    writers = {m.sender_id for m in last.values() if m.system is None and m.sender_id != user_id}
    names = (
        {
            i: n
            for i, n in session.exec(
                select(User.id, User.display_name).where(col(User.id).in_(writers))
            ).all()
        }
        if writers
        else {}
    )
    unread = _unread_counts(session, user_id, convs, mine)
    out = []
    for c in convs:
        assert c.id is not None
        group = c.kind == "group"
        peer = peers.get(c.id) if not group else None
        lm = last.get(shown[c.id]) if shown[c.id] else None
        member = mine[c.id]
        out.append(
            ConversationOut(
                id=c.id,
                kind=c.kind,
                title=c.title or (peer.display_name if peer else "Conversation"),
                peer=peer,
                last_message=MessageOut.of(lm) if lm else None,
                unread=unread.get(c.id, 0),
                picture_ref=c.picture_ref if group else None,
                role=member.role,
                left=member.left_at is not None,
                removed=bool(
                    member.left_at is not None
                    and lm is not None
                    and lm.id == member.history_until_id
                    and lm.system == "removed"
                ),
                last_sender_name=names.get(lm.sender_id, "") if group and lm else "",
                muted_until=member.muted_until if is_muted(member.muted_until) else None,
            )
        )
    return out


def get_conversation(*, session: Session, user_id: int, conversation_id: int) -> ConversationOut:
    """One sidebar row, for a current or former member (NotAllowed for anyone else)."""
    require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    rows = list_conversations(session=session, user_id=user_id, only_ids=[conversation_id])
    if not rows:
        raise NotAllowed(NOT_A_MEMBER)
    return rows[0]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


SEARCH_MIN_CHARS = 2
SEARCH_MAX_RESULTS = 20


def search_people(
    *, session: Session, user_id: int, query: str, limit: int = SEARCH_MAX_RESULTS
) -> list[PersonOut]:
    """People whose username or display name starts with `query` (case-insensitive), never
    yourself, at most `limit` (capped at SEARCH_MAX_RESULTS), ordered by username.

    A query shorter than SEARCH_MIN_CHARS (after trimming) finds nobody: the member list is
    not something to browse. Each side is one LIMITed prefix range scan on its own index
    (uq_users_username, ix_users_display_name), so the cost does not grow with the number of
    users; the two are merged here. With more matches than `limit`, each scan contributes its
    first ones in index order: typing more narrows it down.

    Case: usernames are stored lower-cased (so the query is lowered for that side); the
    display-name column is compared as is, since utf8mb4_unicode_ci makes LIKE case-insensitive
    on MySQL/MariaDB (SQLite's LIKE is case-insensitive for ASCII only). Wrapping the column in
    lower() would defeat the index.
    """
    q = query.strip()[:50]
    limit = min(limit, SEARCH_MAX_RESULTS)
    if len(q) < SEARCH_MIN_CHARS or limit <= 0:
        return []
    found: dict[int, User] = {}
    # One row more than needed per scan: the searcher may be among them (filtered out here,
    # not in SQL, so the WHERE clause is the prefix alone and the plan stays a range scan).
    # Each ORDER BY is its index's own order (InnoDB secondary keys end with the primary key),
    # so the scan stops after limit + 1 rows with no sort.
    scans = (
        (col(User.username), q.lower(), (col(User.username),)),
        (col(User.display_name), q, (col(User.display_name), col(User.id))),
    )
    for column, prefix, order in scans:
        rows = session.exec(
            select(User)
            .where(column.like(_like_escape(prefix) + "%", escape="\\"))
            .order_by(*order)
            .limit(limit + 1)
        ).all()
        for u in rows:
            if u.id is not None and u.id != user_id:
                found.setdefault(u.id, u)
    people = sorted(found.values(), key=lambda u: u.username)[:limit]
    return [PersonOut.of(u) for u in people]


def mark_read(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    up_to_id: int | None = None,
    origin: str = "",
) -> int:
    """Move the user's read marker forward (never back), to the newest message they may see or
    to ``up_to_id``. Returns the new marker. The user's other tabs clear the badge (an event on
    commit; ``origin`` is the tab that read it)."""
    member = require_reader(session=session, user_id=user_id, conversation_id=conversation_id)
    conv = session.get(Conversation, conversation_id)
    assert conv is not None
    newest = _last_shown(session, conv, member) or 0
    target = newest if up_to_id is None else max(0, min(up_to_id, newest))
    _move_markers(session, [(user_id, conversation_id, target)])
    session.refresh(member)
    send_event_on_commit([user_id], read_event(conversation_id, origin))
    if member.left_at is None:
        _announce_seen(session, [(user_id, conversation_id, member.last_read_message_id or 0)])
    return member.last_read_message_id or 0


def get_person(*, session: Session, user_id: int) -> PersonOut | None:
    u = session.get(User, user_id)
    return PersonOut.of(u) if u else None


def person_card(
    *, session: Session, user_id: int, viewer_id: int, found: bool = False
) -> PersonCard | None:
    """Another person's card (name, avatar, bio, last seen) for ``viewer_id``: only someone who
    shares a conversation with them, or found them by search (``found``: they are among the
    viewer's current search results) sees it (SECURITY.md). None otherwise, as for nobody, so
    that a crafted request does not even confirm that an account exists."""
    if not found and not shares_conversation(session=session, user_id=viewer_id, other_id=user_id):
        return None
    u = session.get(User, user_id)
    return PersonCard(PersonOut.of(u), u.bio) if u else None


def shares_conversation(*, session: Session, user_id: int, other_id: int) -> bool:
    """Whether the two are members of one conversation (on the members' primary key)."""
    mine = aliased(ConversationMember)
    theirs = aliased(ConversationMember)
    row = session.exec(
        select(mine.conversation_id)
        .join(theirs, col(theirs.conversation_id) == col(mine.conversation_id))
        .where(
            mine.user_id == user_id,
            theirs.user_id == other_id,
            col(mine.left_at).is_(None),
            col(theirs.left_at).is_(None),
        )
        .limit(1)
    ).first()
    return row is not None


def contact_ids(*, session: Session, user_id: int) -> list[int]:
    """Everyone who shares a conversation with the user (who should see their presence)."""
    mine = select(ConversationMember.conversation_id).where(
        ConversationMember.user_id == user_id, col(ConversationMember.left_at).is_(None)
    )
    return list(
        session.exec(
            select(ConversationMember.user_id)
            .where(
                col(ConversationMember.conversation_id).in_(mine),
                ConversationMember.user_id != user_id,
                col(ConversationMember.left_at).is_(None),
            )
            .distinct()
        ).all()
    )


_READ_UP_TO = (
    ConversationMember.__table__.update()  # type: ignore[attr-defined]
    .where(
        ConversationMember.__table__.c.conversation_id == sa.bindparam("p_conv"),  # type: ignore[attr-defined]
        ConversationMember.__table__.c.user_id == sa.bindparam("p_user"),  # type: ignore[attr-defined]
        sa.or_(
            ConversationMember.__table__.c.last_read_message_id.is_(None),  # type: ignore[attr-defined]
            ConversationMember.__table__.c.last_read_message_id < sa.bindparam("p_mid"),  # type: ignore[attr-defined]
        ),
    )
    .values(last_read_message_id=sa.bindparam("p_mid"))
)


def _move_markers(session: Session, marks: list[tuple[int, int, int]]) -> None:
    """The one statement that moves read markers: forward only, members' rows only."""
    if marks:
        session.connection().execute(
            _READ_UP_TO, [{"p_user": u, "p_conv": c, "p_mid": m} for u, c, m in marks]
        )


def mark_read_many(*, session: Session, marks: list[tuple[int, int, int]]) -> None:
    """Move several read markers forward at once: (user id, conversation id, message id).

    Used for messages that arrived in a conversation a tab was showing; the rows exist only
    for members, so nobody else's marker can move."""
    _move_markers(session, marks)
    _announce_seen(session, marks)


# Read receipts: who has read up to where. Told live to the other members of a direct
# conversation or a small group (in a larger group, "Seen by" is read when asked: a live event
# per reader per member would be N² per message), and only for readers who send read receipts;
# someone who turned them off sees nobody's either (as in WhatsApp).
LIVE_RECEIPTS_MAX_MEMBERS = 32


def receipts_on(session: Session, user_ids: list[int]) -> dict[int, str]:
    """{user id: display name} of those among ``user_ids`` who send read receipts."""
    if not user_ids:
        return {}
    return {
        int(i or 0): n
        for i, n in session.exec(
            select(User.id, User.display_name).where(
                col(User.id).in_(user_ids), col(User.read_receipts).is_(True)
            )
        ).all()
    }


def _announce_seen(session: Session, marks: list[tuple[int, int, int]]) -> None:
    if not marks:
        return
    senders = receipts_on(session, sorted({u for u, _c, _m in marks}))
    convs = sorted({c for u, c, _m in marks if u in senders})
    if not convs:
        return
    members: dict[int, list[int]] = {}
    for c, u in session.exec(
        select(ConversationMember.conversation_id, ConversationMember.user_id).where(
            col(ConversationMember.conversation_id).in_(convs),
            col(ConversationMember.left_at).is_(None),
        )
    ).all():
        members.setdefault(c, []).append(u)
    for user, conv, upto in marks:
        everyone = members.get(conv, [])
        if user not in senders or user not in everyone:
            continue
        if len(everyone) > LIVE_RECEIPTS_MAX_MEMBERS or not upto:
            continue
        event = {"type": "seen", "conv": conv, "user": user, "name": senders[user], "upto": upto}
        send_event_on_commit([u for u in everyone if u != user], event)


def read_markers(*, session: Session, user_id: int, conversation_id: int) -> list[ReaderOut] | None:
    """How far each other current member has read, for "Seen" / "Seen by N": only members who
    send read receipts; None for a viewer who does not send them (they see none either)."""
    member = require_member(session=session, user_id=user_id, conversation_id=conversation_id)
    if not receipts_on(session, [user_id]):
        return None
    rows = session.exec(
        select(ConversationMember.user_id, ConversationMember.last_read_message_id, User)
        .join(User, col(User.id) == col(ConversationMember.user_id))
        .where(
            ConversationMember.conversation_id == conversation_id,
            col(ConversationMember.left_at).is_(None),
            ConversationMember.user_id != user_id,
            col(User.read_receipts).is_(True),
        )
    ).all()
    del member
    return [ReaderOut(u, user.display_name, marker or 0) for u, marker, user in rows]


def read_event(conversation_id: int, origin: str) -> dict[str, object]:
    return {"type": "read", "conv": conversation_id, "origin": origin}


def typing(*, session: Session, user_id: int, conversation_id: int, name: str) -> None:
    """Tell the other current members that the user is typing here (never stored: an event
    on commit, after the membership check)."""
    require_member(session=session, user_id=user_id, conversation_id=conversation_id)
    others = [
        u
        for u in current_member_ids(session=session, conversation_id=conversation_id)
        if u != user_id
    ]
    if others:
        send_event_on_commit(
            others, {"type": "typing", "conv": conversation_id, "user": user_id, "name": name}
        )
