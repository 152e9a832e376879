"""Conversation and message services against a real MariaDB database."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp.models import Conversation, ConversationMember, Media, User
from chatapp.services import accounts
from chatapp.services import conversations as convs
from chatapp.services import messages as msgs
from chatapp.services.dto import ConversationOut, MessageOut, MessagePage, SendResult
from chatapp.services.errors import NotAllowed, ServiceError

PW = "correct horse"
EMOJI = "🦊👋🏽 你好 𝄞"


# Helpers ----------------------------------------------------------------------------------
def _user(db: Session, username: str, display_name: str | None = None) -> int:
    user = accounts.sign_up(
        session=db, username=username, email=f"{username}@example.com", password=PW
    )
    if display_name is not None:
        row = db.get(User, user.id)
        assert row is not None
        row.display_name = display_name
        db.add(row)
    db.commit()
    return user.id


def _pair(db: Session) -> tuple[int, int, int]:
    """Alice, Bob and their direct conversation."""
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    return a, b, conv


def _cid() -> str:
    return secrets.token_urlsafe(12)  # 16 chars of [A-Za-z0-9_-]


def _send(
    db: Session, sender: int, conv: int, body: str = "hi", cid: str | None = None
) -> SendResult:
    result = msgs.send_message(
        session=db, sender_id=sender, conversation_id=conv, body=body, client_id=cid or _cid()
    )
    db.commit()
    return result


def _send_many(db: Session, sender: int, conv: int, n: int) -> list[int]:
    ids = []
    for i in range(n):
        r = msgs.send_message(
            session=db, sender_id=sender, conversation_id=conv, body=f"m{i}", client_id=_cid()
        )
        ids.append(r.message.id)
    db.commit()
    return ids


def _count(db: Session, sql: str, **params: Any) -> int:
    return int(db.execute(sa.text(sql), params).scalar_one())


def _read_marker(db: Session, conv: int, user_id: int) -> int | None:
    """The member row's last_read_message_id, straight from the table."""
    value = db.execute(
        sa.text(
            "SELECT last_read_message_id FROM conversation_members "
            "WHERE conversation_id = :c AND user_id = :u"
        ),
        {"c": conv, "u": user_id},
    ).scalar_one()
    return None if value is None else int(value)


def _sidebar(db: Session, user_id: int) -> dict[int, ConversationOut]:
    return {c.id: c for c in convs.list_conversations(session=db, user_id=user_id)}


def _unread(db: Session, user_id: int, conv: int) -> int:
    return convs.get_conversation(session=db, user_id=user_id, conversation_id=conv).unread


def _walk(db: Session, user_id: int, conv: int, limit: int = msgs.PAGE_SIZE) -> list[list[int]]:
    """Every page from the newest back, following before_id until has_more is False."""
    pages: list[list[int]] = []
    before: int | None = None
    while True:
        page = msgs.list_messages(
            session=db, user_id=user_id, conversation_id=conv, before_id=before, limit=limit
        )
        ids = [m.id for m in page.items]
        pages.append(ids)
        assert len(pages) < 100, "pagination does not terminate"
        if not page.has_more:
            return pages
        assert ids, "has_more with an empty page"
        before = ids[0]


def _engine(db: Session) -> sa.Engine:
    engine = db.get_bind()
    assert isinstance(engine, sa.Engine)
    return engine


