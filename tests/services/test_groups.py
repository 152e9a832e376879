"""Group conversations (issue 12) against a real MariaDB database: the role table, create,
history visibility, leaving, idempotency, races, delete, rename/picture/settings.

Refused changes are checked to change nothing: every row of the chat tables is the same before
and after (read in the same transaction, so an unflushed or uncommitted write would show), no
system line, no event collected.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp.models import Conversation, ConversationMember, Media, User
from chatapp.services import conversations as convs
from chatapp.services import events, groups, media
from chatapp.services import messages as msgs
from chatapp.services.dto import GroupOut, SendResult
from chatapp.services.errors import FieldErrors, NotAllowed, ServiceError
from chatapp.services.membership import ADMIN, MEMBER, MODERATOR, OWNER
from chatapp.storage.local import LocalStorage
from tests.services.test_chat_services import _race, _user
from tests.support.images import png

CHAT_TABLES = ("conversations", "conversation_members", "messages", "media")


# Helpers ----------------------------------------------------------------------------------
def _cid() -> str:
    return secrets.token_urlsafe(12)


def _group(
    db: Session,
    owner: int,
    members: list[int],
    roles: dict[int, str] | None = None,
    name: str = "Team",
) -> int:
    """A committed group: ``owner`` made it with ``members``; then ``roles`` given by the owner."""
    g = groups.create_group(session=db, user_id=owner, name=name, member_ids=members)
    for uid, role in (roles or {}).items():
        groups.set_role(session=db, user_id=owner, conversation_id=g.id, member_id=uid, role=role)
    db.commit()
    return g.id


def _send(
    db: Session, sender: int, conv: int, body: str = "hi", media_ref: str | None = None
) -> SendResult:
    out = msgs.send_message(
        session=db,
        sender_id=sender,
        conversation_id=conv,
        body=body,
        client_id=_cid(),
        media_ref=media_ref,
    )
    db.commit()
    return out


def _rows(db: Session, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(sa.text(sql), params).all()]


def _snapshot(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the chat tables, as this transaction sees them (pending ORM changes too)."""
    db.flush()
    return {t: _rows(db, f"SELECT * FROM {t} ORDER BY 1, 2") for t in CHAT_TABLES}


def _lines(db: Session, conv: int) -> list[str]:
    """The group's system lines, oldest first."""
    return [
        body
        for (body,) in _rows(
            db,
            "SELECT body FROM messages WHERE conversation_id = :c AND `system` IS NOT NULL"
            " ORDER BY id",
            c=conv,
        )
    ]


def _member(db: Session, conv: int, user: int) -> ConversationMember | None:
    db.expire_all()
    return db.get(ConversationMember, (conv, user))


def _role(db: Session, conv: int, user: int) -> str | None:
    """The user's role as a current member; None if they are not one."""
    m = _member(db, conv, user)
    return m.role if m is not None and m.left_at is None else None


def _roles(db: Session, conv: int) -> dict[int, str]:
    """Current members and their roles."""
    return {
        u: r
        for u, r in _rows(
            db,
            "SELECT user_id, role FROM conversation_members"
            " WHERE conversation_id = :c AND left_at IS NULL",
            c=conv,
        )
    }


def _ids(db: Session, user: int, conv: int) -> list[int]:
    page = msgs.list_messages(session=db, user_id=user, conversation_id=conv, limit=200)
    return [m.id for m in page.items]


def _after(db: Session, user: int, conv: int, after_id: int = 0) -> list[int]:
    page = msgs.messages_after(session=db, user_id=user, conversation_id=conv, after_id=after_id)
    return [m.id for m in page.items]


def _row(db: Session, user: int, conv: int) -> Any:
    return convs.get_conversation(session=db, user_id=user, conversation_id=conv)


def _recipients(out: list[events.Outgoing], kind: str) -> list[set[int]]:
    return [set(o.user_ids) for o in out if o.event["type"] == kind]


@contextmanager
def _refused(db: Session, exc: type[Exception] = NotAllowed) -> Iterator[None]:
    """The block raises ``exc`` and changes nothing: rows, system lines, events."""
    before = _snapshot(db)
    with events.collecting() as out, pytest.raises(exc):
        yield
    assert _snapshot(db) == before
    assert out == []
    db.rollback()


@contextmanager
def _no_change(db: Session) -> Iterator[None]:
    """The block succeeds and changes nothing: rows, system lines, events."""
    before = _snapshot(db)
    with events.collecting() as out:
        yield
    assert _snapshot(db) == before
    assert out == []
    db.commit()


def _avatar(db: Session, owner: int, media_id: str | None = None) -> str:
    """An "avatar"-purpose upload of ``owner`` as media.record_upload stores it (no files)."""
    return _media(db, owner, "avatar", media_id)


def _media(db: Session, owner: int, purpose: str, media_id: str | None = None) -> str:
    mid = media_id or secrets.token_urlsafe(18)[:24]
    db.add(
        Media(
            id=mid,
            owner_id=owner,
            purpose=purpose,
            storage="local",
            full_key=f"x/{mid}.png",
            thumb_key=f"x/{mid}_t.png",
            mime="image/png",
            width=10,
            height=10,
            bytes=100,
        )
    )
    db.commit()
    return mid


# 1. The role table, every cell -------------------------------------------------------------
@dataclass
class World:
    """A group with one of each role acting, one of each role to act on, and an outsider."""

    conv: int
    actor: dict[str, int]  # role -> who acts with it
    tina: int  # a member (target)
    tom: int  # a moderator (target)
    tara: int  # an admin (target)
    xena: int  # not in the group
    avatars: dict[int, str]  # each one's own avatar upload


def _world(db: Session) -> World:
    olive, adam, mona, mike = (_user(db, n) for n in ("olive", "adam", "mona", "mike"))
    tina, tom, tara, xena = (_user(db, n) for n in ("tina", "tom", "tara", "xena"))
    conv = _group(
        db,
        olive,
        [adam, mona, mike, tina, tom, tara],
        roles={adam: ADMIN, tara: ADMIN, mona: MODERATOR, tom: MODERATOR},
    )
    actor = {OWNER: olive, ADMIN: adam, MODERATOR: mona, MEMBER: mike}
    avatars = {u: _avatar(db, u) for u in (*actor.values(), tina, tom, tara, xena)}
    return World(conv, actor, tina, tom, tara, xena, avatars)


Act = Callable[[Session, World, int], object]


def _settings_on(db: Session, w: World) -> None:
    row = db.get(Conversation, w.conv)
    assert row is not None
    row.members_can_add = True
    db.add(row)
    db.commit()


def _add(db: Session, w: World, me: int) -> object:
    return groups.add_members(session=db, user_id=me, conversation_id=w.conv, member_ids=[w.xena])


def _remove(who: str) -> Act:
    return lambda db, w, me: groups.remove_member(
        session=db, user_id=me, conversation_id=w.conv, member_id=getattr(w, who)
    )


def _set(who: str, role: str) -> Act:
    return lambda db, w, me: groups.set_role(
        session=db, user_id=me, conversation_id=w.conv, member_id=getattr(w, who), role=role
    )


def _update(**kw: Any) -> Act:
    return lambda db, w, me: groups.update_group(
        session=db, user_id=me, conversation_id=w.conv, **kw
    )


def _picture(db: Session, w: World, me: int) -> object:
    return groups.update_group(
        session=db, user_id=me, conversation_id=w.conv, picture_ref=w.avatars[me]
    )


Check = Callable[[Session, World, int], bool]


def _conv(db: Session, w: World) -> Conversation | None:
    db.expire_all()
    return db.get(Conversation, w.conv)


