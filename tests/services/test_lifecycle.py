"""What happens to a message after it is sent (issue 13), against a real MariaDB database: edit
(own, 24 hours, the old text kept and never shown), delete (own, or a group's moderators;
the image unlinked), reactions (the offered set, toggled per person), replies and their quotes,
the per-conversation change sequence and catching up with ``changes_after``, the ``change``
events, and races between two transactions.

Refused changes are checked to change nothing: every row of the chat tables is the same before
and after (read in the same transaction, so a pending write would show), and no event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp import wire
from chatapp.models import Conversation, Media, Message
from chatapp.services import conversations as convs
from chatapp.services import events, groups, lifecycle, media
from chatapp.services import messages as msgs
from chatapp.services.dto import ChangedOut, MessageOut, SendResult
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.services.membership import ADMIN, MEMBER, MODERATOR, OWNER
from chatapp.storage.local import LocalStorage
from tests.services.test_chat_services import _race, _user
from tests.support.images import png

TABLES = (
    "conversations",
    "conversation_members",
    "messages",
    "media",
    "message_reactions",
    "message_edits",
)
THUMBS, HEART, JOY = "👍", "❤️", "😂"


# Helpers ----------------------------------------------------------------------------------
def _cid() -> str:
    return secrets.token_urlsafe(12)


def _pair(db: Session) -> tuple[int, int, int]:
    """Alice, Bob and their direct conversation."""
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    return a, b, conv


def _group(db: Session, owner: int, members: list[int], roles: dict[int, str] | None = None) -> int:
    g = groups.create_group(session=db, user_id=owner, name="Team", member_ids=members)
    for uid, role in (roles or {}).items():
        groups.set_role(session=db, user_id=owner, conversation_id=g.id, member_id=uid, role=role)
    db.commit()
    return g.id


def _send(
    db: Session,
    sender: int,
    conv: int,
    body: str = "hi",
    media_ref: str | None = None,
    reply_to_id: int | None = None,
) -> int:
    out = msgs.send_message(
        session=db,
        sender_id=sender,
        conversation_id=conv,
        body=body,
        client_id=_cid(),
        media_ref=media_ref,
        reply_to_id=reply_to_id,
    )
    db.commit()
    return out.message.id


def _edit(db: Session, user: int, mid: int, body: str) -> ChangedOut:
    out = lifecycle.edit_message(session=db, user_id=user, message_id=mid, body=body)
    db.commit()
    return out


def _delete(db: Session, user: int, mid: int) -> ChangedOut:
    out = lifecycle.delete_message(session=db, user_id=user, message_id=mid)
    db.commit()
    return out


def _react(db: Session, user: int, mid: int, emoji: str = THUMBS) -> ChangedOut:
    out = lifecycle.react(session=db, user_id=user, message_id=mid, emoji=emoji)
    db.commit()
    return out


def _rows(db: Session, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(sa.text(sql), params).all()]


def _snapshot(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the chat tables, as this transaction sees them (pending ORM changes too)."""
    db.flush()
    return {t: _rows(db, f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}


@contextmanager
def _refused(db: Session, exc: type[Exception] = NotAllowed) -> Iterator[None]:
    """The block raises ``exc`` and changes nothing: rows and events."""
    before = _snapshot(db)
    with events.collecting() as out, pytest.raises(exc):
        yield
    assert _snapshot(db) == before
    assert out == []
    db.rollback()


@contextmanager
def _no_change(db: Session) -> Iterator[None]:
    """The block succeeds and changes nothing: rows and events."""
    before = _snapshot(db)
    with events.collecting() as out:
        yield
    assert _snapshot(db) == before
    assert out == []
    db.commit()


def _msg(db: Session, mid: int) -> Message:
    db.expire_all()
    m = db.get(Message, mid)
    assert m is not None
    return m


def _seq(db: Session, conv: int) -> int:
    db.expire_all()
    c = db.get(Conversation, conv)
    assert c is not None
    return c.change_seq


def _page(db: Session, user: int, conv: int) -> dict[int, MessageOut]:
    page = msgs.list_messages(session=db, user_id=user, conversation_id=conv, limit=200)
    return {m.id: m for m in page.items}


def _changes(db: Session, user: int, conv: int, after: int = 0) -> list[int]:
    got = lifecycle.changes_after(session=db, user_id=user, conversation_id=conv, after_seq=after)
    return [c.message.id for c in got.items]


def _changes_of(out: list[events.Outgoing]) -> list[tuple[set[int], dict[str, Any]]]:
    return [(set(o.user_ids), o.event) for o in out if o.event["type"] == "change"]


def _set_created(db: Session, mid: int, at: datetime) -> None:
    db.execute(sa.text("UPDATE messages SET created_at = :at WHERE id = :m"), {"at": at, "m": mid})
    db.commit()


def _upload(db: Session, owner: int, width: int = 40, height: int = 30) -> str:
    """A chat image row as media.store_upload records it (no files needed here)."""
    mid = secrets.token_urlsafe(18)[:24]
    db.add(
        Media(
            id=mid,
            owner_id=owner,
            purpose="chat",
            storage="local",
            full_key=f"x/{mid}.png",
            thumb_key=f"x/{mid}_t.png",
            mime="image/png",
            width=width,
            height=height,
            bytes=100,
        )
    )
    db.commit()
    return mid


def _everything_shown(db: Session, user: int, conv: int) -> str:
    """All a reader can get of a conversation, as text: pages, catch-up, changes, sidebar."""
    page = msgs.list_messages(session=db, user_id=user, conversation_id=conv, limit=200)
    after = msgs.messages_after(session=db, user_id=user, conversation_id=conv, after_id=0)
    changes = lifecycle.changes_after(session=db, user_id=user, conversation_id=conv, after_seq=0)
    side = convs.get_conversation(session=db, user_id=user, conversation_id=conv)
    return repr((page, after, changes, side))


# 1. Edit ------------------------------------------------------------------------------------
def test_edit_own_message(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "frist")
    with events.collecting() as out:
        changed = _edit(db, a, mid, "  first  ")
    assert changed.message.body == "first" and changed.message.edited_at is not None
    assert changed.message.change_seq == 1 and _seq(db, conv) == 1
    row = _msg(db, mid)
    assert row.body == "first" and row.edited_at is not None and row.change_seq == 1
    assert _rows(db, "SELECT message_id, editor_id, old_body FROM message_edits") == [
        (mid, a, "frist")
    ]
    [(to, event)] = _changes_of(out)
    assert to == {a, b}
    assert event["conv"] == conv and event["seq"] == 1 and event["reactions"] == {}
    assert event["message"]["body"] == "first" and event["message"]["edited"] is True
    assert event["name"] == "alice"
    assert _page(db, b, conv)[mid].body == "first"


def test_edits_keep_every_old_text_and_never_show_it(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "version one")
    with events.collecting() as out:
        _edit(db, a, mid, "version two")
        _edit(db, a, mid, "version three")
    assert [r[0] for r in _rows(db, "SELECT old_body FROM message_edits ORDER BY id")] == [
        "version one",
        "version two",
    ]
    for who in (a, b):
        shown = _everything_shown(db, who, conv)
        assert "version three" in shown
        assert "version one" not in shown and "version two" not in shown
    assert "version one" not in repr(out)
    assert "version two" not in repr([o for o in out if o.event["seq"] == 2])


def test_editing_to_the_same_text_changes_nothing(db: Session) -> None:
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "same")
    with _no_change(db):
        lifecycle.edit_message(session=db, user_id=a, message_id=mid, body=" same ")