@contextmanager
def _capture_sql(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def _lock_waiting(engine: sa.Engine, connection_id: int, timeout: float = 10.0) -> bool:
    """Wait until that connection's transaction waits for a row lock; False on timeout."""
    deadline = time.monotonic() + timeout
    with engine.connect() as c:
        while time.monotonic() < deadline:
            # InnoDB refreshes this table only when it was not read for 0.1 s: poll slower.
            time.sleep(0.15)
            state = c.execute(
                sa.text(
                    "SELECT trx_state FROM information_schema.INNODB_TRX "
                    "WHERE trx_mysql_thread_id = :t"
                ),
                {"t": connection_id},
            ).scalar_one_or_none()
            c.rollback()
            if state == "LOCK WAIT":
                return True
    return False


def _connection_id(session: Session) -> int:
    return int(session.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one())


def _race(
    engine: sa.Engine, first: Callable[[Session], Any], second: Callable[[Session], Any]
) -> tuple[Any, Any]:
    """Run `first` in one transaction, then `second` in another that blocks on its locks;
    commit the first, and return both results (the second's exception is re-raised)."""
    with (
        Session(engine, expire_on_commit=False) as s1,
        Session(engine, expire_on_commit=False) as s2,
    ):
        s2_connection = _connection_id(s2)
        won = first(s1)

        def run_second() -> Any:
            out = second(s2)
            s2.commit()
            return out

        with ThreadPoolExecutor(max_workers=1) as pool:
            fut = pool.submit(run_second)
            try:
                assert _lock_waiting(engine, s2_connection), "the second never waited for a lock"
            finally:
                s1.commit()
            lost = fut.result(timeout=30)
    return won, lost


# Direct conversations --------------------------------------------------------------------
def test_open_direct_is_idempotent_and_symmetric(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    ab = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    assert convs.open_direct(session=db, user_id=a, other_user_id=b) == ab
    assert convs.open_direct(session=db, user_id=b, other_user_id=a) == ab
    ac = convs.open_direct(session=db, user_id=c, other_user_id=a)
    db.commit()
    assert ac != ab
    assert sorted(convs.member_ids(session=db, conversation_id=ab)) == sorted([a, b])
    assert sorted(convs.member_ids(session=db, conversation_id=ac)) == sorted([a, c])
    row = db.get(Conversation, ab)
    assert row is not None
    assert row.kind == "direct"
    assert row.direct_key == f"{min(a, b)}:{max(a, b)}"
    assert convs.direct_key(a, b) == convs.direct_key(b, a)


def test_open_direct_twice_stores_one_conversation(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    first = convs.open_direct(session=db, user_id=a, other_user_id=b)
    second = convs.open_direct(session=db, user_id=b, other_user_id=a)
    db.commit()
    assert first == second
    assert _count(db, "SELECT COUNT(*) FROM conversations") == 1
    assert (
        _count(db, "SELECT COUNT(*) FROM conversation_members WHERE conversation_id=:c", c=first)
        == 2
    )


def test_open_direct_refuses_yourself_and_unknown_users(db: Session) -> None:
    a = _user(db, "alice")
    with pytest.raises(ServiceError) as exc:
        convs.open_direct(session=db, user_id=a, other_user_id=a)
    assert not isinstance(exc.value, NotAllowed)
    assert str(exc.value)
    with pytest.raises(NotAllowed):
        convs.open_direct(session=db, user_id=a, other_user_id=a + 10_000)
    db.commit()
    assert _count(db, "SELECT COUNT(*) FROM conversations") == 0
    assert _count(db, "SELECT COUNT(*) FROM conversation_members") == 0


def test_open_direct_race_between_two_transactions(db: Session, mysql_engine: sa.Engine) -> None:
    """Both people open the conversation at the same moment: one row, both get its id."""
    a, b = _user(db, "alice"), _user(db, "bob")
    won, lost = _race(
        mysql_engine,
        lambda s: convs.open_direct(session=s, user_id=a, other_user_id=b),
        lambda s: convs.open_direct(session=s, user_id=b, other_user_id=a),
    )
    assert won == lost
    assert _count(db, "SELECT COUNT(*) FROM conversations") == 1


def test_membership_helpers(db: Session) -> None:
    a, _b, conv = _pair(db)
    c = _user(db, "carol")
    member = convs.require_member(session=db, user_id=a, conversation_id=conv)
    assert isinstance(member, ConversationMember)
    assert (member.conversation_id, member.user_id) == (conv, a)
    with pytest.raises(NotAllowed) as outsider:
        convs.require_member(session=db, user_id=c, conversation_id=conv)
    with pytest.raises(NotAllowed) as missing:
        convs.require_member(session=db, user_id=a, conversation_id=conv + 10_000)
    assert str(outsider.value) == str(missing.value)  # no hint whether it exists
    assert convs.member_ids(session=db, conversation_id=conv + 10_000) == []


# Sending ---------------------------------------------------------------------------------
def test_send_stores_message_and_updates_markers(db: Session) -> None:
    a, b, conv = _pair(db)
    r = _send(db, a, conv, "hello")
    assert r.created
    assert sorted(r.member_ids) == sorted([a, b])
    m = r.message
    assert isinstance(m, MessageOut)
    assert (m.conversation_id, m.sender_id, m.body) == (conv, a, "hello")
    assert m.created_at.tzinfo is not None
    db.expire_all()
    row = db.get(Conversation, conv)
    assert row is not None
    assert row.last_message_id == m.id
    assert row.last_message_at is not None
    assert _read_marker(db, conv, a) == m.id
    assert _read_marker(db, conv, b) is None


def test_send_is_idempotent_per_client_id(db: Session) -> None:
    a, _b, conv = _pair(db)
    cid = _cid()
    first = _send(db, a, conv, "hello", cid)
    again = _send(db, a, conv, "hello", cid)
    changed = _send(db, a, conv, "a different body", cid)  # a retry never rewrites
    assert first.created
    assert not again.created
    assert not changed.created
    assert again.message == first.message
    assert changed.message == first.message
    assert sorted(again.member_ids) == sorted(first.member_ids)
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE client_id=:c", c=cid) == 1
    assert _count(db, "SELECT COUNT(*) FROM messages") == 1


def test_client_ids_are_unique_per_sender_not_globally(db: Session) -> None:
    a, b, conv = _pair(db)
    cid = _cid()
    mine = _send(db, a, conv, "from alice", cid)
    theirs = _send(db, b, conv, "from bob", cid)
    assert mine.created and theirs.created
    assert mine.message.id != theirs.message.id
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE client_id=:c", c=cid) == 2


def test_client_id_reused_in_another_conversation_is_refused(db: Session) -> None:
    a, _b, ab = _pair(db)
    c = _user(db, "carol")
    ac = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    cid = _cid()
    _send(db, a, ab, "to bob", cid)
    with pytest.raises(ServiceError):
        msgs.send_message(
            session=db, sender_id=a, conversation_id=ac, body="to carol", client_id=cid
        )
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 1
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE conversation_id=:c", c=ac) == 0
    assert convs.get_conversation(session=db, user_id=a, conversation_id=ac).last_message is None


def test_concurrent_retry_of_one_send_stores_one_message(
    db: Session, mysql_engine: sa.Engine
) -> None:
    a, _b, conv = _pair(db)
    cid = _cid()

    def send(s: Session) -> SendResult:
        return msgs.send_message(
            session=s, sender_id=a, conversation_id=conv, body="hi", client_id=cid
        )

    won, lost = _race(mysql_engine, send, send)
    assert won.created and not lost.created
    assert lost.message.id == won.message.id
    assert _count(db, "SELECT COUNT(*) FROM messages") == 1


def test_two_members_sending_at_once_both_succeed(db: Session, mysql_engine: sa.Engine) -> None:
    """Interleave two sends: A inserts, B inserts, then both update the conversation row."""
    a, b, conv = _pair(db)
    at_update, go = threading.Event(), threading.Event()

    def pause_before_update(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE CONVERSATIONS") and not go.is_set():
            at_update.set()
            go.wait(timeout=20)

    with (
        Session(mysql_engine, expire_on_commit=False) as s1,
        Session(mysql_engine, expire_on_commit=False) as s2,
    ):
        s2_connection = _connection_id(s2)
        sa.event.listen(s1.connection(), "before_cursor_execute", pause_before_update)

        def send(s: Session, sender: int) -> SendResult:
            out = msgs.send_message(
                session=s, sender_id=sender, conversation_id=conv, body="hi", client_id=_cid()
            )
            s.commit()
            return out

        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(send, s1, a)
            try:
                at_update.wait(timeout=10)  # A has inserted its message
                second = pool.submit(send, s2, b)
                _lock_waiting(mysql_engine, s2_connection, timeout=3)  # B is stuck behind A
            finally:
                go.set()
            results = [first.result(timeout=30), second.result(timeout=30)]
    ids = sorted(r.message.id for r in results)
    assert _count(db, "SELECT COUNT(*) FROM messages") == 2
    db.expire_all()
    row = db.get(Conversation, conv)
    assert row is not None
    assert row.last_message_id == ids[-1]


@pytest.mark.parametrize("body", ["", " ", "   \n\t  ", "\u3000"])
def test_empty_bodies_are_refused(db: Session, body: str) -> None:
    a, _b, conv = _pair(db)
    with pytest.raises(ServiceError) as exc:
        msgs.send_message(
            session=db, sender_id=a, conversation_id=conv, body=body, client_id=_cid()
        )
    assert str(exc.value)
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 0


def test_body_length_limit_is_4000_characters_after_trimming(db: Session) -> None:
    a, _b, conv = _pair(db)
    assert msgs.MAX_BODY_CHARS == 4000
    ok = _send(db, a, conv, "x" * 4000)
    assert len(ok.message.body) == 4000
    padded = _send(db, a, conv, "  \n" + "y" * 4000 + "\n  ")
    assert padded.message.body == "y" * 4000
    wide = _send(db, a, conv, "🦊" * 4000)  # characters, not bytes (16,000 bytes)
    with pytest.raises(ServiceError) as exc:
        msgs.send_message(
            session=db, sender_id=a, conversation_id=conv, body="z" * 4001, client_id=_cid()
        )
    assert "4,000" in str(exc.value)
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 3
    assert _count(db, "SELECT MAX(CHAR_LENGTH(body)) FROM messages") == 4000
    db.expire_all()
    page = msgs.list_messages(session=db, user_id=a, conversation_id=conv)
    assert [m.body for m in page.items] == ["x" * 4000, "y" * 4000, "🦊" * 4000]
    assert page.items[-1].id == wide.message.id


def test_clean_body_trims_and_refuses_without_truncating() -> None:
    assert msgs.clean_body("  hello world \n") == "hello world"
    assert msgs.clean_body(" a\n b ") == "a\n b"  # inner whitespace kept
    assert msgs.clean_body("x" * 4000) == "x" * 4000
    with pytest.raises(ServiceError) as exc:
        msgs.clean_body("x" * 4001)
    assert "4,000" in str(exc.value)
    assert "4,001" in str(exc.value)
    with pytest.raises(ServiceError):
        msgs.clean_body(" \n ")


def test_leading_and_trailing_whitespace_is_trimmed_in_storage(db: Session) -> None:
    a, _b, conv = _pair(db)
    r = _send(db, a, conv, "  \n hello\nworld \t\n")
    assert r.message.body == "hello\nworld"
    assert db.execute(sa.text("SELECT body FROM messages")).scalar_one() == "hello\nworld"


@pytest.mark.parametrize(
    "client_id",
    [
        "",
        "short",
        "a" * 7,
        "a" * 65,
        "has space1",
        "slash/in/it",
        "percent%25",
        "ünicode123",
        "abcdefgh\n",
        "abc'; DROP TABLE messages; --",
    ],
)
def test_invalid_client_ids_are_refused(db: Session, client_id: str) -> None:
    a, _b, conv = _pair(db)
    with pytest.raises(ServiceError):
        msgs.send_message(
            session=db, sender_id=a, conversation_id=conv, body="hi", client_id=client_id
        )
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 0


@pytest.mark.parametrize("client_id", ["a" * 8, "Z" * 64, "abc-DEF_123", "00000000"])
def test_valid_client_ids_are_accepted(db: Session, client_id: str) -> None:
    a, _b, conv = _pair(db)
    assert _send(db, a, conv, "hi", client_id).message.client_id == client_id


def test_outsiders_can_neither_send_nor_read(db: Session) -> None:
    a, _b, conv = _pair(db)
    mallory = _user(db, "mallory")
    _send(db, a, conv, "private")
    with pytest.raises(NotAllowed):
        msgs.send_message(
            session=db, sender_id=mallory, conversation_id=conv, body="hi", client_id=_cid()
        )
    db.rollback()
    with pytest.raises(NotAllowed):
        msgs.list_messages(session=db, user_id=mallory, conversation_id=conv)
    with pytest.raises(NotAllowed):
        msgs.messages_after(session=db, user_id=mallory, conversation_id=conv, after_id=0)
    with pytest.raises(NotAllowed):
        convs.get_conversation(session=db, user_id=mallory, conversation_id=conv)
    with pytest.raises(NotAllowed):
        convs.mark_read(session=db, user_id=mallory, conversation_id=conv)
    # A conversation that does not exist gets the same answer.
    with pytest.raises(NotAllowed):
        msgs.send_message(
            session=db,
            sender_id=mallory,
            conversation_id=conv + 10_000,
            body="hi",
            client_id=_cid(),
        )
    with pytest.raises(NotAllowed):
        msgs.list_messages(session=db, user_id=mallory, conversation_id=conv + 10_000)
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 1
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE sender_id=:u", u=mallory) == 0
    assert _count(db, "SELECT COUNT(*) FROM conversation_members WHERE user_id=:u", u=mallory) == 0
    assert convs.list_conversations(session=db, user_id=mallory) == []


# History ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 50, 51, 120])
def test_pages_cover_every_message_exactly_once(db: Session, n: int) -> None:
    a, b, conv = _pair(db)
    # Noise in another conversation must never leak into this one's pages.
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    _send_many(db, a, other, 3)
    sent = _send_many(db, a, conv, n)
    _send_many(db, c, other, 3)
    pages = _walk(db, b, conv)
    assert len(pages) == max(1, -(-n // msgs.PAGE_SIZE))
    for page in pages:
        assert page == sorted(page)  # oldest first within a page
        assert len(page) <= msgs.PAGE_SIZE
    assert all(len(p) == msgs.PAGE_SIZE for p in pages[:-1])
    seen = [i for page in reversed(pages) for i in page]
    assert seen == sent  # every id once, ascending, no gaps or overlaps
    assert pages[0] == sent[-msgs.PAGE_SIZE :]  # first page holds the newest


def test_new_messages_while_paging_back_shift_nothing(db: Session) -> None:
    """Keyset pages stay stable while new messages arrive (OFFSET would repeat rows)."""
    a, b, conv = _pair(db)
    old = _send_many(db, a, conv, 120)
    first = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    _send_many(db, b, conv, 30)  # arrive while the reader scrolls up
    seen = [m.id for m in first.items]
    before = seen[0]
    while True:
        page = msgs.list_messages(session=db, user_id=b, conversation_id=conv, before_id=before)
        seen = [m.id for m in page.items] + seen
        if not page.has_more:
            break
        before = page.items[0].id
    assert seen == old


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_pages_with_other_limits(db: Session, limit: int) -> None:
    a, b, conv = _pair(db)
    sent = _send_many(db, b, conv, 23)
    pages = _walk(db, a, conv, limit=limit)
    assert [i for page in reversed(pages) for i in page] == sent
    assert all(len(p) == limit for p in pages[:-1])


def test_page_limit_is_clamped(db: Session) -> None:
    a, _b, conv = _pair(db)
    sent = _send_many(db, a, conv, msgs.MAX_PAGE + 5)
    big = msgs.list_messages(session=db, user_id=a, conversation_id=conv, limit=10_000)
    assert len(big.items) == msgs.MAX_PAGE
    assert big.has_more
    assert [m.id for m in big.items] == sent[-msgs.MAX_PAGE :]
    for tiny in (0, -5):
        page = msgs.list_messages(session=db, user_id=a, conversation_id=conv, limit=tiny)
        assert [m.id for m in page.items] == sent[-1:]
        assert page.has_more


def test_before_id_boundaries(db: Session) -> None:
    a, _b, conv = _pair(db)
    sent = _send_many(db, a, conv, 5)

    def ids(before: int | None) -> tuple[list[int], bool]:
        page = msgs.list_messages(
            session=db, user_id=a, conversation_id=conv, before_id=before, limit=3
        )
        return [m.id for m in page.items], page.has_more

    assert ids(None) == (sent[2:], True)
    assert ids(sent[0]) == ([], False)
    assert ids(sent[1]) == (sent[:1], False)
    assert ids(sent[3]) == (sent[:3], False)
    assert ids(sent[4]) == (sent[1:4], True)
    assert ids(sent[-1] + 1_000) == (sent[2:], True)
    assert ids(0) == ([], False)


def test_page_tells_who_sent_the_message_before_it_and_when(db: Session) -> None:
    """before_at / before_sender: the message just before items[0] (from the extra row the
    page query fetches anyway), None/0 at the start of the conversation."""
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    senders = [a, b, b, a, b]
    sent = []
    for i, who in enumerate(senders):
        sent.append(_send(db, who, conv, f"m{i}").message.id)
        _send(db, c, other, f"noise {i}")  # interleaved ids from another conversation
    everything = msgs.list_messages(session=db, user_id=a, conversation_id=conv)
    assert [m.id for m in everything.items] == sent
    assert (everything.has_more, everything.before_at, everything.before_sender) == (
        False,
        None,
        0,
    )
    at = {m.id: m.created_at for m in everything.items}

    def page(before: int | None, limit: int) -> MessagePage:
        return msgs.list_messages(
            session=db, user_id=b, conversation_id=conv, before_id=before, limit=limit
        )

    with _capture_sql(_engine(db)) as seen:
        newest = page(None, 3)
    assert [s for s, _ in seen if "FROM messages" in s and "ORDER BY" in s] == [seen[-1][0]]
    assert [m.id for m in newest.items] == sent[2:]
    assert newest.has_more
    assert (newest.before_at, newest.before_sender) == (at[sent[1]], b)
    older = page(sent[2], 1)
    assert [m.id for m in older.items] == sent[1:2]
    assert (older.before_at, older.before_sender) == (at[sent[0]], a)
    first = page(sent[2], 2)
    assert [m.id for m in first.items] == sent[:2]
    assert (first.has_more, first.before_at, first.before_sender) == (False, None, 0)
    empty = page(sent[0], 3)
    assert (empty.items, empty.before_at, empty.before_sender) == ([], None, 0)
    assert isinstance(newest.before_at, datetime) and newest.before_at.tzinfo is not None
    # Catching up: the caller already shows the message at after_id; nothing is filled in.
    after = msgs.messages_after(session=db, user_id=b, conversation_id=conv, after_id=sent[2])
    assert [m.id for m in after.items] == sent[3:]
    assert (after.before_at, after.before_sender) == (None, 0)


def test_messages_after(db: Session) -> None:
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    sent = []
    for i in range(6):
        sent.append(_send(db, a if i % 2 else b, conv, f"m{i}").message.id)
        _send(db, c, other, f"noise {i}")

    def after(after_id: int, limit: int = msgs.MAX_PAGE) -> tuple[list[int], bool]:
        page = msgs.messages_after(
            session=db, user_id=b, conversation_id=conv, after_id=after_id, limit=limit
        )
        return [m.id for m in page.items], page.has_more

    assert after(0) == (sent, False)
    assert after(sent[2]) == (sent[3:], False)
    assert after(sent[-1]) == ([], False)
    assert after(0, limit=4) == (sent[:4], True)
    assert after(sent[1], limit=4) == (sent[2:], False)
    bodies = [
        m.body
        for m in msgs.messages_after(session=db, user_id=b, conversation_id=conv, after_id=0).items
    ]
    assert bodies == [f"m{i}" for i in range(6)]


def test_emoji_and_astral_characters_round_trip(db: Session) -> None:
    a, b, conv = _pair(db)
    r = _send(db, a, conv, f"  {EMOJI}  ")
    assert r.message.body == EMOJI
    db.expire_all()
    assert (
        db.execute(
            sa.text("SELECT body FROM messages WHERE id=:i"), {"i": r.message.id}
        ).scalar_one()
        == EMOJI
    )
    assert _count(db, "SELECT CHAR_LENGTH(body) FROM messages WHERE id=:i", i=r.message.id) == len(
        EMOJI
    )
    assert _count(db, "SELECT LENGTH(body) FROM messages WHERE id=:i", i=r.message.id) == len(
        EMOJI.encode()
    )
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    assert [m.body for m in page.items] == [EMOJI]
    preview = _sidebar(db, b)[conv].last_message
    assert preview is not None
    assert preview.body == EMOJI


def test_list_messages_uses_the_conversation_id_index(db: Session, mysql_engine: sa.Engine) -> None:
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=b, other_user_id=c)
    sent = _send_many(db, a, conv, 60)
    _send_many(db, c, other, 60)
    db.execute(sa.text("ANALYZE TABLE messages"))
    db.commit()

    # (Since the change sequence's index, two indexes start with conversation_id: with every
    # change_seq 0 the optimizer may take either for this query; the app names its own, so the
    # plan is read with the same hint, services/hints.py.)
    plan = (
        db.execute(
            sa.text(
                "EXPLAIN SELECT id FROM messages FORCE INDEX (ix_messages_conversation_id_id)"
                " WHERE conversation_id=:c AND id < :x ORDER BY id DESC LIMIT 51"
            ),
            {"c": conv, "x": sent[-1]},
        )
        .mappings()
        .all()
    )
    assert [row["key"] for row in plan] == ["ix_messages_conversation_id_id"]

    # And the statements list_messages and messages_after really run: same index, keyset, no
    # OFFSET, no sort; the image size comes from one primary-key lookup per row (eq_ref).
    with _capture_sql(mysql_engine) as seen:
        msgs.list_messages(session=db, user_id=a, conversation_id=conv, before_id=sent[-1])
        msgs.messages_after(session=db, user_id=a, conversation_id=conv, after_id=sent[5])
    selects = [(s, p) for s, p in seen if "FROM messages" in s and "ORDER BY" in s]
    assert len(selects) == 2
    for statement, params in selects:
        assert "OFFSET" not in statement.upper()
        real_plan = db.connection().exec_driver_sql("EXPLAIN " + statement, params).mappings().all()
        got = [(row["table"], row["type"], row["key"]) for row in real_plan]
        assert got == [
            ("messages", "range", "ix_messages_conversation_id_id"),
            ("media", "eq_ref", "PRIMARY"),
        ], real_plan
        assert all("filesort" not in (row["Extra"] or "") for row in real_plan), real_plan


def _rows_read(db: Session, call: Callable[[], object]) -> int:
    """Index entries MariaDB stepped through (or checked by index condition pushdown) while
    `call` ran on the session's connection."""
    conn = db.connection()
    conn.exec_driver_sql("FLUSH STATUS")
    call()
    status = dict(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_%%'").all())
    return sum(int(status[k]) for k in ("Handler_read_prev", "Handler_read_next")) + max(
        0, int(status["Handler_icp_attempts"]) - int(status["Handler_icp_match"])
    )


def test_message_windows_read_only_their_rows_wherever_they_are(db: Session) -> None:
    """A page deep in a long conversation, a catch-up from far back and an unread count from
    an old read marker each read about `limit` index entries, not every message on the far
    side of the id bound (MariaDB picks `ref` on conversation_id alone, or a PRIMARY range
    across all conversations, unless told to use (conversation_id, id) as a range)."""
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    n = 3000
    rows = [
        {
            "conv": conv if i % 3 else other,
            "sender": a,
            "cid": f"bulk{i:08d}",
            "at": datetime.now(UTC),
        }
        for i in range(n)
    ]
    db.execute(
        sa.text(
            "INSERT INTO messages (conversation_id, sender_id, client_id, body, created_at)"
            " VALUES (:conv, :sender, :cid, 'x', :at)"
        ),
        rows,
    )
    ids = [
        int(i)
        for i in db.execute(
            sa.text("SELECT id FROM messages WHERE conversation_id = :c ORDER BY id"), {"c": conv}
        ).scalars()
    ]
    db.execute(
        sa.text("UPDATE conversations SET last_message_id = :m WHERE id = :c"),
        {"m": ids[-1], "c": conv},
    )
    db.execute(sa.text("ANALYZE TABLE messages"))
    db.commit()
    middle = ids[len(ids) // 2]

    for where in (ids[10], middle, ids[-10]):
        got = _rows_read(
            db,
            lambda w=where: msgs.list_messages(
                session=db, user_id=b, conversation_id=conv, before_id=w
            ),
        )
        assert got <= msgs.PAGE_SIZE + 2, (where, got)
        got = _rows_read(
            db,
            lambda w=where: msgs.messages_after(
                session=db, user_id=b, conversation_id=conv, after_id=w, limit=50
            ),
        )
        assert got <= 50 + 2, (where, got)
        db.execute(
            sa.text(
                "UPDATE conversation_members SET last_read_message_id = :m"
                " WHERE conversation_id = :c AND user_id = :u"
            ),
            {"m": where, "c": conv, "u": b},
        )
        got = _rows_read(db, lambda: _unread(db, b, conv))
        assert got <= convs.UNREAD_CAP + 2, (where, got)


# Read markers and the sidebar ------------------------------------------------------------
def test_unread_counts_and_mark_read(db: Session) -> None:
    a, b, conv = _pair(db)
    assert _unread(db, b, conv) == 0
    sent = [_send(db, a, conv, f"m{i}").message.id for i in range(3)]
    assert _unread(db, b, conv) == 3
    assert _unread(db, a, conv) == 0  # your own messages are read
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=sent[0]) == sent[0]
    db.commit()
    assert _unread(db, b, conv) == 2
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv) == sent[-1]
    db.commit()
    assert _unread(db, b, conv) == 0
    assert _unread(db, a, conv) == 0
    _send(db, a, conv, "one more")
    assert _unread(db, b, conv) == 1
    # Bob replying reads everything before his reply too.
    _send(db, b, conv, "reply")
    assert _unread(db, b, conv) == 0
    assert _unread(db, a, conv) == 1


def test_mark_read_never_moves_backwards(db: Session) -> None:
    a, b, conv = _pair(db)
    sent = [_send(db, a, conv, f"m{i}").message.id for i in range(4)]
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=sent[2]) == sent[2]
    db.commit()
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=sent[0]) == sent[2]
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=0) == sent[2]
    db.commit()
    assert _unread(db, b, conv) == 1
    # Never past the newest message, even if asked to.
    assert (
        convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=sent[-1] + 1_000)
        == sent[-1]
    )
    db.commit()
    assert _unread(db, b, conv) == 0
    assert _read_marker(db, conv, b) == sent[-1]
    # The sender's own marker is not moved back by an old mark_read either.
    assert (
        convs.mark_read(session=db, user_id=a, conversation_id=conv, up_to_id=sent[0]) == sent[-1]
    )


def test_mark_read_in_an_empty_conversation(db: Session) -> None:
    _a, b, conv = _pair(db)
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv) == 0
    assert convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=5) == 0