# action -> (set-up before, the action, the roles that may, what it did when allowed)
CELLS: dict[str, tuple[Callable[[Session, World], None] | None, Act, set[str], Check]] = {
    "send": (
        None,
        lambda db, w, me: msgs.send_message(
            session=db, sender_id=me, conversation_id=w.conv, body="hello", client_id=_cid()
        ),
        {OWNER, ADMIN, MODERATOR, MEMBER},
        lambda db, w, me: (
            "hello"
            in [
                m.body
                for m in msgs.list_messages(
                    session=db, user_id=w.tina, conversation_id=w.conv
                ).items
            ]
        ),
    ),
    "leave": (
        None,
        lambda db, w, me: groups.leave_group(session=db, user_id=me, conversation_id=w.conv),
        {OWNER, ADMIN, MODERATOR, MEMBER},
        lambda db, w, me: _role(db, w.conv, me) is None and OWNER in _roles(db, w.conv).values(),
    ),
    "add members": (
        None,
        _add,
        {OWNER, ADMIN},
        lambda db, w, me: _role(db, w.conv, w.xena) == MEMBER,
    ),
    "add members, members can add": (
        _settings_on,
        _add,
        {OWNER, ADMIN, MEMBER},  # the table: moderator "–" (see the report)
        lambda db, w, me: _role(db, w.conv, w.xena) == MEMBER,
    ),
    "remove a member": (
        None,
        _remove("tina"),
        {OWNER, ADMIN},
        lambda db, w, me: _role(db, w.conv, w.tina) is None,
    ),
    "remove a moderator": (
        None,
        _remove("tom"),
        {OWNER, ADMIN},
        lambda db, w, me: _role(db, w.conv, w.tom) is None,
    ),
    "remove an admin": (
        None,
        _remove("tara"),
        {OWNER},
        lambda db, w, me: _role(db, w.conv, w.tara) is None,
    ),
    "make admin": (
        None,
        _set("tina", ADMIN),
        {OWNER},
        lambda db, w, me: _role(db, w.conv, w.tina) == ADMIN,
    ),
    "unmake admin": (
        None,
        _set("tara", MEMBER),
        {OWNER},
        lambda db, w, me: _role(db, w.conv, w.tara) == MEMBER,
    ),
    "admin to moderator": (
        None,
        _set("tara", MODERATOR),
        {OWNER},
        lambda db, w, me: _role(db, w.conv, w.tara) == MODERATOR,
    ),
    "make moderator": (
        None,
        _set("tina", MODERATOR),
        {OWNER, ADMIN},
        lambda db, w, me: _role(db, w.conv, w.tina) == MODERATOR,
    ),
    "unmake moderator": (
        None,
        _set("tom", MEMBER),
        {OWNER, ADMIN},
        lambda db, w, me: _role(db, w.conv, w.tom) == MEMBER,
    ),
    "rename": (
        None,
        _update(name="New name"),
        {OWNER, ADMIN},
        lambda db, w, me: getattr(_conv(db, w), "title", None) == "New name",
    ),
    "picture": (
        None,
        _picture,
        {OWNER, ADMIN},
        lambda db, w, me: getattr(_conv(db, w), "picture_ref", None) == w.avatars[me],
    ),
    "settings": (
        None,
        _update(members_can_add=True),
        {OWNER, ADMIN},
        lambda db, w, me: getattr(_conv(db, w), "members_can_add", None) is True,
    ),
    "transfer ownership": (
        None,
        lambda db, w, me: groups.transfer_ownership(
            session=db, user_id=me, conversation_id=w.conv, member_id=w.tina
        ),
        {OWNER},
        lambda db, w, me: _role(db, w.conv, w.tina) == OWNER and _role(db, w.conv, me) == ADMIN,
    ),
    "delete group": (
        None,
        lambda db, w, me: groups.delete_group(session=db, user_id=me, conversation_id=w.conv),
        {OWNER},
        lambda db, w, me: _conv(db, w) is None,
    ),
}


@pytest.mark.parametrize("role", [OWNER, ADMIN, MODERATOR, MEMBER])
@pytest.mark.parametrize("cell", list(CELLS))
def test_role_table(db: Session, cell: str, role: str) -> None:
    setup, act, allowed, did = CELLS[cell]
    w = _world(db)
    if setup is not None:
        setup(db, w)
    me = w.actor[role]
    if role not in allowed:
        with _refused(db):
            act(db, w, me)
        assert _roles(db, w.conv)[me] == role
        return
    lines = len(_lines(db, w.conv))
    with events.collecting() as out:
        act(db, w, me)
        db.commit()
    assert did(db, w, me)
    assert out, "an allowed change is announced"
    if cell != "delete group":
        assert len(_lines(db, w.conv)) > lines or cell == "send"


def test_refusals_are_not_allowed_for_outsiders_and_former_members(db: Session) -> None:
    w = _world(db)
    groups.remove_member(
        session=db, user_id=w.actor[OWNER], conversation_id=w.conv, member_id=w.tina
    )
    db.commit()
    for who in (w.xena, w.tina):  # never in it; removed
        for cell, (_setup, act, _allowed, _did) in CELLS.items():
            if cell == "leave" and who == w.tina:
                continue  # leaving again is a no-op (below)
            with _refused(db):
                act(db, w, who)
        with _refused(db):
            groups.group_info(session=db, user_id=who, conversation_id=w.conv)
    with _refused(db):
        groups.leave_group(session=db, user_id=w.xena, conversation_id=w.conv)


# 2. Create ---------------------------------------------------------------------------------
def test_create_group(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    with events.collecting() as out:
        g = groups.create_group(
            session=db, user_id=alice, name="  Weekend \u200b  trip ", member_ids=[carol, bob, bob]
        )
        db.commit()
    assert isinstance(g, GroupOut)
    assert g.name == "Weekend trip"
    assert g.my_role == OWNER and not g.members_can_add and not g.archived
    assert [(m.person.id, m.role) for m in g.members] == [
        (alice, OWNER),
        (bob, MEMBER),
        (carol, MEMBER),
    ]
    assert _roles(db, g.id) == {alice: OWNER, bob: MEMBER, carol: MEMBER}
    conv = db.get(Conversation, g.id)
    assert conv is not None and conv.kind == "group" and conv.direct_key is None
    assert conv.creator_id == alice
    assert _lines(db, g.id) == ["alice created the group", "alice added bob and carol"]
    everyone = {alice, bob, carol}
    assert _recipients(out, "group") == [everyone]
    assert _recipients(out, "message") == [everyone, everyone]
    group_event = next(o.event for o in out if o.event["type"] == "group")
    assert group_event["conv"] == g.id and group_event["title"] == "Weekend trip"
    assert {m["id"]: m["role"] for m in group_event["members"]} == {
        alice: OWNER,
        bob: MEMBER,
        carol: MEMBER,
    }
    # Everyone reads it from the start, the sidebar shows it to each.
    for u in everyone:
        assert len(_ids(db, u, g.id)) == 2
        row = _row(db, u, g.id)
        assert row.kind == "group" and row.title == "Weekend trip" and row.peer is None
        assert row.last_message is not None and row.last_message.system == "added"
        assert row.unread == 0  # system lines do not count
    assert _row(db, alice, g.id).role == OWNER and _row(db, bob, g.id).role == MEMBER


def test_create_group_alone(db: Session) -> None:
    alice = _user(db, "alice")
    g = groups.create_group(session=db, user_id=alice, name="Notes", member_ids=[alice])
    db.commit()
    assert [m.person.id for m in g.members] == [alice]
    assert _lines(db, g.id) == ["alice created the group"]


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\u200b\u200e", "x" * 65, " " + "y" * 65 + " "],
)
def test_create_group_name_must_be_1_to_64_characters_after_cleaning(
    db: Session, name: str
) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    with _refused(db, FieldErrors) as _:
        groups.create_group(session=db, user_id=alice, name=name, member_ids=[bob])


def test_create_group_name_errors_name_the_field(db: Session) -> None:
    alice = _user(db, "alice")
    with pytest.raises(FieldErrors) as caught:
        groups.create_group(session=db, user_id=alice, name="", member_ids=[])
    assert set(caught.value.errors) == {"name"}