def test_only_the_sender_edits(db: Session) -> None:
    """Nobody edits someone else's message: not the other person, not a group's owner."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "mine")
    with _refused(db):
        lifecycle.edit_message(session=db, user_id=b, message_id=mid, body="yours now")
    carol, dave = _user(db, "carol"), _user(db, "dave")
    group = _group(db, carol, [a, dave], roles={dave: ADMIN})
    gm = _send(db, a, group, "in the group")
    for who in (carol, dave):
        with _refused(db):
            lifecycle.edit_message(session=db, user_id=who, message_id=gm, body="changed")


@pytest.mark.parametrize("body", ["", "   ", "\n\t", "\u3000"])
def test_empty_text_is_refused(db: Session, body: str) -> None:
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "text")
    with _refused(db, ServiceError):
        lifecycle.edit_message(session=db, user_id=a, message_id=mid, body=body)


def test_edit_length_limit(db: Session) -> None:
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "text")
    with _refused(db, ServiceError):
        lifecycle.edit_message(
            session=db, user_id=a, message_id=mid, body="x" * (msgs.MAX_BODY_CHARS + 1)
        )
    _edit(db, a, mid, "x" * msgs.MAX_BODY_CHARS)
    assert len(_msg(db, mid).body) == msgs.MAX_BODY_CHARS


def test_edit_within_24_hours_only(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is the service's: exactly 24 hours after sending still edits, a microsecond
    later does not (and changes nothing)."""
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "before")
    sent = _msg(db, mid).created_at.replace(tzinfo=UTC)
    monkeypatch.setattr(lifecycle, "utcnow", lambda: sent + lifecycle.EDIT_WINDOW)
    _edit(db, a, mid, "at the limit")
    monkeypatch.setattr(
        lifecycle, "utcnow", lambda: sent + lifecycle.EDIT_WINDOW + timedelta(microseconds=1)
    )
    with _refused(db, ServiceError):
        lifecycle.edit_message(session=db, user_id=a, message_id=mid, body="too late")
    assert _msg(db, mid).body == "at the limit"


def test_a_message_sent_yesterday_is_not_edited(db: Session) -> None:
    a, _b, conv = _pair(db)
    old = _send(db, a, conv, "old")
    recent = _send(db, a, conv, "recent")
    now = datetime.now(UTC)
    _set_created(db, old, now - timedelta(hours=24, seconds=5))
    _set_created(db, recent, now - timedelta(hours=23, minutes=59))
    with _refused(db, ServiceError):
        lifecycle.edit_message(session=db, user_id=a, message_id=old, body="changed")
    _edit(db, a, recent, "changed")


def test_a_deleted_message_is_not_edited(db: Session) -> None:
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "gone soon")
    _delete(db, a, mid)
    with _refused(db, ServiceError):
        lifecycle.edit_message(session=db, user_id=a, message_id=mid, body="back")


def test_edit_an_image_caption_and_clear_it(db: Session) -> None:
    """An image message's caption can be changed and emptied (an image needs no caption, as
    when sending); the image and its size stay."""
    a, b, conv = _pair(db)
    image = _upload(db, a, 40, 30)
    mid = _send(db, a, conv, "caption", media_ref=image)
    changed = _edit(db, a, mid, "new caption")
    assert (changed.message.body, changed.message.media_ref) == ("new caption", image)
    with events.collecting() as out:
        changed = _edit(db, a, mid, "  ")
    assert changed.message.body == "" and changed.message.media_ref == image
    assert _msg(db, mid).body == ""
    [(_to, event)] = _changes_of(out)
    assert (event["message"]["w"], event["message"]["h"]) == (40, 30)
    shown = _page(db, b, conv)[mid]
    assert (shown.body, shown.media_width, shown.media_height) == ("", 40, 30)


def test_system_lines_and_strangers_messages_are_not_edited(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b])
    line = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    with _refused(db):
        lifecycle.edit_message(session=db, user_id=a, message_id=line, body="rewritten")
    mid = _send(db, a, group, "hello")
    with _refused(db):  # not in the group at all
        lifecycle.edit_message(session=db, user_id=c, message_id=mid, body="x")
    with _refused(db):  # no such message
        lifecycle.edit_message(session=db, user_id=a, message_id=mid + 1000, body="x")