def test_unread_count_is_capped(db: Session) -> None:
    a, b, conv = _pair(db)
    assert convs.UNREAD_CAP == 100
    _send_many(db, a, conv, 120)
    assert _unread(db, b, conv) == 100
    assert _sidebar(db, b)[conv].unread == 100
    assert _unread(db, a, conv) == 0


def test_sidebar_orders_by_latest_activity_with_previews(db: Session) -> None:
    a = _user(db, "alice", "Alice A.")
    b = _user(db, "bob", "Bob B.")
    c = _user(db, "carol", "Carol C.")
    d = _user(db, "dave", "Dave D.")
    ab = convs.open_direct(session=db, user_id=a, other_user_id=b)
    ac = convs.open_direct(session=db, user_id=c, other_user_id=a)
    ad = convs.open_direct(session=db, user_id=a, other_user_id=d)  # never used
    db.commit()

    _send(db, a, ab, "first to bob")
    _send(db, c, ac, "carol says hi")
    side = convs.list_conversations(session=db, user_id=a)
    assert [s.id for s in side] == [ac, ab, ad]
    _send(db, b, ab, "bob answers")
    side = convs.list_conversations(session=db, user_id=a)
    assert [s.id for s in side] == [ab, ac, ad]

    rows = {s.id: s for s in side}
    assert rows[ab].last_message is not None
    assert rows[ab].last_message.body == "bob answers"
    assert rows[ab].last_message.sender_id == b
    assert rows[ac].last_message is not None
    assert rows[ac].last_message.body == "carol says hi"
    assert rows[ad].last_message is None
    assert rows[ab].peer is not None and rows[ab].peer.id == b
    assert rows[ab].title == "Bob B."
    assert rows[ac].title == "Carol C."
    assert rows[ad].title == "Dave D."
    assert all(s.kind == "direct" for s in side)
    assert (rows[ab].unread, rows[ac].unread, rows[ad].unread) == (1, 1, 0)

    # Each person sees only their own conversations, titled with the other person.
    bob_side = convs.list_conversations(session=db, user_id=b)
    assert [s.id for s in bob_side] == [ab]
    assert bob_side[0].title == "Alice A."
    assert bob_side[0].unread == 0
    assert [s.id for s in convs.list_conversations(session=db, user_id=a, limit=2)] == [ab, ac]
    got = convs.get_conversation(session=db, user_id=a, conversation_id=ac)
    assert got == rows[ac]