@pytest.mark.parametrize("name", ["x", "x" * 64, "  " + "é" * 64 + "\u200b ", "🦊 team"])
def test_create_group_names_at_the_limits(db: Session, name: str) -> None:
    alice = _user(db, "alice")
    g = groups.create_group(session=db, user_id=alice, name=name, member_ids=[])
    db.commit()
    assert 1 <= len(g.name) <= 64
    db.expire_all()
    stored = db.get(Conversation, g.id)
    assert stored is not None and stored.title == g.name


def _crowd(db: Session, n: int) -> list[int]:
    """``n`` users, inserted directly (signing up 256 people would be slow)."""
    db.add_all(
        User(
            username=f"p{i:04d}",
            email=f"p{i:04d}@example.com",
            display_name=f"P{i:04d}",
            password_hash="x",
        )
        for i in range(n)
    )
    db.commit()
    return [i for (i,) in _rows(db, "SELECT id FROM users WHERE username LIKE 'p0%' ORDER BY id")]


def test_create_group_up_to_256_members(db: Session) -> None:
    alice = _user(db, "alice")
    crowd = _crowd(db, 256)
    with _refused(db, ServiceError):  # 257 with the creator
        groups.create_group(session=db, user_id=alice, name="Too big", member_ids=crowd)
    with events.collecting() as out:
        g = groups.create_group(session=db, user_id=alice, name="Big", member_ids=crowd[:254])
        db.commit()
    assert _lines(db, g.id)[1] == "alice added P0000, P0001, P0002 and 251 others"
    # The 256th member may still be added ...
    g = groups.add_members(
        session=db, user_id=alice, conversation_id=g.id, member_ids=crowd[254:255]
    )
    db.commit()
    assert len(g.members) == 256 == len(_roles(db, g.id))
    assert all(len(o.user_ids) == 255 for o in out)
    # ... and no further: adding the 257th is refused.
    with _refused(db, ServiceError):
        groups.add_members(session=db, user_id=alice, conversation_id=g.id, member_ids=crowd[255:])
    with pytest.raises(ServiceError, match="at most 256 members"):
        groups.add_members(session=db, user_id=alice, conversation_id=g.id, member_ids=crowd[255:])


def test_create_group_refuses_unknown_people(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    with _refused(db, ServiceError):
        groups.create_group(session=db, user_id=alice, name="Team", member_ids=[bob, bob + 1000])
    assert _rows(db, "SELECT id FROM conversations") == []


def test_create_group_picture_must_be_the_creators_avatar_upload(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    mine, theirs = _avatar(db, alice), _avatar(db, bob)
    chat_image = _media(db, alice, "chat")
    for ref in (theirs, chat_image, "no-such-upload"):
        with _refused(db, ServiceError):
            groups.create_group(
                session=db, user_id=alice, name="Team", member_ids=[bob], picture_ref=ref
            )
    g = groups.create_group(
        session=db, user_id=alice, name="Team", member_ids=[bob], picture_ref=mine
    )
    db.commit()
    assert g.picture_ref == mine
    assert _row(db, bob, g.id).picture_ref == mine
    # A group picture is not an orphan upload.
    assert media.find_orphans(session=db, older_than=timedelta(0), ids=[mine]) == []


# 3. History visibility ---------------------------------------------------------------------
def test_a_member_added_later_reads_from_when_they_were_added(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob])
    early_image = _media(db, bob, "chat")
    before = [_send(db, bob, conv, "before").message.id]
    before.append(_send(db, bob, conv, "", media_ref=early_image).message.id)
    with events.collecting() as out:
        groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[carol])
        db.commit()
    added = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    assert _lines(db, conv)[-1] == "alice added carol"
    assert _recipients(out, "message") == [{alice, bob, carol}]  # carol sees why she is here
    late_image = _media(db, bob, "chat")
    after = [_send(db, bob, conv, "after").message.id]
    after.append(_send(db, bob, conv, "", media_ref=late_image).message.id)

    assert _ids(db, carol, conv) == [added, *after]
    assert _after(db, carol, conv) == [added, *after]
    assert _after(db, carol, conv, after_id=before[0]) == [added, *after]
    assert _after(db, carol, conv, after_id=after[0]) == [after[1]]
    page = msgs.list_messages(session=db, user_id=carol, conversation_id=conv, limit=3)
    assert [m.id for m in page.items] == [added, *after]
    assert not page.has_more and page.before_at is None  # nothing before her window shows
    # Unread: the two messages after she came (the line that added her does not count).
    row = _row(db, carol, conv)
    assert row.unread == 2 and not row.left and row.role == MEMBER
    assert row.last_message is not None and row.last_message.id == after[1]
    assert row.last_sender_name == "bob"
    # Images: only the one sent since.
    assert media.viewable(session=db, viewer_id=carol, media_id=late_image) is not None
    assert media.viewable(session=db, viewer_id=carol, media_id=early_image) is None
    # The others read everything.
    assert _ids(db, bob, conv)[-5:] == [*before, added, *after]
    assert media.viewable(session=db, viewer_id=alice, media_id=early_image) is not None
    # Reading moves the marker to the end.
    assert convs.mark_read(session=db, user_id=carol, conversation_id=conv) == after[1]
    db.commit()
    assert _row(db, carol, conv).unread == 0


def test_the_newest_page_names_every_member_for_the_tabs_map_of_people(db: Session) -> None:
    """A group's bubbles carry only the sender's id: the newest page (opening the group) names
    every current member, an older page only its writers, and a former member's page never
    names who came after them."""
    alice, bob, carol, dave = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    conv = _group(db, alice, [bob, carol])
    first = _send(db, bob, conv, "hello").message.id
    for i in range(3):
        _send(db, alice, conv, f"more {i}")
    newest = msgs.list_messages(session=db, user_id=carol, conversation_id=conv, limit=2)
    assert set(newest.senders) == {alice, bob, carol}  # carol has never written: still named
    assert newest.senders[bob].display_name == "bob"
    older = msgs.list_messages(session=db, user_id=carol, conversation_id=conv, before_id=first + 1)
    assert set(older.senders) <= {bob, alice} and bob in older.senders
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol)
    db.commit()
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[dave])
    db.commit()
    gone = msgs.list_messages(session=db, user_id=carol, conversation_id=conv)
    assert dave not in gone.senders
    assert dave in msgs.list_messages(session=db, user_id=bob, conversation_id=conv).senders


def test_a_member_added_later_in_the_same_session_as_earlier_sends(db: Session) -> None:
    """The group's newest message is read under the lock: a session that looked at the group
    and then sent (the send updates the row with SQL, so the session's copy keeps the older
    last message) must not widen the new member's window to what was said before."""
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    g = groups.create_group(session=db, user_id=alice, name="Team", member_ids=[bob])
    looked_at = db.get(Conversation, g.id)  # (held: the session keeps this copy)
    assert looked_at is not None
    secret = msgs.send_message(
        session=db, sender_id=bob, conversation_id=g.id, body="secret", client_id=_cid()
    ).message.id
    groups.add_members(session=db, user_id=alice, conversation_id=g.id, member_ids=[carol])
    db.commit()
    assert secret not in _ids(db, carol, g.id)
    assert _row(db, carol, g.id).unread == 0


