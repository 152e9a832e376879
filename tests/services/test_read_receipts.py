"""Read receipts on MariaDB (services/conversations.py): who is told that someone read up to
where ("seen" events), who sees "Seen by" (read_markers), and markers moved for several
conversations at once (mark_read_many, what a tab does for messages that arrive while it
shows their conversation). Only people who send read receipts are shown, and someone who
turned them off sees nobody's (profiles.set_read_receipts)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from chatapp.models import ConversationMember
from chatapp.services import conversations as convs
from chatapp.services import events, groups, profiles
from chatapp.services.dto import ReaderOut
from chatapp.services.errors import NotAllowed
from tests.services.test_chat_services import _send as _send_result
from tests.services.test_chat_services import _user


def _send(db: Session, sender: int, conv: int, body: str = "hi") -> int:
    return _send_result(db, sender, conv, body).message.id


def _marker(db: Session, conv: int, user: int) -> int | None:
    db.expire_all()
    m = db.get(ConversationMember, (conv, user))
    assert m is not None
    return m.last_read_message_id


def _seen(out: list[events.Outgoing]) -> list[tuple[set[int], dict[str, object]]]:
    return [(set(o.user_ids), o.event) for o in out if o.event["type"] == "seen"]


def test_reading_tells_the_other_member_how_far_and_the_readers_own_tabs_to_clear(
    db: Session,
) -> None:
    a, b = _user(db, "alice", "Alice"), _user(db, "bob", "Bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    first, last = _send(db, a, conv, "one"), _send(db, a, conv, "two")
    with events.collecting() as out:
        assert convs.mark_read(session=db, user_id=b, conversation_id=conv, origin="t1") == last
        db.commit()
    assert [(o.user_ids, o.event) for o in out] == [
        ((b,), {"type": "read", "conv": conv, "origin": "t1"}),
        ((a,), {"type": "seen", "conv": conv, "user": b, "name": "Bob", "upto": last}),
    ]
    assert convs.read_markers(session=db, user_id=a, conversation_id=conv) == [
        ReaderOut(b, "Bob", last)
    ]
    # Reading an older message again moves nothing back; the event says where the marker is.
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=conv, up_to_id=first)
    assert [e["upto"] for _to, e in _seen(out)] == [last]


def test_receipts_off_hides_the_reader_and_blinds_the_viewer(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    _send(db, a, conv)
    assert profiles.read_receipts(session=db, user_id=b) is True  # on for a new account
    assert profiles.set_read_receipts(session=db, user_id=b, on=False) is False
    db.commit()
    assert not profiles.read_receipts(session=db, user_id=b)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=conv)
        db.commit()
    assert _seen(out) == []  # bob does not send them
    assert convs.read_markers(session=db, user_id=a, conversation_id=conv) == []
    assert convs.read_markers(session=db, user_id=b, conversation_id=conv) is None  # nor sees
    # Back on: his reading is told again, and he sees alice's.
    assert profiles.set_read_receipts(session=db, user_id=b, on=True) is True
    db.commit()
    assert profiles.read_receipts(session=db, user_id=b) is True
    last = _send(db, a, conv)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=conv)
        db.commit()
    assert [to for to, _e in _seen(out)] == [{a}]
    assert convs.read_markers(session=db, user_id=b, conversation_id=conv) == [
        ReaderOut(a, "alice", last)  # (the sender has read their own message)
    ]
    # Only current members ask how far the others read.
    carol = _user(db, "carol")
    with pytest.raises(NotAllowed):
        convs.read_markers(session=db, user_id=carol, conversation_id=conv)


def test_a_group_tells_its_members_except_the_reader_and_a_former_member_tells_nobody(
    db: Session,
) -> None:
    a, b, c, d = (_user(db, n) for n in ("alice", "bob", "carol", "dan"))
    g = groups.create_group(session=db, user_id=a, name="Team", member_ids=[b, c]).id
    other = convs.open_direct(session=db, user_id=c, other_user_id=d)
    db.commit()
    last = _send(db, a, g)
    _send(db, d, other)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=g)
        db.commit()
    assert [(to, e["upto"]) for to, e in _seen(out)] == [({a, c}, last)]
    groups.remove_member(session=db, user_id=a, conversation_id=g, member_id=c)
    db.commit()
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=c, conversation_id=g)  # (the removal line)
        db.commit()
    assert _seen(out) == []
    # An empty conversation has nothing to tell.
    empty = convs.open_direct(session=db, user_id=a, other_user_id=d)
    db.commit()
    with events.collecting() as out:
        assert convs.mark_read(session=db, user_id=d, conversation_id=empty) == 0
    assert _seen(out) == []


def test_no_live_receipts_in_a_group_of_more_than_32(db: Session) -> None:
    """A "seen" event per reader per member is N² per message: past 32 members, "Seen by" is
    read when asked instead."""
    owner = _user(db, "owner")
    people = [_user(db, f"m{i:02d}") for i in range(convs.LIVE_RECEIPTS_MAX_MEMBERS - 1)]
    g = groups.create_group(session=db, user_id=owner, name="Big", member_ids=people).id
    db.commit()
    last = _send(db, owner, g)
    with events.collecting() as out:  # 32 members: still live
        convs.mark_read(session=db, user_id=people[0], conversation_id=g)
        db.commit()
    ((to, _e),) = _seen(out)
    assert to == {owner, *people[1:]}
    groups.add_members(
        session=db, user_id=owner, conversation_id=g, member_ids=[_user(db, "the33rd")]
    )
    db.commit()
    last = _send(db, owner, g)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=people[1], conversation_id=g)
        db.commit()
    assert _seen(out) == []
    readers = convs.read_markers(session=db, user_id=owner, conversation_id=g)
    assert readers is not None and ReaderOut(people[1], "m01", last) in readers


def test_mark_read_many_moves_members_markers_forward_only_and_tells_the_others(
    db: Session,
) -> None:
    a, b, c = _user(db, "alice", "Alice"), _user(db, "bob", "Bob"), _user(db, "carol")
    ab = convs.open_direct(session=db, user_id=a, other_user_id=b)
    ac = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    m1, m2 = _send(db, a, ab, "one"), _send(db, a, ab, "two")
    n1 = _send(db, a, ac, "to carol")
    convs.mark_read(session=db, user_id=b, conversation_id=ab, up_to_id=m2)
    db.commit()
    with events.collecting() as out:
        convs.mark_read_many(
            session=db,
            marks=[
                (b, ab, m1),  # back: not moved
                (c, ac, n1),  # forward
                (c, ab, m2),  # carol is not in ab: no row moves, nobody is told
            ],
        )
        db.commit()
    assert (_marker(db, ab, b), _marker(db, ac, c)) == (m2, n1)
    assert db.get(ConversationMember, (ab, c)) is None
    seen = _seen(out)
    assert [(to, e["conv"], e["user"]) for to, e in seen] == [({a}, ab, b), ({a}, ac, c)]
    assert seen[1][1] == {"type": "seen", "conv": ac, "user": c, "name": "carol", "upto": n1}
    # (bob's event repeats the older mark; a tab keeps the larger of what it was told)
    # Nothing to mark, or only people who send no receipts: nothing is told.
    with events.collecting() as out:
        convs.mark_read_many(session=db, marks=[])
        profiles.set_read_receipts(session=db, user_id=c, on=False)
        convs.mark_read_many(session=db, marks=[(c, ac, n1)])
    assert out == []


def test_typing_is_told_to_the_other_current_members_only(db: Session) -> None:
    a, b, c = (_user(db, n) for n in ("alice", "bob", "carol"))
    g = groups.create_group(session=db, user_id=a, name="Team", member_ids=[b, c]).id
    groups.remove_member(session=db, user_id=a, conversation_id=g, member_id=c)
    db.commit()
    with events.collecting() as out:
        convs.typing(session=db, user_id=b, conversation_id=g, name="Bob")
    assert [(o.user_ids, o.event) for o in out] == [
        ((a,), {"type": "typing", "conv": g, "user": b, "name": "Bob"})
    ]
    with events.collecting() as out, pytest.raises(NotAllowed):
        convs.typing(session=db, user_id=c, conversation_id=g, name="Carol")  # removed
    assert out == []
    alone = groups.create_group(session=db, user_id=a, name="Notes", member_ids=[]).id
    db.commit()
    with events.collecting() as out:
        convs.typing(session=db, user_id=a, conversation_id=alone, name="Alice")
    assert out == []