# People ----------------------------------------------------------------------------------
def _names(people: list[Any]) -> list[str]:
    return [p.username for p in people]


def _search(db: Session, me: int, q: str, **kw: Any) -> list[str]:
    return _names(convs.search_people(session=db, user_id=me, query=q, **kw))


def test_search_people_by_username_or_display_name_prefix(db: Session) -> None:
    me = _user(db, "alice", "Alice Me")
    _user(db, "alicia", "Someone")
    _user(db, "bob", "Bobby Malice")
    _user(db, "carol", "Alina Carol")
    _user(db, "dave", "Émile Dave")
    _user(db, "erin", "Erin E")

    assert _search(db, me, "ali") == ["alicia", "carol"]  # username or display-name prefix
    assert _search(db, me, "  ALI ") == ["alicia", "carol"]  # trimmed, case-insensitive
    assert _search(db, me, "aLiN") == ["carol"]  # display names too, any case
    assert _search(db, me, "émi") == ["dave"]  # case-insensitive beyond ASCII (utf8mb4 collation)
    assert _search(db, me, "bobby m") == ["bob"]
    assert _search(db, me, "licia") == []  # a substring in the middle never matches
    assert _search(db, me, "malice") == []
    assert _search(db, me, "eri") == ["erin"]  # username and display name match: listed once
    assert _search(db, me, "alice") == []  # never yourself
    assert _search(db, me, "nobody") == []
    result = convs.search_people(session=db, user_id=me, query="bob")
    assert [(p.username, p.display_name) for p in result] == [("bob", "Bobby Malice")]
    assert not hasattr(result[0], "password_hash")
    assert not hasattr(result[0], "email")