def test_a_former_member_edits_nothing(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    group = _group(db, a, [b])
    mid = _send(db, b, group, "said before leaving")
    groups.leave_group(session=db, user_id=b, conversation_id=group)
    db.commit()
    for fn in (
        lambda: lifecycle.edit_message(session=db, user_id=b, message_id=mid, body="x"),
        lambda: lifecycle.delete_message(session=db, user_id=b, message_id=mid),
        lambda: lifecycle.react(session=db, user_id=b, message_id=mid, emoji=THUMBS),
    ):
        with _refused(db):
            fn()


# 2. Delete ----------------------------------------------------------------------------------
def test_delete_own_message(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "oops")
    _react(db, b, mid)
    with events.collecting() as out:
        changed = _delete(db, a, mid)
    m = changed.message
    assert m.deleted and not m.moderated and m.body == "" and changed.reactions == {}
    row = _msg(db, mid)
    # The audit: the row stays, with who deleted it and when (the text for moderation only).
    assert row.deleted_at is not None and row.deleted_by == a and row.body == "oops"
    assert _rows(db, "SELECT * FROM message_reactions") == []
    assert row.change_seq == 2 == _seq(db, conv)
    [(to, event)] = _changes_of(out)
    assert to == {a, b} and event["seq"] == 2
    assert event["message"]["deleted"] is True and event["message"]["body"] == ""
    assert "mod" not in event["message"]
    for who in (a, b):
        assert "oops" not in _everything_shown(db, who, conv)
        shown = _page(db, who, conv)[mid]
        assert shown.deleted and shown.body == ""
        last = convs.get_conversation(session=db, user_id=who, conversation_id=conv).last_message
        assert last is not None and last.deleted and last.body == ""


def test_own_messages_are_deleted_at_any_time(db: Session) -> None:
    a, _b, conv = _pair(db)
    mid = _send(db, a, conv, "last year")
    _set_created(db, mid, datetime.now(UTC) - timedelta(days=365))
    assert _delete(db, a, mid).message.deleted


@pytest.mark.parametrize("role", [OWNER, ADMIN, MODERATOR])
def test_a_groups_moderators_delete_anyones_message(db: Session, role: str) -> None:
    owner, mod, writer, other = (_user(db, n) for n in ("olive", "mona", "walt", "otto"))
    conv = _group(db, owner, [mod, writer, other], roles={} if role == OWNER else {mod: role})
    actor = owner if role == OWNER else mod
    mid = _send(db, writer, conv, "against the rules")
    with events.collecting() as out:
        changed = _delete(db, actor, mid)
    assert changed.message.deleted and changed.message.moderated
    assert _msg(db, mid).deleted_by == actor
    [(to, event)] = _changes_of(out)
    assert to == {owner, mod, writer, other}
    assert event["message"]["mod"] is True and event["message"]["body"] == ""
    assert "against the rules" not in _everything_shown(db, other, conv)


def test_a_member_does_not_delete_others_messages(db: Session) -> None:
    owner, member, writer = (_user(db, n) for n in ("olive", "mike", "walt"))
    conv = _group(db, owner, [member, writer])
    mine = _send(db, owner, conv, "owner's")
    theirs = _send(db, writer, conv, "writer's")
    for mid in (mine, theirs):
        with _refused(db):
            lifecycle.delete_message(session=db, user_id=member, message_id=mid)
    # Their own: yes, and not "by a moderator".
    own = _send(db, member, conv, "member's")
    assert not _delete(db, member, own).message.moderated


def test_direct_conversations_delete_only_own(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "alice's")
    with _refused(db):
        lifecycle.delete_message(session=db, user_id=b, message_id=mid)
    stranger = _user(db, "carol")
    with _refused(db):
        lifecycle.delete_message(session=db, user_id=stranger, message_id=mid)


def test_deleting_twice(db: Session) -> None:
    """Deleting an already deleted message again changes nothing for whoever may delete it;
    for someone who may not, it is refused as before (no success for a crafted request)."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "once")
    _delete(db, a, mid)
    with _no_change(db):
        lifecycle.delete_message(session=db, user_id=a, message_id=mid)
    with _refused(db):
        lifecycle.delete_message(session=db, user_id=b, message_id=mid)


def test_a_deleted_image_is_unlinked(db: Session, tmp_path: Path) -> None:
    """Its image is no longer viewable by anyone and is an orphan: housekeeping removes the
    files and the row at its next sweep."""
    store = LocalStorage(tmp_path / "media")
    a, b, conv = _pair(db)
    image = media.store_upload(
        session=db, owner_id=a, purpose="chat", data=png(8, 8), storage=store
    ).id
    db.commit()
    mid = _send(db, a, conv, "look", media_ref=image)
    assert media.viewable(session=db, viewer_id=b, media_id=image) is not None
    assert media.find_orphans(session=db, older_than=timedelta(hours=24)) == []
    changed = _delete(db, a, mid)
    assert changed.message.media_ref is None and changed.message.media_width == 0
    db.expire_all()
    for who in (a, b):
        assert media.viewable(session=db, viewer_id=who, media_id=image) is None
        shown = _page(db, who, conv)[mid]
        assert (shown.media_ref, shown.media_width, shown.media_height) == (None, 0, 0)
        assert image not in _everything_shown(db, who, conv)
    grace = timedelta(hours=24)
    assert [o.id for o in media.find_orphans(session=db, older_than=grace)] == [image]
    assert media.purge_orphans(session=db, storage=store, older_than=grace) == 1
    db.commit()
    assert _rows(db, "SELECT id FROM media") == []
    assert list(store.root.rglob("*.*")) == []


def test_an_image_another_message_carries_stays(db: Session) -> None:
    """The same upload sent twice (its claim is idempotent): deleting one message leaves the
    image to the other."""
    a, b, conv = _pair(db)
    image = _upload(db, a)
    first = _send(db, a, conv, "", media_ref=image)
    second = _send(db, a, conv, "again", media_ref=image)
    _delete(db, a, first)
    db.expire_all()
    assert media.viewable(session=db, viewer_id=b, media_id=image) is not None
    assert media.find_orphans(session=db, older_than=timedelta(0)) == []
    assert _page(db, b, conv)[second].media_ref == image
    _delete(db, a, second)
    db.expire_all()
    assert media.viewable(session=db, viewer_id=b, media_id=image) is None
    assert [o.id for o in media.find_orphans(session=db, older_than=timedelta(0))] == [image]


def test_a_system_line_is_not_deleted(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    _group(db, a, [b])
    line = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    with _refused(db):
        lifecycle.delete_message(session=db, user_id=a, message_id=line)


# 3. Reactions -------------------------------------------------------------------------------
def test_reactions_toggle_per_person_with_counts(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "nice")
    with events.collecting() as out:
        assert _react(db, b, mid, HEART).reactions == {HEART: [b]}
        assert _react(db, a, mid, THUMBS).reactions == {THUMBS: [a], HEART: [b]}
        assert _react(db, b, mid, THUMBS).reactions == {THUMBS: [a, b], HEART: [b]}
        assert _react(db, a, mid, THUMBS).reactions == {THUMBS: [b], HEART: [b]}  # off again
    assert [e["seq"] for _to, e in _changes_of(out)] == [1, 2, 3, 4]
    assert [e["reactions"] for _to, e in _changes_of(out)][-1] == {THUMBS: [b], HEART: [b]}
    assert all(to == {a, b} for to, _e in _changes_of(out))
    page = msgs.list_messages(session=db, user_id=a, conversation_id=conv)
    assert page.reactions == {mid: {THUMBS: [b], HEART: [b]}} and page.seq == 4
    assert lifecycle.reactions_of(db, [mid]) == {mid: {THUMBS: [b], HEART: [b]}}
    assert sorted(_rows(db, "SELECT user_id, emoji FROM message_reactions")) == sorted(
        [(b, THUMBS), (b, HEART)]
    )


@pytest.mark.parametrize("emoji", ["🍕", "", "👍👍", "👍🏽", "x", "❤", THUMBS + " "])
def test_only_the_offered_reactions(db: Session, emoji: str) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)
    with _refused(db, ServiceError):
        lifecycle.react(session=db, user_id=b, message_id=mid, emoji=emoji)


def test_every_offered_reaction_round_trips(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)
    for e in lifecycle.REACTIONS:
        _react(db, b, mid, e)
    got = lifecycle.reactions_of(db, [mid])[mid]
    assert list(got) == list(lifecycle.REACTIONS) and all(v == [b] for v in got.values())


def test_no_reaction_on_a_deleted_message(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)
    _delete(db, a, mid)
    with _refused(db, ServiceError):
        lifecycle.react(session=db, user_id=b, message_id=mid, emoji=THUMBS)


def test_reactions_only_by_readers_of_the_message(db: Session) -> None:
    """Outsiders, a former member and a member added later (on a message from before) get the
    same answer as for no such message; and who reacted is theirs to see only as readers."""
    a, b, c, d = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    group = _group(db, a, [b])
    old = _send(db, a, group, "before carol")
    _react(db, b, old)
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    db.commit()
    new = _send(db, a, group, "after carol")
    for who, mid in ((d, old), (d, new), (c, old)):
        with _refused(db):
            lifecycle.react(session=db, user_id=who, message_id=mid, emoji=THUMBS)
        with _refused(db):
            lifecycle.reactors(session=db, user_id=who, message_id=mid)
    _react(db, c, new)
    # Bob leaves: he still sees who reacted to what he can read, not to what came after.
    groups.leave_group(session=db, user_id=b, conversation_id=group)
    db.commit()
    later = _send(db, a, group, "after bob")
    assert lifecycle.reactors(session=db, user_id=b, message_id=old) == [f"{THUMBS} You"]
    with _refused(db):
        lifecycle.reactors(session=db, user_id=b, message_id=later)


def test_reactors_lines(db: Session) -> None:
    a = _user(db, "alice", "Alice A")
    b = _user(db, "bob", "Bob B")
    c = _user(db, "carol", "Carol C")
    group = _group(db, a, [b, c])
    mid = _send(db, a, group, "vote")
    _react(db, c, mid, HEART)
    _react(db, b, mid, THUMBS)
    _react(db, c, mid, THUMBS)
    _react(db, c, mid, JOY)  # (in the order they reacted, not by who joined first)
    _react(db, b, mid, JOY)
    assert lifecycle.reactors(session=db, user_id=a, message_id=mid) == [
        f"{THUMBS} Bob B, Carol C",
        f"{HEART} Carol C",
        f"{JOY} Carol C, Bob B",
    ]
    assert lifecycle.reactors(session=db, user_id=c, message_id=mid) == [
        f"{THUMBS} Bob B, You",
        f"{HEART} You",
        f"{JOY} You, Bob B",
    ]
    assert lifecycle.reactors(session=db, user_id=a, message_id=_send(db, a, group)) == []


# 4. Replies and quotes ---------------------------------------------------------------------
def test_a_reply_carries_its_quote(db: Session) -> None:
    a, b, conv = _pair(db)
    original = _send(db, a, conv, "  where   shall\nwe meet? ")
    with events.collecting() as out:
        sent = msgs.send_message(
            session=db,
            sender_id=b,
            conversation_id=conv,
            body="at noon",
            client_id=_cid(),
            reply_to_id=original,
        )
        db.commit()
    assert sent.quote is not None
    assert (sent.quote.id, sent.quote.sender_name, sent.quote.body) == (
        original,
        "alice",
        "where shall we meet?",
    )
    [message_event] = [o.event for o in out if o.event["type"] == "message"]
    assert message_event["message"]["reply"]["body"] == "where shall we meet?"
    assert _msg(db, sent.message.id).reply_to_id == original
    page = msgs.list_messages(session=db, user_id=a, conversation_id=conv)
    assert page.quotes[original].body == "where shall we meet?"


def test_a_long_quote_is_cut(db: Session) -> None:
    a, _b, conv = _pair(db)
    original = _send(db, a, conv, "word " * 100)
    q = lifecycle.reply_target(session=db, user_id=a, conversation_id=conv, message_id=original)
    assert len(q.body) == lifecycle.QUOTE_CHARS and q.body.endswith("…")


def test_reply_target_only_within_the_readers_window_and_conversation(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    direct = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    elsewhere = _send(db, a, direct, "private to a and b")
    group = _group(db, a, [b])
    old = _send(db, a, group, "before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    db.commit()
    line = max(i for (i,) in _rows(db, "SELECT id FROM messages"))
    new = _send(db, a, group, "after carol")
    assert lifecycle.reply_target(session=db, user_id=c, conversation_id=group, message_id=new)
    for who, conv, mid in (
        (c, group, old),  # before carol was added
        (c, group, line),  # a system line
        (a, group, elsewhere),  # another conversation's message, named in this one
        (c, direct, elsewhere),  # not carol's conversation
        (a, group, new + 1000),  # none
    ):
        with _refused(db):
            lifecycle.reply_target(session=db, user_id=who, conversation_id=conv, message_id=mid)
    for who, mid in ((a, elsewhere), (c, old)):
        before = _snapshot(db)
        with events.collecting() as out, pytest.raises(NotAllowed):
            msgs.send_message(
                session=db,
                sender_id=who,
                conversation_id=group,
                body="re",
                client_id=_cid(),
                reply_to_id=mid,
            )
        db.rollback()
        assert _snapshot(db) == before and out == []


def test_a_quote_of_a_deleted_message_says_deleted(db: Session) -> None:
    a, b, conv = _pair(db)
    image = _upload(db, a)
    original = _send(db, a, conv, "regrettable", media_ref=image)
    reply = _send(db, b, conv, "what?", reply_to_id=original)
    _delete(db, a, original)
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    q = page.quotes[original]
    assert q.deleted and q.body == "" and not q.has_image
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert [c.message.id for c in got.items] == [original]
    _react(db, a, reply)
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=1)
    [item] = got.items
    assert item.message.id == reply and item.quote is not None and item.quote.deleted
    assert "regrettable" not in _everything_shown(db, b, conv)
    # Replying to a deleted message quotes it as deleted.
    q2 = lifecycle.reply_target(session=db, user_id=b, conversation_id=conv, message_id=original)
    assert q2.deleted and q2.body == ""


def test_a_member_added_later_sees_no_quote_of_what_came_before(db: Session) -> None:
    """A reply sent after Carol joined that quotes a message from before: Carol gets the reply
    but not the quoted text (SECURITY.md: she reads from when she was added), in the live event,
    in pages, in catch-up and in changes."""
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b])
    old = _send(db, a, group, "said before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    db.commit()
    with events.collecting() as out:
        reply = _send(db, b, group, "a reply", reply_to_id=old)
    to_carol = [o.event for o in out if c in o.user_ids]
    assert to_carol and "said before carol" not in repr(to_carol)
    to_alice = [o.event for o in out if a in o.user_ids]
    assert "said before carol" in repr(to_alice)
    with events.collecting() as out:
        _react(db, a, reply)
    assert "said before carol" not in repr([o.event for o in out if c in o.user_ids])
    # The change reaches everyone, numbered alike: with the quote to who reads it, without.
    changes = {u: o.event for o in out for u in o.user_ids if o.event["type"] == "change"}
    assert set(changes) == {a, b, c}
    assert {e["seq"] for e in changes.values()} == {_seq(db, group)}
    assert {e["name"] for e in changes.values()} == {"bob"}
    assert "said before carol" in repr(changes[a]) and "said before carol" in repr(changes[b])
    shown = _everything_shown(db, c, group)
    assert "a reply" in shown and "said before carol" not in shown
    assert "said before carol" in _everything_shown(db, b, group)


# 5. The change sequence and catching up ------------------------------------------------------
def test_change_seq_counts_changes_per_conversation(db: Session) -> None:
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    m1, m2 = _send(db, a, conv, "one"), _send(db, b, conv, "two")
    o1 = _send(db, a, other, "elsewhere")
    assert _seq(db, conv) == 0 and _msg(db, m1).change_seq == 0
    _edit(db, a, m1, "one!")
    _react(db, a, m2)
    _react(db, c, o1)
    _react(db, b, m1)
    _delete(db, b, m2)
    assert _seq(db, conv) == 4 and _seq(db, other) == 1
    assert (_msg(db, m1).change_seq, _msg(db, m2).change_seq, _msg(db, o1).change_seq) == (3, 4, 1)
    # Sends do not count as changes.
    _send(db, a, conv)
    assert _seq(db, conv) == 4
    assert msgs.list_messages(session=db, user_id=a, conversation_id=conv).seq == 4


def test_changes_after_returns_what_changed_after_n_in_order(db: Session) -> None:
    a, b, conv = _pair(db)
    m1, m2, m3, m4 = (_send(db, a, conv, f"m{i}") for i in range(4))
    _edit(db, a, m2, "m1 edited")  # 1
    _react(db, b, m1)  # 2
    _react(db, b, m3)  # 3
    _edit(db, a, m2, "m1 edited again")  # 4
    _delete(db, a, m4)  # 5
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert [c.message.id for c in got.items] == [m1, m3, m2, m4]
    assert [c.message.change_seq for c in got.items] == [2, 3, 4, 5]
    assert got.seq == 5 and got.complete
    assert got.items[2].message.body == "m1 edited again"
    assert got.items[0].reactions == {THUMBS: [b]}
    assert got.items[3].message.deleted and got.items[3].message.body == ""
    assert _changes(db, b, conv, 2) == [m3, m2, m4]
    assert _changes(db, b, conv, 4) == [m4]
    assert _changes(db, b, conv, 5) == []
    assert _changes(db, b, conv, 99) == []
    with _refused(db):
        lifecycle.changes_after(
            session=db, user_id=_user(db, "eve"), conversation_id=conv, after_seq=0
        )


def test_changes_after_stays_within_the_readers_window(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b])
    old = _send(db, a, group, "before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    db.commit()
    mid = _send(db, a, group, "with carol")
    groups.remove_member(session=db, user_id=a, conversation_id=group, member_id=b)
    db.commit()
    late = _send(db, a, group, "after bob")
    for m in (old, mid, late):
        _edit(db, a, m, f"edited {m}")
    assert _changes(db, a, group) == [old, mid, late]
    assert _changes(db, c, group) == [mid, late]
    assert _changes(db, b, group) == [old, mid]
    assert f"edited {late}" not in _everything_shown(db, b, group)
    assert f"edited {old}" not in _everything_shown(db, c, group)


def test_changes_after_is_incomplete_past_the_limit(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "MAX_CHANGES", 3)
    a, b, conv = _pair(db)
    ids = [_send(db, a, conv, f"m{i}") for i in range(5)]
    for m in ids[:3]:
        _react(db, b, m)
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert got.complete and [c.message.id for c in got.items] == ids[:3]
    _react(db, b, ids[3])
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert not got.complete and [c.message.id for c in got.items] == ids[:3] and got.seq == 4
    got = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=1)
    assert got.complete and [c.message.id for c in got.items] == ids[1:4]


def test_changes_carry_the_image_size(db: Session) -> None:
    """A change to an image message (a reaction) keeps its image's size: the bubble keeps its
    box, live and after catching up."""
    a, b, conv = _pair(db)
    image = _upload(db, a, 400, 300)
    mid = _send(db, a, conv, "", media_ref=image)
    with events.collecting() as out:
        changed = _react(db, b, mid)
    assert (changed.message.media_width, changed.message.media_height) == (400, 300)
    [(_to, event)] = _changes_of(out)
    assert (event["message"]["w"], event["message"]["h"]) == wire.thumb_box(400, 300)
    [item] = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0).items
    assert (item.message.media_width, item.message.media_height) == (400, 300)


def test_a_session_that_read_the_conversation_earlier_numbers_changes_right(
    db: Session, mysql_engine: sa.Engine
) -> None:
    """The conversation's row is read as locked, not from the session's copy: a change made
    meanwhile by another transaction is counted."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)
    msgs.list_messages(session=db, user_id=a, conversation_id=conv)  # (holds the row)
    db.commit()
    with Session(mysql_engine) as other:
        lifecycle.react(session=other, user_id=b, message_id=mid, emoji=HEART)
        other.commit()
    assert _react(db, a, mid).message.change_seq == 2
    assert _seq(db, conv) == 2
    assert _changes(db, a, conv, 1) == [mid]


# 6. Events ----------------------------------------------------------------------------------
def test_change_events_go_to_the_current_members_who_read_the_message(db: Session) -> None:
    a, b, c, d = (_user(db, n) for n in ("alice", "bob", "carol", "dave"))
    group = _group(db, a, [b, d])
    old = _send(db, a, group, "before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    groups.leave_group(session=db, user_id=d, conversation_id=group)
    db.commit()
    new = _send(db, a, group, "after carol")
    with events.collecting() as out:
        _react(db, b, new)
        _edit(db, a, old, "before carol, edited")
    recipients = [to for to, _e in _changes_of(out)]
    assert recipients == [{a, b, c}, {a, b}]
    assert "before carol, edited" not in repr([o for o in out if c in o.user_ids])


def test_refused_and_empty_changes_publish_nothing(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "x")
    with events.collecting() as out:
        for fn in (
            lambda: lifecycle.edit_message(session=db, user_id=b, message_id=mid, body="y"),
            lambda: lifecycle.edit_message(session=db, user_id=a, message_id=mid, body=""),
            lambda: lifecycle.delete_message(session=db, user_id=b, message_id=mid),
            lambda: lifecycle.react(session=db, user_id=b, message_id=mid, emoji="🍕"),
        ):
            with pytest.raises(ServiceError):
                fn()
            db.rollback()
        lifecycle.edit_message(session=db, user_id=a, message_id=mid, body="x")
        db.commit()
    assert out == []
    assert _seq(db, conv) == 0


# 7. Races on MariaDB: the second change waits for the first's lock on the conversation -------
def _quiet(fn: Callable[[Session], Any]) -> Callable[[Session], Any]:
    """``fn``, returning (its result, the events it sent) (it runs in _race's thread)."""

    def run(s: Session) -> Any:
        with events.collecting() as out:
            result = fn(s)
        return result, out

    return run


def _consistent(db: Session, conv: int) -> None:
    """The conversation's number is its newest message's number; numbers are not shared."""
    seqs = [s for (s,) in _rows(db, "SELECT change_seq FROM messages WHERE change_seq > 0")]
    assert max(seqs, default=0) == _seq(db, conv)
    assert len(seqs) == len(set(seqs))


def test_edit_then_delete_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "original")
    (edited, edit_events), (deleted, delete_events) = _race(
        mysql_engine,
        _quiet(lambda s: lifecycle.edit_message(session=s, user_id=a, message_id=mid, body="new")),
        _quiet(lambda s: lifecycle.delete_message(session=s, user_id=a, message_id=mid)),
    )
    assert edited.message.body == "new" and deleted.message.deleted
    assert [e["seq"] for _t, e in _changes_of(edit_events + delete_events)] == [1, 2]
    row = _msg(db, mid)
    assert row.deleted_at is not None and row.change_seq == 2 == _seq(db, conv)
    for who in (a, b):
        shown = _everything_shown(db, who, conv)
        assert "original" not in shown and "'new'" not in shown
    _consistent(db, conv)


def test_delete_then_edit_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "original")
    with pytest.raises(ServiceError, match="deleted"):
        _race(
            mysql_engine,
            lambda s: lifecycle.delete_message(session=s, user_id=a, message_id=mid),
            lambda s: lifecycle.edit_message(session=s, user_id=a, message_id=mid, body="new"),
        )
    row = _msg(db, mid)
    assert row.deleted_at is not None and row.body == "original" and row.edited_at is None
    assert row.change_seq == 1 == _seq(db, conv)
    assert _rows(db, "SELECT * FROM message_edits") == []
    for who in (a, b):
        shown = _everything_shown(db, who, conv)
        assert "original" not in shown and "'new'" not in shown
    _consistent(db, conv)