def test_a_removed_member_keeps_the_history_up_to_the_removal(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    early_image = _media(db, carol, "chat")
    kept = [_send(db, carol, conv, "one").message.id]
    kept.append(_send(db, carol, conv, "", media_ref=early_image).message.id)
    with events.collecting() as out:
        groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
        db.commit()
    removal = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    assert _lines(db, conv)[-1] == "alice removed bob"
    # bob's tabs hear it (the line, and that he is no longer a member) and nothing after.
    assert _recipients(out, "message") == [{alice, bob, carol}]
    assert _recipients(out, "group") == [{alice, bob, carol}]
    group_event = next(o.event for o in out if o.event["type"] == "group")
    assert group_event["members"] == [
        {"id": bob, "role": "", "name": "bob", "username": "bob", "avatar": ""}
    ]
    late_image = _media(db, carol, "chat")
    with events.collecting() as out:
        sent = _send(db, carol, conv, "after").message.id
        sent_image = _send(db, carol, conv, "", media_ref=late_image)
    assert sent_image.member_ids and bob not in sent_image.member_ids
    assert _recipients(out, "message") == [{alice, carol}, {alice, carol}]

    mine = _ids(db, bob, conv)
    assert mine[-3:] == [*kept, removal] and sent not in mine
    assert _after(db, bob, conv)[-3:] == [*kept, removal]
    assert _after(db, bob, conv, after_id=removal) == []
    assert _after(db, bob, conv, after_id=kept[0]) == [kept[1], removal]
    row = _row(db, bob, conv)
    assert row.left and row.unread == 0
    assert row.last_message is not None and row.last_message.id == removal
    assert row.last_message.system == "removed"
    assert [c.id for c in convs.list_conversations(session=db, user_id=bob)] == [conv]
    # No sending, no marker past the removal, no group info.
    with _refused(db):
        msgs.send_message(
            session=db, sender_id=bob, conversation_id=conv, body="hello?", client_id=_cid()
        )
    assert convs.mark_read(session=db, user_id=bob, conversation_id=conv, up_to_id=sent) == removal
    db.commit()
    assert convs.mark_read(session=db, user_id=bob, conversation_id=conv) == removal
    db.commit()
    member = _member(db, conv, bob)
    assert member is not None and member.last_read_message_id == removal
    with _refused(db):
        groups.group_info(session=db, user_id=bob, conversation_id=conv)
    # Images: the one from before, not the one after.
    assert media.viewable(session=db, viewer_id=bob, media_id=early_image) is not None
    assert media.viewable(session=db, viewer_id=bob, media_id=late_image) is None
    assert media.viewable(session=db, viewer_id=alice, media_id=late_image) is not None
    # His presence is no longer shared with them.
    assert bob not in convs.contact_ids(session=db, user_id=carol)
    assert not convs.shares_conversation(session=db, user_id=bob, other_id=carol)


def test_unread_counts_stay_within_a_former_members_window(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    _send(db, alice, conv, "one")
    groups.leave_group(session=db, user_id=bob, conversation_id=conv)
    db.commit()
    for i in range(3):
        _send(db, alice, conv, f"after {i}")
    assert _row(db, bob, conv).unread == 0
    assert _row(db, alice, conv).unread == 0


def test_a_member_who_left_and_is_added_again_reads_from_the_return(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    first = _send(db, alice, conv, "first").message.id
    groups.leave_group(session=db, user_id=bob, conversation_id=conv)
    db.commit()
    missed = _send(db, alice, conv, "missed").message.id
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[bob])
    db.commit()
    back = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    later = _send(db, alice, conv, "later").message.id
    assert _lines(db, conv)[-2:] == ["bob left", "alice added bob"]
    assert _ids(db, bob, conv) == [back, later]
    assert first not in _after(db, bob, conv) and missed not in _after(db, bob, conv)
    assert _row(db, bob, conv).unread == 1 and not _row(db, bob, conv).left
    assert _roles(db, conv) == {alice: OWNER, bob: MEMBER}
    assert _count_members(db, conv) == 2  # the same row, not a second one
    assert bob in _send(db, alice, conv, "again").member_ids
    _send(db, bob, conv, "I'm back")


def _count_members(db: Session, conv: int) -> int:
    return len(
        _rows(db, "SELECT user_id FROM conversation_members WHERE conversation_id = :c", c=conv)
    )


def test_stored_sends_are_announced_again_only_to_who_may_read_them(db: Session) -> None:
    """A tab back from a crash asks which sends were stored; the stored ones are announced
    again. Someone added since must not receive one from before they came."""
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob])
    cid = _cid()
    msgs.send_message(session=db, sender_id=bob, conversation_id=conv, body="x", client_id=cid)
    db.commit()
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[carol])
    db.commit()
    with events.collecting() as out:
        found = msgs.stored_sends(session=db, sender_id=bob, client_ids=[cid])
    assert [r.message.body for r in found] == ["x"]
    assert _recipients(out, "message") == [{alice, bob}]


def test_a_former_members_sidebar_does_not_move_with_the_groups_new_messages(
    db: Session,
) -> None:
    """Their sidebar is ordered by what they see: a group that goes on talking after they
    left does not climb above a conversation with newer messages for them."""
    alice, bob, dave = (_user(db, n) for n in ("alice", "bob", "dave"))
    conv = _group(db, alice, [bob])
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
    db.commit()
    direct = convs.open_direct(session=db, user_id=bob, other_user_id=dave)
    _send(db, dave, direct, "hi bob")
    assert [c.id for c in convs.list_conversations(session=db, user_id=bob)] == [direct, conv]
    _send(db, alice, conv, "now that bob is gone")
    assert [c.id for c in convs.list_conversations(session=db, user_id=bob)] == [direct, conv]
    assert convs.list_conversations(session=db, user_id=alice)[0].id == conv


# 4. Leave ----------------------------------------------------------------------------------
def test_owner_leaving_passes_the_group_to_the_longest_standing_admin(db: Session) -> None:
    zed = _user(db, "zed")  # the smallest id, but he comes last
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[zed])
    for who in (zed, carol):
        groups.set_role(session=db, user_id=alice, conversation_id=conv, member_id=who, role=ADMIN)
    db.commit()
    with events.collecting() as out:
        assert groups.leave_group(session=db, user_id=alice, conversation_id=conv) is None
        db.commit()
    assert _roles(db, conv) == {carol: OWNER, zed: ADMIN, bob: MEMBER}
    assert _lines(db, conv)[-2:] == ["alice left", "carol is now the owner"]
    everyone = {alice, bob, carol, zed}
    assert _recipients(out, "message") == [everyone, {bob, carol, zed}]
    assert {
        m["id"]: m["role"] for o in out if o.event["type"] == "group" for m in o.event["members"]
    } == {
        alice: "",
        carol: OWNER,
    }
    info = groups.group_info(session=db, user_id=carol, conversation_id=conv)
    assert info.my_role == OWNER and [m.person.id for m in info.members] == [carol, zed, bob]
    alice_row = _member(db, conv, alice)
    assert alice_row is not None and alice_row.role == MEMBER and alice_row.left_at is not None


def test_owner_leaving_ties_between_admins_go_to_the_smaller_id(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [carol, bob], roles={carol: ADMIN, bob: ADMIN})  # (joined together)
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    assert _roles(db, conv) == {bob: OWNER, carol: ADMIN}


def test_owner_leaving_without_admins_passes_to_the_longest_standing_member(db: Session) -> None:
    zed = _user(db, "zed")
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [carol])
    for who in (zed, bob):  # after carol, zed first
        groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[who])
        db.commit()
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    assert _roles(db, conv) == {carol: OWNER, zed: MEMBER, bob: MEMBER}
    groups.leave_group(session=db, user_id=carol, conversation_id=conv)
    db.commit()
    assert _roles(db, conv) == {zed: OWNER, bob: MEMBER}
    assert _lines(db, conv)[-2:] == ["carol left", "zed is now the owner"]


def test_a_member_leaving_keeps_the_owner(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol], roles={bob: ADMIN})
    groups.leave_group(session=db, user_id=bob, conversation_id=conv)
    db.commit()
    assert _roles(db, conv) == {alice: OWNER, carol: MEMBER}
    assert _lines(db, conv)[-1] == "bob left"