@pytest.mark.parametrize("query", ["", "   ", "a", " b ", "\\", "%", "_"])
def test_search_people_needs_two_characters(db: Session, query: str) -> None:
    """No browsing the member list: an empty or one-character query finds nobody."""
    me = _user(db, "alice")
    for name in ("a_b", "bob", "ben"):
        _user(db, name, name.upper())
    assert convs.search_people(session=db, user_id=me, query=query) == []


def test_search_people_escapes_like_wildcards(db: Session) -> None:
    me = _user(db, "me_myself")
    _user(db, "a_b", "Plain")
    _user(db, "axb", "Plain")
    _user(db, "pct", "100% Real")
    _user(db, "thousand", "1000 Real")
    _user(db, "slash", "x\\y Slash")
    _user(db, "xyz", "xy Plain")

    assert _search(db, me, "a_") == ["a_b"]  # '_' is a literal underscore, not "any character"
    assert _search(db, me, "a_b") == ["a_b"]
    assert _search(db, me, "__") == []
    assert _search(db, me, "100%") == ["pct"]  # '%' is a literal percent sign
    assert _search(db, me, "%r") == []
    assert _search(db, me, "%%") == []
    assert _search(db, me, "x\\") == ["slash"]  # a backslash is a backslash
    assert _search(db, me, "x\\y") == ["slash"]