def test_two_people_reacting_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b, c])
    mid = _send(db, a, group)
    (first, first_events), (second, second_events) = _race(
        mysql_engine,
        _quiet(lambda s: lifecycle.react(session=s, user_id=b, message_id=mid, emoji=THUMBS)),
        _quiet(lambda s: lifecycle.react(session=s, user_id=c, message_id=mid, emoji=THUMBS)),
    )
    assert first.reactions == {THUMBS: [b]} and second.reactions == {THUMBS: [b, c]}
    assert [e["seq"] for _t, e in _changes_of(first_events + second_events)] == [1, 2]
    assert lifecycle.reactions_of(db, [mid]) == {mid: {THUMBS: [b, c]}}
    assert _seq(db, group) == 2
    _consistent(db, group)


def test_one_person_toggling_twice_at_once(db: Session, mysql_engine: sa.Engine) -> None:
    """Two presses of the same chip (two tabs): on, then off, in order; nothing left over."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)

    def press(s: Session) -> ChangedOut:
        return lifecycle.react(session=s, user_id=b, message_id=mid, emoji=HEART)

    first, second = _race(mysql_engine, press, press)
    assert first.reactions == {HEART: [b]} and second.reactions == {}
    assert _rows(db, "SELECT * FROM message_reactions") == []
    assert _seq(db, conv) == 2 and _msg(db, mid).change_seq == 2
    _consistent(db, conv)


def test_a_reaction_racing_a_deletion(db: Session, mysql_engine: sa.Engine) -> None:
    """Deleted first: the reaction is refused. Reacted first: the deletion removes it."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv)
    with pytest.raises(ServiceError, match="deleted"):
        _race(
            mysql_engine,
            lambda s: lifecycle.delete_message(session=s, user_id=a, message_id=mid),
            lambda s: lifecycle.react(session=s, user_id=b, message_id=mid, emoji=THUMBS),
        )
    other = _send(db, a, conv)
    _race(
        mysql_engine,
        lambda s: lifecycle.react(session=s, user_id=b, message_id=other, emoji=THUMBS),
        lambda s: lifecycle.delete_message(session=s, user_id=a, message_id=other),
    )
    assert _rows(db, "SELECT * FROM message_reactions") == []
    assert _seq(db, conv) == 3
    _consistent(db, conv)