def test_the_last_member_leaving_archives_and_deletes_nothing(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    said = _send(db, bob, conv, "bye").message.id
    groups.leave_group(session=db, user_id=bob, conversation_id=conv)
    db.commit()
    row = db.get(Conversation, conv)
    assert row is not None and row.archived_at is None
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    db.expire_all()
    row = db.get(Conversation, conv)
    assert row is not None and row.archived_at is not None
    assert _roles(db, conv) == {}
    assert _count_members(db, conv) == 2
    assert _lines(db, conv)[-2:] == ["bob left", "alice left"]
    for who in (alice, bob):
        assert said in _ids(db, who, conv)
        assert _row(db, who, conv).left
    with _refused(db):
        msgs.send_message(
            session=db, sender_id=alice, conversation_id=conv, body="anyone?", client_id=_cid()
        )


def test_leaving_alone_archives(db: Session) -> None:
    alice = _user(db, "alice")
    conv = _group(db, alice, [])
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    db.expire_all()
    row = db.get(Conversation, conv)
    assert row is not None and row.archived_at is not None


@pytest.mark.parametrize("role", [OWNER, ADMIN, MEMBER])
def test_leaving_twice_is_a_no_op(db: Session, role: str) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol], roles={bob: ADMIN})
    who = {OWNER: alice, ADMIN: bob, MEMBER: carol}[role]
    groups.leave_group(session=db, user_id=who, conversation_id=conv)
    db.commit()
    with _no_change(db):
        groups.leave_group(session=db, user_id=who, conversation_id=conv)


def test_leaving_a_direct_conversation_is_refused(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    direct = convs.open_direct(session=db, user_id=alice, other_user_id=bob)
    db.commit()
    with _refused(db):
        groups.leave_group(session=db, user_id=alice, conversation_id=direct)
    with _refused(db):
        groups.add_members(session=db, user_id=alice, conversation_id=direct, member_ids=[bob])
    with _refused(db):
        groups.group_info(session=db, user_id=alice, conversation_id=direct)


# 5. Idempotency ----------------------------------------------------------------------------
def test_adding_a_current_member_changes_nothing(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob], roles={bob: ADMIN})
    with _no_change(db):
        groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[bob])
    with _no_change(db):
        groups.add_members(session=db, user_id=bob, conversation_id=conv, member_ids=[alice, bob])
    with _no_change(db):
        groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[])
    # With someone new among them: only they are added (and named).
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[bob, carol])
    db.commit()
    assert _lines(db, conv)[-1] == "alice added carol"
    assert _roles(db, conv) == {alice: OWNER, bob: ADMIN, carol: MEMBER}


def test_removing_someone_not_in_the_group_changes_nothing(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob])
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
    db.commit()
    with _no_change(db):  # removed already
        groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
    with _no_change(db):  # never in it
        groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol)
    assert _lines(db, conv).count("alice removed bob") == 1


@pytest.mark.parametrize("role", [ADMIN, MODERATOR, MEMBER])
def test_setting_the_same_role_changes_nothing(db: Session, role: str) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob], roles={bob: role} if role != MEMBER else {})
    with _no_change(db):
        groups.set_role(session=db, user_id=alice, conversation_id=conv, member_id=bob, role=role)


def test_updating_to_the_same_values_changes_nothing(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    pic = _avatar(db, alice)
    conv = _group(db, alice, [bob], name="Team")
    groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref=pic)
    db.commit()
    with _no_change(db):
        groups.update_group(
            session=db,
            user_id=alice,
            conversation_id=conv,
            name="  Team ",
            picture_ref=pic,
            members_can_add=False,
        )
    with _no_change(db):
        groups.update_group(session=db, user_id=alice, conversation_id=conv)


def test_role_changes_refused_outside_the_table(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob], roles={bob: ADMIN})

    def set_role(me: int, who: int, role: str) -> GroupOut:
        return groups.set_role(
            session=db, user_id=me, conversation_id=conv, member_id=who, role=role
        )

    for role in (OWNER, "superuser", ""):  # ownership is transferred, never set
        with _refused(db, ServiceError):
            set_role(alice, bob, role)
    with _refused(db, ServiceError):  # not in the group
        set_role(alice, carol, MODERATOR)
    with _refused(db):  # the owner's role is not set
        set_role(bob, alice, MEMBER)
    with _refused(db):  # nor your own
        set_role(bob, bob, MEMBER)
    with _refused(db, ServiceError):  # leaving is how you leave
        groups.remove_member(session=db, user_id=bob, conversation_id=conv, member_id=bob)
    with _refused(db):  # nobody removes the owner
        groups.remove_member(session=db, user_id=bob, conversation_id=conv, member_id=alice)


def test_role_lines_and_events(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    with events.collecting() as out:
        for role in (ADMIN, MODERATOR, MEMBER):
            groups.set_role(
                session=db, user_id=alice, conversation_id=conv, member_id=bob, role=role
            )
        db.commit()
    assert _lines(db, conv)[-3:] == [
        "alice made bob an admin",
        "alice made bob a moderator",
        "alice made bob a member",
    ]
    everyone = {alice, bob, carol}
    assert _recipients(out, "group") == [everyone] * 3
    assert [o.event["members"][0]["role"] for o in out if o.event["type"] == "group"] == [
        ADMIN,
        MODERATOR,
        MEMBER,
    ]
    assert _row(db, carol, conv).unread == 0  # system lines are not unread messages


def test_a_removed_admin_comes_back_as_a_member(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob], roles={bob: ADMIN})
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
    groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[bob])
    db.commit()
    assert _roles(db, conv) == {alice: OWNER, bob: MEMBER}


def test_transfer_ownership(db: Session) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol)
    db.commit()
    for who in (alice, carol, bob + 1000):  # yourself, a former member, nobody
        with _refused(db, ServiceError):
            groups.transfer_ownership(
                session=db, user_id=alice, conversation_id=conv, member_id=who
            )
    with events.collecting() as out:
        g = groups.transfer_ownership(
            session=db, user_id=alice, conversation_id=conv, member_id=bob
        )
        db.commit()
    assert g.my_role == ADMIN
    assert _roles(db, conv) == {bob: OWNER, alice: ADMIN}
    assert _lines(db, conv)[-1] == "alice made bob the owner"
    assert _recipients(out, "group") == [{alice, bob}]
    with _refused(db):  # no longer hers to give
        groups.transfer_ownership(session=db, user_id=alice, conversation_id=conv, member_id=bob)


def test_group_info(db: Session) -> None:
    alice, bob, carol, dave, erin = (
        _user(db, n) for n in ("alice", "bob", "carol", "dave", "erin")
    )
    conv = _group(db, alice, [erin, dave, carol, bob], roles={dave: MODERATOR, erin: ADMIN})
    info = groups.group_info(session=db, user_id=carol, conversation_id=conv)
    assert info.my_role == MEMBER and info.name == "Team"
    assert [(m.person.id, m.role) for m in info.members] == [
        (alice, OWNER),
        (erin, ADMIN),
        (dave, MODERATOR),
        (bob, MEMBER),
        (carol, MEMBER),
    ]
    outsider = _user(db, "frank")
    with _refused(db):
        groups.group_info(session=db, user_id=outsider, conversation_id=conv)
    with _refused(db):
        groups.group_info(session=db, user_id=alice, conversation_id=conv + 1000)


# 6. Races on MariaDB: the second change waits for the first's lock on the group -------------
def _quiet(fn: Callable[[Session], Any]) -> Callable[[Session], Any]:
    """``fn``, returning (its result, the events it sent) (it runs in _race's thread)."""

    def run(s: Session) -> Any:
        with events.collecting() as out:
            result = fn(s)
        return result, out

    return run