def test_search_people_returns_at_most_20_ordered_by_username(db: Session) -> None:
    me = _user(db, "sam00", "Sam Me")
    # 30 matches: 15 by username, 15 by display name only; plus you (a match yourself).
    for i in range(15):
        _user(db, f"sam{30 - i:02d}", f"Person {i}")
        _user(db, f"p{i:02d}", f"Sam {i}")
    found = _search(db, me, "sam")
    assert len(found) == 20
    assert found == sorted(found)
    assert "sam00" not in found
    assert len(_search(db, me, "sam", limit=500)) == 20  # the limit is capped
    three = _search(db, me, "sam", limit=3)
    assert len(three) == 3 and three == sorted(three) and "sam00" not in three
    assert _search(db, me, "sam", limit=0) == []
    assert _search(db, me, "sam1", limit=3) == ["sam16", "sam17", "sam18"]  # first by username
    assert _search(db, me, "sam0") == []
    assert _search(db, me, "p0") == [f"p{i:02d}" for i in range(10)]


def test_search_people_runs_two_index_range_scans(db: Session, mysql_engine: sa.Engine) -> None:
    """Both sides are LIMITed range scans on an index (never lower(column), never a full
    scan), and in index order (no sort of every match)."""
    me = _user(db, "zed", "Zed")
    rows = [
        {
            "username": f"{secrets.token_hex(4)}{i:04d}",
            "email": f"u{i}@example.com",
            "display_name": f"{secrets.token_hex(3).upper()} Person {i}",
            "password_hash": "x",
            "created_at": datetime.now(UTC),
        }
        for i in range(400)
    ]
    rows += [
        {**rows[0], "username": "abacus", "email": "abacus@example.com"},
        {**rows[0], "username": "kim", "email": "kim@example.com", "display_name": "Abby K"},
    ]
    db.execute(sa.insert(User.__table__), rows)  # type: ignore[attr-defined]
    db.execute(sa.text("ANALYZE TABLE users"))
    db.commit()

    with _capture_sql(mysql_engine) as seen:
        found = _search(db, me, "Ab")
    assert {"abacus", "kim"} <= set(found)
    assert found == sorted(found)
    scans = [(s, p) for s, p in seen if "FROM users" in s]
    assert len(scans) == 2
    keys = []
    for statement, params in scans:
        assert "lower(" not in statement.lower()
        assert "LIMIT" in statement.upper()
        plan = db.connection().exec_driver_sql("EXPLAIN " + statement, params).mappings().all()
        assert len(plan) == 1, plan
        assert plan[0]["type"] == "range", plan
        assert "filesort" not in (plan[0]["Extra"] or ""), plan
        keys.append(plan[0]["key"])
    assert keys == ["uq_users_username", "ix_users_display_name"]