def test_a_moderator_demoted_while_deleting(db: Session, mysql_engine: sa.Engine) -> None:
    """The deleter's role is the one after the lock: demoted first, the deletion is refused."""
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b, c], roles={b: MODERATOR})
    mid = _send(db, c, group, "carol's")
    with pytest.raises(NotAllowed):
        _race(
            mysql_engine,
            lambda s: groups.set_role(
                session=s, user_id=a, conversation_id=group, member_id=b, role=MEMBER
            ),
            lambda s: lifecycle.delete_message(session=s, user_id=b, message_id=mid),
        )
    assert _msg(db, mid).deleted_at is None


def test_a_reply_racing_the_deletion_of_its_original(db: Session, mysql_engine: sa.Engine) -> None:
    """Deleted first: the reply (sent after) quotes it as deleted, never its text."""
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "soon gone")

    def reply(s: Session) -> SendResult:
        return msgs.send_message(
            session=s,
            sender_id=b,
            conversation_id=conv,
            body="re",
            client_id=_cid(),
            reply_to_id=mid,
        )

    _deleted, sent = _race(
        mysql_engine,
        lambda s: lifecycle.delete_message(session=s, user_id=a, message_id=mid),
        reply,
    )
    assert sent.quote is not None and sent.quote.deleted and sent.quote.body == ""