def test_two_admins_removing_the_same_member_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    alice, bob, carol, dave = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    conv = _group(db, alice, [bob, carol, dave], roles={bob: ADMIN, carol: ADMIN})

    def remove(by: int) -> Callable[[Session], Any]:
        return _quiet(
            lambda s: groups.remove_member(
                session=s, user_id=by, conversation_id=conv, member_id=dave
            )
        )

    (_won, first_events), (_lost, second_events) = _race(mysql_engine, remove(bob), remove(carol))
    assert first_events and second_events == []
    assert [line for line in _lines(db, conv) if "removed" in line] == ["bob removed dave"]
    member = _member(db, conv, dave)
    assert member is not None and member.left_at is not None
    assert member.history_until_id == max(i for (i,) in _rows(db, "SELECT id FROM messages"))


def test_two_people_adding_the_same_person_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    alice, bob, dave = (_user(db, n) for n in ("alice", "bob", "dave"))
    conv = _group(db, alice, [bob], roles={bob: ADMIN})

    def add(by: int) -> Callable[[Session], Any]:
        return _quiet(
            lambda s: groups.add_members(
                session=s, user_id=by, conversation_id=conv, member_ids=[dave]
            )
        )

    (_won, first_events), (_lost, second_events) = _race(mysql_engine, add(alice), add(bob))
    assert first_events and second_events == []
    assert _count_members(db, conv) == 3
    assert [line for line in _lines(db, conv) if "dave" in line] == ["alice added dave"]


def test_leaving_twice_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])

    def leave(s: Session) -> None:
        groups.leave_group(session=s, user_id=alice, conversation_id=conv)

    _race(mysql_engine, leave, leave)
    assert _roles(db, conv) == {bob: OWNER}
    assert _lines(db, conv)[-2:] == ["alice left", "bob is now the owner"]
    assert _lines(db, conv).count("alice left") == 1


def test_owner_promoting_then_leaving_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    """The promotion commits first: the new admin is the heir (bob, the longest-standing
    member, would be without it)."""
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    _race(
        mysql_engine,
        lambda s: groups.set_role(
            session=s, user_id=alice, conversation_id=conv, member_id=carol, role=ADMIN
        ),
        lambda s: groups.leave_group(session=s, user_id=alice, conversation_id=conv),
    )
    assert _roles(db, conv) == {carol: OWNER, bob: MEMBER}
    assert _lines(db, conv)[-3:] == [
        "alice made carol an admin",
        "alice left",
        "carol is now the owner",
    ]


def test_owner_leaving_then_promoting_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    """The leave commits first: the promotion by someone no longer in the group is refused."""
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])
    with pytest.raises(NotAllowed):
        _race(
            mysql_engine,
            lambda s: groups.leave_group(session=s, user_id=alice, conversation_id=conv),
            lambda s: groups.set_role(
                session=s, user_id=alice, conversation_id=conv, member_id=carol, role=ADMIN
            ),
        )
    assert _roles(db, conv) == {bob: OWNER, carol: MEMBER}
    assert _lines(db, conv)[-2:] == ["alice left", "bob is now the owner"]


@pytest.mark.parametrize("transfer_first", [True, False])
def test_owner_transferring_and_leaving_at_once(
    db: Session, mysql_engine: sa.Engine, transfer_first: bool
) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])

    def transfer(s: Session) -> object:
        return groups.transfer_ownership(
            session=s, user_id=alice, conversation_id=conv, member_id=carol
        )

    def leave(s: Session) -> None:
        groups.leave_group(session=s, user_id=alice, conversation_id=conv)

    if transfer_first:
        _race(mysql_engine, transfer, leave)
        assert _roles(db, conv) == {carol: OWNER, bob: MEMBER}
        assert _lines(db, conv)[-2:] == ["alice made carol the owner", "alice left"]
    else:
        with pytest.raises(NotAllowed):
            _race(mysql_engine, leave, transfer)
        assert _roles(db, conv) == {bob: OWNER, carol: MEMBER}
    assert list(_roles(db, conv).values()).count(OWNER) == 1


def test_a_send_before_a_removal_stays_in_the_removed_members_window(
    db: Session, mysql_engine: sa.Engine
) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    sent, _ = _race(
        mysql_engine,
        lambda s: msgs.send_message(
            session=s, sender_id=bob, conversation_id=conv, body="last words", client_id=_cid()
        ),
        lambda s: groups.remove_member(
            session=s, user_id=alice, conversation_id=conv, member_id=bob
        ),
    )
    removal = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    assert sent.message.id < removal
    assert _ids(db, bob, conv)[-2:] == [sent.message.id, removal]
    assert sent.message.id in _ids(db, alice, conv)


def test_a_send_after_a_removal_is_refused(db: Session, mysql_engine: sa.Engine) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    with pytest.raises(NotAllowed):
        _race(
            mysql_engine,
            lambda s: groups.remove_member(
                session=s, user_id=alice, conversation_id=conv, member_id=bob
            ),
            lambda s: msgs.send_message(
                session=s, sender_id=bob, conversation_id=conv, body="too late", client_id=_cid()
            ),
        )
    bodies = [
        b for (b,) in _rows(db, "SELECT body FROM messages WHERE conversation_id = :c", c=conv)
    ]
    assert "too late" not in bodies and bodies[-1] == "alice removed bob"


# 7. Delete ---------------------------------------------------------------------------------
def test_delete_group(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol])

    def upload(owner: int, purpose: str) -> str:
        m = media.store_upload(
            session=db, owner_id=owner, purpose=purpose, data=png(8, 8), storage=store
        )
        db.commit()
        return m.id

    picture = upload(alice, "avatar")
    groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref=picture)
    db.commit()
    images = [upload(bob, "chat"), upload(carol, "chat")]
    for who, image in zip((bob, carol), images, strict=True):
        _send(db, who, conv, "", media_ref=image)
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol)
    db.commit()
    # Elsewhere: a direct conversation's image, and an upload not sent yet, stay.
    direct = convs.open_direct(session=db, user_id=alice, other_user_id=bob)
    elsewhere = upload(bob, "chat")
    _send(db, bob, direct, "", media_ref=elsewhere)
    assert media.find_orphans(session=db, older_than=timedelta(0)) == []

    with events.collecting() as out:
        groups.delete_group(session=db, user_id=alice, conversation_id=conv)
        db.commit()
    assert [(set(o.user_ids), o.event) for o in out] == [
        ({alice, bob, carol}, {"type": "group", "conv": conv, "deleted": True})
    ]
    for table, column in (
        ("conversations", "id"),
        ("conversation_members", "conversation_id"),
        ("messages", "conversation_id"),
        ("media", "conversation_id"),
    ):
        assert _rows(db, f"SELECT 1 FROM {table} WHERE {column} = :c", c=conv) == []
    for who in (alice, bob, carol):
        assert conv not in [c.id for c in convs.list_conversations(session=db, user_id=who)]
        with _refused(db):
            msgs.list_messages(session=db, user_id=who, conversation_id=conv)
    # Its images and its picture are orphans now: housekeeping deletes rows and files.
    orphans = {o.id for o in media.find_orphans(session=db, older_than=timedelta(0))}
    assert orphans == {*images, picture}
    assert media.purge_orphans(session=db, storage=store, older_than=timedelta(0)) == 3
    db.commit()
    assert {m for (m,) in _rows(db, "SELECT id FROM media")} == {elsewhere}
    assert len(list(store.root.rglob("*.*"))) == 2  # the direct conversation's image
    assert _ids(db, alice, direct)  # untouched


def test_delete_group_is_for_the_owner_only(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob], roles={bob: ADMIN})
    with _refused(db):
        groups.delete_group(session=db, user_id=bob, conversation_id=conv)
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    with _refused(db):  # a former owner
        groups.delete_group(session=db, user_id=alice, conversation_id=conv)
    groups.delete_group(session=db, user_id=bob, conversation_id=conv)  # the new one
    db.commit()
    with _refused(db):  # gone
        groups.delete_group(session=db, user_id=bob, conversation_id=conv)