def test_contact_ids(db: Session) -> None:
    a, b, c, d = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    convs.open_direct(session=db, user_id=a, other_user_id=b)
    convs.open_direct(session=db, user_id=c, other_user_id=a)
    db.commit()
    assert sorted(convs.contact_ids(session=db, user_id=a)) == sorted([b, c])
    assert convs.contact_ids(session=db, user_id=b) == [a]
    assert convs.contact_ids(session=db, user_id=c) == [a]
    assert convs.contact_ids(session=db, user_id=d) == []
    convs.open_direct(session=db, user_id=b, other_user_id=c)
    db.commit()
    assert sorted(convs.contact_ids(session=db, user_id=b)) == sorted([a, c])


def test_get_person_and_touch_last_seen(db: Session) -> None:
    a = _user(db, "alice", "Alice")
    person = convs.get_person(session=db, user_id=a)
    assert person is not None
    assert (person.id, person.username, person.display_name, person.last_seen_at) == (
        a,
        "alice",
        "Alice",
        None,
    )
    seen = accounts.touch_last_seen(session=db, user_id=a)
    db.commit()
    db.expire_all()
    person = convs.get_person(session=db, user_id=a)
    assert person is not None
    assert person.last_seen_at is not None
    assert abs((person.last_seen_at - seen).total_seconds()) < 1
    assert convs.get_person(session=db, user_id=a + 10_000) is None


# send_message in its own transaction (the server's send path: no ORM session) -------------
def _store(db: Session, sender: int, conv: int, body: str = "hi", **kw: Any) -> SendResult:
    return msgs.send_message(
        engine=_engine(db),
        sender_id=sender,
        conversation_id=conv,
        body=body,
        client_id=kw.pop("cid", None) or _cid(),
        **kw,
    )


def test_send_message_alone_commits_on_its_own_and_is_idempotent(db: Session) -> None:
    a, b, conv = _pair(db)
    cid = _cid()
    first = _store(db, a, conv, "stored", cid=cid)
    again = _store(db, a, conv, "stored", cid=cid)
    assert first.created and not again.created
    assert again.message == first.message
    assert sorted(first.member_ids) == sorted([a, b])
    db.rollback()  # a fresh transaction sees the committed row
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE client_id=:c", c=cid) == 1
    assert _read_marker(db, conv, a) == first.message.id
    row = db.get(Conversation, conv)
    assert row is not None and row.last_message_id == first.message.id
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    assert [m.body for m in page.items] == ["stored"]


def test_a_retry_of_a_stored_send_announces_it_again(db: Session) -> None:
    """The commit reached the database but its answer did not reach the server (the database
    stopped mid-commit): the send failed as far as the server knew, nothing was published, and
    the sender's Retry finds the message stored. That retry announces it again (``again``:
    tabs that show it already drop it by client id), or its recipient would never see it."""
    from chatapp.services import events

    a, b, conv = _pair(db)
    cid = _cid()
    with events.collecting():  # the first attempt's publish is lost with its answer
        first = _store(db, a, conv, "committed, unanswered", cid=cid, origin="tab-1")
    with events.collecting() as out:
        again = _store(db, a, conv, "committed, unanswered", cid=cid, origin="tab-1")
    assert first.created and not again.created
    assert len(out) == 1
    assert sorted(out[0].user_ids) == sorted([a, b])
    event = out[0].event
    assert event["type"] == "message" and event.get("again") is True
    assert event["origin"] == "tab-1"
    assert event["message"]["cid"] == cid and event["message"]["id"] == first.message.id
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages WHERE client_id=:c", c=cid) == 1


def test_send_message_alone_refusals_change_nothing(db: Session) -> None:
    a, _b, conv = _pair(db)
    outsider = _user(db, "mallory")
    with pytest.raises(NotAllowed):
        _store(db, outsider, conv, "let me in")
    with pytest.raises(ServiceError):
        _store(db, a, conv, "   ")
    with pytest.raises(ServiceError):
        _store(db, a, conv, "x", cid="bad id!")
    db.rollback()
    assert _count(db, "SELECT COUNT(*) FROM messages") == 0


def _upload(db: Session, owner: int, media_id: str, width: int = 10, height: int = 10) -> str:
    """A chat image row as media.store_upload records it (no files needed here)."""
    db.add(
        Media(
            id=media_id,
            owner_id=owner,
            purpose="chat",
            storage="local",
            full_key=f"{media_id}/full.png",
            thumb_key=f"{media_id}/thumb.png",
            mime="image/png",
            width=width,
            height=height,
            bytes=100,
        )
    )
    db.commit()
    return media_id


def test_send_message_alone_claims_the_senders_image(db: Session) -> None:
    a, b, conv = _pair(db)
    _upload(db, a, "m" * 32)
    _upload(db, b, "n" * 32)
    sent = _store(db, a, conv, "", media_ref="m" * 32)
    assert sent.message.media_ref == "m" * 32
    with pytest.raises(NotAllowed):  # someone else's upload
        _store(db, a, conv, "", media_ref="n" * 32)
    db.rollback()
    db.expire_all()
    mine, theirs = db.get(Media, "m" * 32), db.get(Media, "n" * 32)
    assert mine is not None and mine.conversation_id == conv
    assert theirs is not None and theirs.conversation_id is None
    assert _count(db, "SELECT COUNT(*) FROM messages") == 1