def test_a_tab_back_catches_up_with_new_messages_changes_and_its_marker(db: Session) -> None:
    """messages.catch_up: what a tab that kept its view gets on a new connection."""
    a, b, conv = _pair(db)
    first = _send(db, a, conv, "first")
    seen_seq = _seq(db, conv)
    _edit(db, a, first, "first, edited")
    later = _send(db, a, conv, "later")
    with events.collecting() as out:
        row, page, changes = msgs.catch_up(
            session=db,
            user_id=b,
            conversation_id=conv,
            after_id=first,
            after_seq=seen_seq,
            origin="tab-1",
        )
        db.commit()
    assert row.id == conv
    assert [m.id for m in page.items] == [later] and not page.has_more
    assert [(c.message.id, c.message.body) for c in changes.items] == [(first, "first, edited")]
    assert changes.complete
    assert convs.get_conversation(session=db, user_id=b, conversation_id=conv).unread == 0
    assert ((b,), {"type": "read", "conv": conv, "origin": "tab-1"}) in [
        (o.user_ids, o.event) for o in out
    ]
    with pytest.raises(NotAllowed):  # only for who reads the conversation
        msgs.catch_up(
            session=db,
            user_id=_user(db, "mallory"),
            conversation_id=conv,
            after_id=0,
            after_seq=0,
        )