# 8. Name, picture, settings ----------------------------------------------------------------
def test_rename(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob], roles={bob: ADMIN})
    with events.collecting() as out:
        g = groups.update_group(
            session=db, user_id=bob, conversation_id=conv, name=" Trip\u200b 2026 "
        )
        db.commit()
    assert g.name == "Trip 2026" and _row(db, alice, conv).title == "Trip 2026"
    assert _lines(db, conv)[-1] == "bob renamed the group to “Trip 2026”"
    assert _recipients(out, "group") == [{alice, bob}]
    assert next(o.event for o in out if o.event["type"] == "group")["title"] == "Trip 2026"
    for name in ("", " \u200b ", "x" * 65):
        with _refused(db, FieldErrors):
            groups.update_group(session=db, user_id=alice, conversation_id=conv, name=name)


def test_group_picture(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob], roles={bob: ADMIN})
    mine, mine_too = _avatar(db, alice), _avatar(db, alice)
    theirs, chat_image = _avatar(db, bob), _media(db, alice, "chat")
    for ref in (theirs, chat_image, "no-such-upload"):
        with _refused(db, ServiceError):
            groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref=ref)
    with events.collecting() as out:
        g = groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref=mine)
        db.commit()
    assert g.picture_ref == mine and _row(db, bob, conv).picture_ref == mine
    assert _lines(db, conv)[-1] == "alice changed the group picture"
    group_event = next(o.event for o in out if o.event["type"] == "group")
    assert group_event["avatar"] == media.thumb_url(mine)
    # Anyone signed in may see a group picture, as an avatar.
    assert media.viewable(session=db, viewer_id=bob, media_id=mine) is not None
    # Replaced: the old one is an orphan for housekeeping, the new one is not.
    groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref=mine_too)
    db.commit()
    orphans = {o.id for o in media.find_orphans(session=db, older_than=timedelta(0))}
    assert mine in orphans and mine_too not in orphans
    # Removed.
    g = groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref="")
    db.commit()
    assert g.picture_ref is None and _lines(db, conv)[-1] == "alice removed the group picture"
    with _no_change(db):  # none to remove
        groups.update_group(session=db, user_id=alice, conversation_id=conv, picture_ref="")


def test_members_can_add_setting(db: Session) -> None:
    alice, bob, carol, dave = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    conv = _group(db, alice, [bob])
    with _refused(db):
        groups.add_members(session=db, user_id=bob, conversation_id=conv, member_ids=[carol])
    g = groups.update_group(session=db, user_id=alice, conversation_id=conv, members_can_add=True)
    db.commit()
    assert g.members_can_add
    assert _lines(db, conv)[-1] == "alice turned on “Members can add people”"
    groups.add_members(session=db, user_id=bob, conversation_id=conv, member_ids=[carol])
    db.commit()
    assert _lines(db, conv)[-1] == "bob added carol"
    groups.update_group(session=db, user_id=alice, conversation_id=conv, members_can_add=False)
    db.commit()
    assert _lines(db, conv)[-1] == "alice turned off “Members can add people”"
    with _refused(db):
        groups.add_members(session=db, user_id=bob, conversation_id=conv, member_ids=[dave])


def test_several_changes_at_once_say_each(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    pic = _avatar(db, alice)
    with events.collecting() as out:
        groups.update_group(
            session=db,
            user_id=alice,
            conversation_id=conv,
            name="New",
            picture_ref=pic,
            members_can_add=True,
        )
        db.commit()
    assert _lines(db, conv)[-3:] == [
        "alice renamed the group to “New”",
        "alice changed the group picture",
        "alice turned on “Members can add people”",
    ]
    assert len(_recipients(out, "group")) == 1


def test_a_failed_update_changes_nothing_at_all(db: Session) -> None:
    """A valid name with a picture that is refused: the rename is not kept either."""
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    theirs = _avatar(db, bob)
    with _refused(db, ServiceError):
        groups.update_group(
            session=db, user_id=alice, conversation_id=conv, name="New", picture_ref=theirs
        )
    db.expire_all()
    row = db.get(Conversation, conv)
    assert row is not None and row.title == "Team"


def test_an_admin_demoted_while_removing_someone(db: Session, mysql_engine: sa.Engine) -> None:
    """The actor's role is the one after the lock: demoted first, the removal is refused."""
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob, carol], roles={bob: ADMIN})
    with pytest.raises(NotAllowed):
        _race(
            mysql_engine,
            lambda s: groups.set_role(
                session=s, user_id=alice, conversation_id=conv, member_id=bob, role=MEMBER
            ),
            lambda s: groups.remove_member(
                session=s, user_id=bob, conversation_id=conv, member_id=carol
            ),
        )
    assert _roles(db, conv) == {alice: OWNER, bob: MEMBER, carol: MEMBER}
    assert _lines(db, conv)[-1] == "alice made bob a member"


def test_a_send_racing_an_add(db: Session, mysql_engine: sa.Engine) -> None:
    """Sent first: the one added right after does not get it, nor read it. Added first: they
    get the message and read it."""
    alice, bob, carol, dave = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    conv = _group(db, alice, [bob])

    def send(body: str) -> Callable[[Session], SendResult]:
        return lambda s: msgs.send_message(
            session=s, sender_id=bob, conversation_id=conv, body=body, client_id=_cid()
        )

    def add(who: int) -> Callable[[Session], object]:
        return lambda s: groups.add_members(
            session=s, user_id=alice, conversation_id=conv, member_ids=[who]
        )

    before, _ = _race(mysql_engine, send("before carol"), add(carol))
    assert carol not in before.member_ids
    assert before.message.id not in _ids(db, carol, conv)
    _, after = _race(mysql_engine, add(dave), send("after dave"))
    assert dave in after.member_ids and carol in after.member_ids
    assert after.message.id in _ids(db, dave, conv)
    assert before.message.id not in _ids(db, dave, conv)


def test_a_groups_events_reach_its_own_members_only(db: Session) -> None:
    """Who receives a new message, a message announced again and a change is read per
    conversation: the members of another group get none of them."""
    from chatapp.services import lifecycle

    alice, bob, carol, dan = (_user(db, n) for n in ("alice", "bob", "carol", "dan"))
    conv = _group(db, alice, [bob])
    _group(db, carol, [dan])  # someone else's group, with current members
    first = _send(db, alice, conv, "first")
    cid = _cid()
    with events.collecting() as sent:
        msgs.send_message(
            session=db,
            sender_id=bob,
            conversation_id=conv,
            body="a reply",
            client_id=cid,
            reply_to_id=first.message.id,
        )
        db.commit()
    with events.collecting() as again:
        msgs.stored_sends(session=db, sender_id=bob, client_ids=[cid])
    with events.collecting() as changed:
        lifecycle.edit_message(
            session=db, user_id=alice, message_id=first.message.id, body="first, edited"
        )
        db.commit()
    assert _recipients(sent, "message") == [{alice, bob}]
    assert _recipients(again, "message") == [{alice, bob}]
    assert _recipients(changed, "change") == [{alice, bob}]


def test_a_former_member_is_told_they_left_and_an_outsider_that_they_are_not_in_it(
    db: Session,
) -> None:
    alice, bob, carol = (_user(db, n) for n in ("alice", "bob", "carol"))
    conv = _group(db, alice, [bob])
    groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=bob)
    db.commit()
    told = {}
    for who, call in (
        ("removed", lambda: groups.group_info(session=db, user_id=bob, conversation_id=conv)),
        ("outsider", lambda: groups.group_info(session=db, user_id=carol, conversation_id=conv)),
        ("reading", lambda: convs.mark_read(session=db, user_id=carol, conversation_id=conv)),
    ):
        with pytest.raises(NotAllowed) as exc:
            call()
        told[who] = str(exc.value)
    assert told == {
        "removed": "You are no longer a member of this group.",
        "outsider": "You are not in this conversation.",
        "reading": "You are not in this conversation.",
    }