# Image size on messages (the browser reserves the image's box before it loads) -----------
def _sizes(items: list[MessageOut]) -> list[tuple[str | None, int, int]]:
    return [(m.media_ref, m.media_width, m.media_height) for m in items]


def test_image_messages_carry_the_image_size(db: Session) -> None:
    a, b, conv = _pair(db)
    wide, tall, other = (
        _upload(db, a, "w" * 24, 1600, 900),
        _upload(db, b, "t" * 24, 300, 800),
        _upload(db, a, "o" * 24, 50, 40),
    )
    text = _send(db, a, conv, "just words")
    assert _sizes([text.message]) == [(None, 0, 0)]

    # The server's send path: the size comes from the claim's own read of the Media row.
    with _capture_sql(_engine(db)) as seen:
        first = _store(db, a, conv, "look", media_ref=wide)
    assert _sizes([first.message]) == [(wide, 1600, 900)]
    assert len([s for s, _ in seen if "FROM media" in s]) == 1
    # The session path, and a retry of an image send.
    cid = _cid()
    second = msgs.send_message(
        session=db, sender_id=b, conversation_id=conv, body="", client_id=cid, media_ref=tall
    )
    db.commit()
    assert _sizes([second.message]) == [(tall, 300, 800)]
    again = _store(db, b, conv, "", cid=cid, media_ref=tall)
    assert not again.created
    assert again.message == second.message
    caption = _send(db, a, conv, "caption only")
    third = _store(db, a, conv, "", media_ref=other)

    expected = [(None, 0, 0), (wide, 1600, 900), (tall, 300, 800), (None, 0, 0), (other, 50, 40)]
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    assert [m.id for m in page.items] == [
        text.message.id,
        first.message.id,
        second.message.id,
        caption.message.id,
        third.message.id,
    ]
    assert _sizes(page.items) == expected
    assert page.items[1] == first.message
    assert page.items[2] == second.message
    caught_up = msgs.messages_after(
        session=db, user_id=a, conversation_id=conv, after_id=text.message.id
    )
    assert _sizes(caught_up.items) == expected[1:]
    older = msgs.list_messages(
        session=db, user_id=a, conversation_id=conv, before_id=caption.message.id, limit=2
    )
    assert _sizes(older.items) == expected[1:3]


def test_image_size_is_zero_once_the_message_or_the_image_is_gone(db: Session) -> None:
    a, b, conv = _pair(db)
    kept, dropped, erased = (_upload(db, a, c * 24, 640, 480) for c in "kde")
    sent = [_store(db, a, conv, "", media_ref=m).message.id for m in (kept, dropped, erased)]
    db.execute(sa.text("DELETE FROM media WHERE id = :m"), {"m": dropped})
    db.execute(
        sa.text("UPDATE messages SET deleted_at = :at WHERE id = :i"),
        {"at": datetime.now(UTC), "i": sent[2]},
    )
    db.commit()
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    assert _sizes(page.items) == [(kept, 640, 480), (dropped, 0, 0), (None, 0, 0)]
    after = msgs.messages_after(session=db, user_id=b, conversation_id=conv, after_id=0)
    assert _sizes(after.items) == _sizes(page.items)


def test_open_conversation_authorises_pages_and_marks_read(db: Session) -> None:
    a, b, conv = _pair(db)
    sent = [_send(db, a, conv, f"o{i}").message.id for i in range(3)]
    db.commit()
    row, page = msgs.open_conversation(session=db, user_id=b, conversation_id=conv)
    db.commit()
    assert row.id == conv and row.peer is not None and row.peer.id == a
    assert [m.id for m in page.items] == sent
    assert _read_marker(db, conv, b) == sent[-1]
    stranger = _user(db, "openstranger")
    with pytest.raises(NotAllowed):
        msgs.open_conversation(session=db, user_id=stranger, conversation_id=conv)


def test_a_persons_card_only_for_contacts_and_search_matches(db: Session) -> None:
    """Presence and last seen go only to people who share a conversation with that person, or
    found them by search (issue 11, finding 9); nobody and a stranger look the same."""
    me, friend, stranger = _user(db, "cardme"), _user(db, "cardfriend"), _user(db, "cardstranger")
    convs.open_direct(session=db, user_id=me, other_user_id=friend)
    db.commit()
    card = convs.person_card(session=db, user_id=friend, viewer_id=me)
    assert card is not None and card.person.username == "cardfriend"
    assert convs.person_card(session=db, user_id=stranger, viewer_id=me) is None
    assert convs.person_card(session=db, user_id=10**9, viewer_id=me) is None
    found = convs.person_card(session=db, user_id=stranger, viewer_id=me, found=True)
    assert found is not None and found.person.username == "cardstranger"
    assert convs.shares_conversation(session=db, user_id=friend, other_id=me)
    assert not convs.shares_conversation(session=db, user_id=stranger, other_id=me)


def test_admit_send_refuses_a_burst_saying_how_long_to_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The send rate (SECURITY.md), asked before any database work: a burst is let through,
    the next message is refused with the wait, and another sender is not held back."""
    from chatapp.services.errors import Throttled
    from chatapp.services.throttle import LoginThrottle

    def throttle(window_s: int) -> LoginThrottle:
        return LoginThrottle(
            "memory://",
            max_failures=5,
            lockout_minutes=15,
            send_burst=3,
            send_burst_seconds=window_s,
            sends_per_minute=120,
        )

    limits = throttle(10)
    monkeypatch.setattr(msgs, "get_login_throttle", lambda: limits)
    for _ in range(3):
        msgs.admit_send(sender_id=1)
    with pytest.raises(Throttled) as exc:
        msgs.admit_send(sender_id=1)
    assert str(exc.value) in {
        f"You are sending messages too fast. Wait {n} seconds and send again." for n in (9, 10)
    }
    msgs.admit_send(sender_id=2)
    limits = throttle(1)  # a one-second window: "1 second"
    for _ in range(3):
        msgs.admit_send(sender_id=1)
    with pytest.raises(Throttled) as exc:
        msgs.admit_send(sender_id=1)
    assert str(exc.value) == "You are sending messages too fast. Wait 1 second and send again."