def test_other_messages_do_not_keep_a_deleted_image(db: Session) -> None:
    """Only another message carrying the same image keeps it: the conversation's other
    messages, with or without images of their own, do not."""
    a, b, conv = _pair(db)
    _send(db, a, conv, "before")
    other_image = _upload(db, a)
    _send(db, a, conv, "another picture", media_ref=other_image)
    image = _upload(db, a)
    mid = _send(db, a, conv, "look", media_ref=image)
    _send(db, b, conv, "after")
    _delete(db, a, mid)
    db.expire_all()
    assert media.viewable(session=db, viewer_id=b, media_id=image) is None
    assert [o.id for o in media.find_orphans(session=db, older_than=timedelta(0))] == [image]
    assert media.viewable(session=db, viewer_id=b, media_id=other_image) is not None


def test_catching_up_reads_only_its_own_conversations_changes(db: Session) -> None:
    a, b, conv = _pair(db)
    c = _user(db, "carol")
    other = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    mine = _send(db, a, conv, "for bob")
    theirs = _send(db, a, other, "for carol")
    _edit(db, a, theirs, "for carol, edited")
    _edit(db, a, mine, "for bob, edited")
    changes = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert [c.message.id for c in changes.items] == [mine]


def test_an_edited_reply_keeps_its_quote_of_an_image_and_who_sent_it(db: Session) -> None:
    a, b, conv = _pair(db)
    image = _upload(db, a)
    photo = _send(db, a, conv, "x" * lifecycle.QUOTE_CHARS, media_ref=image)
    reply = _send(db, b, conv, "nice", reply_to_id=photo)
    changed = _edit(db, b, reply, "very nice")
    assert changed.quote == lifecycle.QuoteOut(
        id=photo,
        sender_id=a,
        sender_name="alice",
        body="x" * lifecycle.QUOTE_CHARS,  # exactly the limit: not cut
        has_image=True,
        deleted=False,
    )