def _kinds(db: Session, conv: int) -> list[str]:
    """The kinds of the group's system lines, oldest first (what each line's icon says)."""
    return [
        k
        for (k,) in _rows(
            db,
            "SELECT `system` FROM messages WHERE conversation_id = :c AND `system` IS NOT NULL"
            " ORDER BY id",
            c=conv,
        )
    ]


def test_each_change_says_what_it_was_and_answers_with_the_actors_role(db: Session) -> None:
    alice, bob, carol, dan = (_user(db, n) for n in ("alice", "bob", "carol", "dan"))
    conv = _group(db, alice, [bob, carol])
    picture = _avatar(db, alice)
    dans = db.get(User, dan)
    assert dans is not None
    dans.avatar_ref = _avatar(db, dan)
    db.add(dans)
    db.commit()
    with events.collecting() as out:
        answers = [
            groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[dan]),
            groups.set_role(
                session=db, user_id=alice, conversation_id=conv, member_id=bob, role=ADMIN
            ),
            groups.update_group(session=db, user_id=alice, conversation_id=conv, name="Crew"),
            groups.update_group(
                session=db, user_id=alice, conversation_id=conv, picture_ref=picture
            ),
            groups.update_group(
                session=db, user_id=alice, conversation_id=conv, members_can_add=True
            ),
            groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol),
            # Asking for what is already so answers too, with the same role.
            groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[dan]),
            groups.remove_member(session=db, user_id=alice, conversation_id=conv, member_id=carol),
            groups.set_role(
                session=db, user_id=alice, conversation_id=conv, member_id=bob, role=ADMIN
            ),
        ]
        groups.leave_group(session=db, user_id=dan, conversation_id=conv)
        groups.transfer_ownership(session=db, user_id=alice, conversation_id=conv, member_id=bob)
        db.commit()
    assert [g.my_role for g in answers] == [OWNER] * len(answers)
    assert _kinds(db, conv) == [
        "created",
        "added",
        "added",
        "role",
        "renamed",
        "picture",
        "settings",
        "removed",
        "left",
        "owner",
    ]
    group_events = [o.event for o in out if o.event["type"] == "group"]
    added = group_events[0]["members"]
    assert [(m["id"], m["role"], m["username"], m["name"]) for m in added] == [
        (dan, MEMBER, "dan", "dan")
    ]
    assert added[0]["avatar"] == media.thumb_url(dans.avatar_ref) != ""
    assert [e["can_add"] for e in group_events[:5]] == [False] * 4 + [True]  # the setting
    # What a departed member's tabs say: removed, or left.
    departures = [(e["members"][0]["id"], e.get("why")) for e in group_events if "why" in e]
    assert departures == [(carol, "removed"), (dan, "left")]


def test_the_owner_leaving_hands_over_with_a_line_that_says_so(db: Session) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, alice, [bob])
    groups.leave_group(session=db, user_id=alice, conversation_id=conv)
    db.commit()
    assert _kinds(db, conv)[-2:] == ["left", "owner"]
    assert _lines(db, conv)[-1] == "bob is now the owner"


def test_what_a_refused_change_says(db: Session) -> None:
    alice, bob, carol, dan, erin, fay = (
        _user(db, n) for n in ("alice", "bob", "carol", "dan", "erin", "fay")
    )
    conv = _group(db, alice, [bob, carol, dan, fay], roles={bob: ADMIN, carol: ADMIN})
    chat_image = _media(db, alice, "chat")
    told = {}
    attempts: dict[str, Callable[[], object]] = {
        "member adds": lambda: groups.add_members(
            session=db, user_id=dan, conversation_id=conv, member_ids=[erin]
        ),
        "member removes": lambda: groups.remove_member(
            session=db, user_id=dan, conversation_id=conv, member_id=fay
        ),
        "admin removes admin": lambda: groups.remove_member(
            session=db, user_id=bob, conversation_id=conv, member_id=carol
        ),
        "admin removes owner": lambda: groups.remove_member(
            session=db, user_id=bob, conversation_id=conv, member_id=alice
        ),
        "removes self": lambda: groups.remove_member(
            session=db, user_id=bob, conversation_id=conv, member_id=bob
        ),
        "makes an owner": lambda: groups.set_role(
            session=db, user_id=alice, conversation_id=conv, member_id=dan, role=OWNER
        ),
        "role of an outsider": lambda: groups.set_role(
            session=db, user_id=alice, conversation_id=conv, member_id=erin, role=ADMIN
        ),
        "admin makes admin": lambda: groups.set_role(
            session=db, user_id=bob, conversation_id=conv, member_id=dan, role=ADMIN
        ),
        "member makes moderator": lambda: groups.set_role(
            session=db, user_id=dan, conversation_id=conv, member_id=dan, role=MODERATOR
        ),
        "admin transfers": lambda: groups.transfer_ownership(
            session=db, user_id=bob, conversation_id=conv, member_id=dan
        ),
        "transfer to self": lambda: groups.transfer_ownership(
            session=db, user_id=alice, conversation_id=conv, member_id=alice
        ),
        "admin deletes": lambda: groups.delete_group(session=db, user_id=bob, conversation_id=conv),
        "member renames": lambda: groups.update_group(
            session=db, user_id=dan, conversation_id=conv, name="Mine"
        ),
        "not an avatar": lambda: groups.update_group(
            session=db, user_id=alice, conversation_id=conv, picture_ref=chat_image
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ServiceError) as exc:
            attempt()
        db.rollback()
        told[what] = str(exc.value)
    assert told == {
        "member adds": "Only the group's admins can add people.",
        "member removes": "Only the group's admins can remove people.",
        "admin removes admin": "Only the owner can remove an admin.",
        "admin removes owner": "The owner cannot be removed.",
        "removes self": "Use Leave group to leave.",
        "makes an owner": "Unknown role.",
        "role of an outsider": "That person is not in this group.",
        "admin makes admin": "Only the owner can change admins.",
        "member makes moderator": "Only the group's admins can change roles.",
        "admin transfers": "Only the owner can transfer ownership.",
        "transfer to self": "Pick another member of the group.",
        "admin deletes": "Only the owner can delete the group.",
        "member renames": "Only the group's admins can change its name, picture or settings.",
        "not an avatar": "Upload the picture again.",
    }


def test_the_added_line_names_up_to_four_people(db: Session) -> None:
    alice = _user(db, "alice")
    people = [_user(db, n) for n in ("bob", "carol", "dan", "erin", "fay")]
    lines = []
    for n in (1, 2, 4, 5):
        conv = _group(db, alice, people[:n], name=f"Team {n}")
        lines.append(_lines(db, conv)[1])
    assert lines == [
        "alice added bob",
        "alice added bob and carol",
        "alice added bob, carol, dan and erin",
        "alice added bob, carol, dan and 2 others",
    ]


def test_a_group_lists_and_tells_its_own_members_only(db: Session) -> None:
    """Two groups at once: each one's member list, its group events and who is already in it
    when adding are its own."""
    alice, bob, carol, dan = (_user(db, n) for n in ("alice", "bob", "carol", "dan"))
    conv = _group(db, alice, [bob])
    _group(db, carol, [dan])
    info = groups.group_info(session=db, user_id=alice, conversation_id=conv)
    assert [m.person.id for m in info.members] == [alice, bob]
    assert all(m.joined_at is not None for m in info.members)
    with events.collecting() as out:
        g = groups.add_members(session=db, user_id=alice, conversation_id=conv, member_ids=[dan])
        groups.update_group(session=db, user_id=alice, conversation_id=conv, name="Renamed")
        db.commit()
    assert [m.person.id for m in g.members] == [alice, bob, dan]
    assert _recipients(out, "group") == [{alice, bob, dan}] * 2