def test_a_former_member_quotes_nothing_sent_after_they_left(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = _group(db, a, [b])
    before = _send(db, a, conv, "before")
    groups.remove_member(session=db, user_id=a, conversation_id=conv, member_id=b)
    db.commit()
    after = _send(db, a, conv, "after")
    assert (
        lifecycle.reply_target(session=db, user_id=b, conversation_id=conv, message_id=before).body
        == "before"
    )
    with pytest.raises(NotAllowed):
        lifecycle.reply_target(session=db, user_id=b, conversation_id=conv, message_id=after)


def test_catching_up_with_nothing_changed_and_a_text_change(db: Session) -> None:
    a, b, conv = _pair(db)
    mid = _send(db, a, conv, "text")
    nothing = lifecycle.changes_after(session=db, user_id=b, conversation_id=conv, after_seq=0)
    assert (nothing.items, nothing.seq, nothing.complete) == ([], 0, True)
    _edit(db, a, mid, "text, edited")
    (item,) = lifecycle.changes_after(
        session=db, user_id=b, conversation_id=conv, after_seq=0
    ).items
    assert (item.message.media_width, item.message.media_height) == (0, 0)  # no image
    assert item.reactions == {} and item.quote is None


def test_what_a_refused_change_says(db: Session) -> None:
    """Each refusal's words, as the person reads them (the tests above check that they are
    refused and change nothing). An unknown message, one of a conversation the person is not
    in, a system line and one from before they joined all read alike: nothing tells them apart."""
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    stranger = _user(db, "sam")
    group = _group(db, a, [b])
    before = _send(db, a, group, "said before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    db.commit()
    line = db.exec(sa.select(sa.func.max(Message.id))).one()[0]  # "alice added carol"
    mine, theirs = _send(db, c, group, "mine"), _send(db, b, group, "theirs")
    gone = _send(db, c, group, "deleted soon")
    _delete(db, c, gone)
    old = _send(db, c, group, "yesterday's")
    _set_created(db, old, datetime.now(UTC) - timedelta(hours=25))
    missing = gone + 10_000

    def says(
        call: Callable[..., object], words: str, exc: type[Exception] = NotAllowed, **args: Any
    ) -> None:
        with pytest.raises(exc) as refused:
            call(session=db, **args)
        assert str(refused.value) == words
        db.rollback()

    nf = lifecycle.NOT_FOUND
    for user, mid in ((c, missing), (stranger, mine), (c, line), (c, before)):
        says(lifecycle.edit_message, nf, user_id=user, message_id=mid, body="x")
        if mid != line:  # (a system line has no reactions: reactors answers none)
            says(lifecycle.reactors, nf, user_id=user, message_id=mid)
    for mid in (missing, line, before):
        says(lifecycle.reply_target, nf, user_id=c, conversation_id=group, message_id=mid)
    says(
        lifecycle.edit_message,
        "You can only edit your own messages.",
        user_id=c,
        message_id=theirs,
        body="x",
    )
    says(
        lifecycle.edit_message,
        "That message was deleted.",
        ServiceError,
        user_id=c,
        message_id=gone,
        body="x",
    )
    says(
        lifecycle.edit_message,
        "Messages can be edited for 24 hours after sending.",
        ServiceError,
        user_id=c,
        message_id=old,
        body="x",
    )
    says(
        lifecycle.delete_message,
        "You can only delete your own messages.",
        user_id=c,
        message_id=theirs,
    )
    says(
        lifecycle.react,
        "Pick one of the reactions offered.",
        ServiceError,
        user_id=c,
        message_id=mine,
        emoji="🦄",
    )
    says(
        lifecycle.react,
        "That message was deleted.",
        ServiceError,
        user_id=c,
        message_id=gone,
        emoji=THUMBS,
    )


def test_a_member_added_later_gets_no_quote_of_what_came_before_in_their_own_answers(
    db: Session,
) -> None:
    """What reacting or deleting answers to the one who did it: a moderator added after the
    quoted message gets the reply without its quote, the first time and when it was already
    deleted; those who read the quoted message get it."""
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    group = _group(db, a, [b])
    old = _send(db, a, group, "said before carol")
    groups.add_members(session=db, user_id=a, conversation_id=group, member_ids=[c])
    groups.set_role(session=db, user_id=a, conversation_id=group, member_id=c, role=MODERATOR)
    db.commit()
    reply = _send(db, b, group, "a reply", reply_to_id=old)
    assert _react(db, c, reply).quote is None
    quoted = _react(db, a, reply).quote
    assert quoted is not None and quoted.id == old and quoted.body == "said before carol"
    assert _delete(db, c, reply).quote is None
    assert _delete(db, c, reply).quote is None  # (already deleted)
    again = _delete(db, b, reply).quote  # its sender, who read it
    assert again is not None and again.id == old


def test_caught_up_changes_quote_only_the_replies(db: Session) -> None:
    """A batch of changes with a reply in it: the other changed messages carry no quote (not
    even when the reply quotes message 1, the id a non-reply's missing reference could be
    taken for)."""
    a, b, conv = _pair(db)
    if db.get(Message, 1) is None:  # (the tables are emptied, not reset, between tests)
        db.add(Message(id=1, conversation_id=conv, sender_id=a, client_id=_cid(), body="first"))
        db.commit()
    first = _msg(db, 1)
    assert first.conversation_id == conv
    plain = _send(db, b, conv, "plain")
    reply = _send(db, b, conv, "a reply", reply_to_id=1)
    _react(db, a, plain)
    _react(db, a, reply)
    got = lifecycle.changes_after(session=db, user_id=a, conversation_id=conv, after_seq=0)
    quotes = {c.message.id: c.quote.id if c.quote else None for c in got.items}
    assert quotes == {plain: None, reply: 1}
