"""services/conversations.py on MariaDB: what the sidebar rows say (who wrote last, removed or
left, the order of conversations with nothing said yet), unread counts over several
conversations and after a removal, who is told of reading ("seen") and who is listed under
"Seen by", who counts as a contact, and the refusals' messages. Written for the mutants the
suite let through (TESTING.md, conversations.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from chatapp.services import conversations as convs
from chatapp.services import events, groups, profiles
from chatapp.services.dto import ConversationOut, ReaderOut
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.services.membership import NOT_A_MEMBER
from tests.services.test_chat_services import _send as _send_result
from tests.services.test_chat_services import _user


def _send(db: Session, sender: int, conv: int, body: str = "hi") -> int:
    return _send_result(db, sender, conv, body).message.id


def _rows(db: Session, user_id: int) -> dict[int, ConversationOut]:
    return {c.id: c for c in convs.list_conversations(session=db, user_id=user_id)}


def _seen(out: list[events.Outgoing]) -> list[tuple[set[int], int, int]]:
    """(told, conversation, reader) of each "seen" event."""
    return [
        (set(o.user_ids), int(o.event["conv"]), int(o.event["user"]))
        for o in out
        if o.event["type"] == "seen"
    ]


# The sidebar ------------------------------------------------------------------------------------
def test_who_wrote_last_is_named_only_for_someone_else_in_a_group(db: Session) -> None:
    a, b = _user(db, "ann", "Ann"), _user(db, "ben", "Ben")
    g = groups.create_group(session=db, user_id=a, name="Walks", member_ids=[b]).id
    direct = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    _send(db, a, g, "from ann")
    _send(db, b, direct, "from ben")
    assert _rows(db, a)[g].last_sender_name == ""  # your own: "You: …" is the page's
    assert _rows(db, b)[g].last_sender_name == "Ann"
    assert _rows(db, a)[direct].last_sender_name == ""  # a direct row names nobody
    assert _rows(db, a)[direct].title == "Ben"
    _send(db, b, g, "from ben")
    assert _rows(db, a)[g].last_sender_name == "Ben"


def test_conversations_with_nothing_said_come_last_the_newest_first(db: Session) -> None:
    a, b, c, d = (_user(db, n) for n in ("amy", "bea", "cal", "dan"))
    talked = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    _send(db, b, talked)
    older = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    newer = convs.open_direct(session=db, user_id=a, other_user_id=d)
    db.commit()
    rows = convs.list_conversations(session=db, user_id=a)
    assert [r.id for r in rows] == [talked, newer, older]
    assert rows[1].last_message is None and rows[1].last_sender_name == ""
    assert rows[1].unread == 0


def test_a_removed_member_is_told_so_a_leaver_is_not_and_neither_counts_what_came_after(
    db: Session,
) -> None:
    a, b, c = _user(db, "ola"), _user(db, "pia"), _user(db, "quin")
    g = groups.create_group(session=db, user_id=a, name="Club", member_ids=[b, c]).id
    db.commit()
    _send(db, a, g, "before")  # (leaving, or being removed, marks the history read)
    groups.remove_member(session=db, user_id=a, conversation_id=g, member_id=b)
    groups.leave_group(session=db, user_id=c, conversation_id=g)
    db.commit()
    for n in range(3):
        _send(db, a, g, f"after {n}")  # neither may count these
    removed, left = _rows(db, b)[g], _rows(db, c)[g]
    assert (removed.left, removed.removed, removed.unread) == (True, True, 0)
    assert (left.left, left.removed, left.unread) == (True, False, 0)
    assert removed.last_message is not None and removed.last_message.body != "after 2"
    member = _rows(db, a)[g]
    assert (member.left, member.removed) == (False, False)


def test_unread_is_counted_in_every_conversation_not_only_up_to_one_that_is_read(
    db: Session,
) -> None:
    a, b, c, d = (_user(db, n) for n in ("rae", "sol", "tia", "uma"))
    first = convs.open_direct(session=db, user_id=a, other_user_id=b)
    second = convs.open_direct(session=db, user_id=a, other_user_id=c)
    third = convs.open_direct(session=db, user_id=a, other_user_id=d)
    db.commit()
    _send(db, b, first)
    _send(db, b, first)
    _send(db, c, second)
    _send(db, d, third)
    _send(db, a, third)  # the newest conversation, read up to there (its row comes first)
    rows = convs.list_conversations(session=db, user_id=a)
    assert [(r.id, r.unread) for r in rows] == [(third, 0), (second, 1), (first, 2)]


# Read receipts ----------------------------------------------------------------------------------
def test_seen_goes_to_the_current_members_of_that_conversation_only(db: Session) -> None:
    a, b, c, d = (_user(db, n, n.title()) for n in ("vic", "wes", "xia", "yan"))
    direct = convs.open_direct(session=db, user_id=a, other_user_id=b)
    other = convs.open_direct(session=db, user_id=b, other_user_id=c)  # c: not in `direct`
    g = groups.create_group(session=db, user_id=a, name="Four", member_ids=[b, c, d]).id
    db.commit()
    _send(db, a, direct)
    _send(db, c, other)
    groups.leave_group(session=db, user_id=d, conversation_id=g)
    db.commit()
    _send(db, a, g)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=direct)
        convs.mark_read(session=db, user_id=b, conversation_id=g)
        db.commit()
    assert _seen(out) == [({a}, direct, b), ({a, c}, g, b)]  # not d, who left


def test_marks_of_several_conversations_each_tell_their_own(db: Session) -> None:
    """mark_read_many (a tab's arrivals): a mark that tells nobody (the reader does not send
    receipts; a marker at 0) does not stop the marks after it."""
    a, b, c = (_user(db, n, n.title()) for n in ("zoe", "abe", "bob"))
    one = convs.open_direct(session=db, user_id=a, other_user_id=b)
    two = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    m1, m2 = _send(db, a, one), _send(db, a, two)
    profiles.set_read_receipts(session=db, user_id=c, on=False)
    db.commit()
    with events.collecting() as out:
        convs.mark_read_many(session=db, marks=[(c, two, m2), (b, one, m1)])
        db.commit()
    assert _seen(out) == [({a}, one, b)]
    with events.collecting() as out:
        convs.mark_read_many(session=db, marks=[(b, two, 0), (b, one, m1)])  # (b: not in two)
        convs.mark_read_many(session=db, marks=[(b, one, 0), (b, one, m1)])
        db.commit()
    assert _seen(out) == [({a}, one, b), ({a}, one, b)]


def test_seen_by_lists_the_current_members_of_that_conversation(db: Session) -> None:
    a, b, c, d, e = (_user(db, n, n.title()) for n in ("cyd", "dia", "eds", "fay", "gus"))
    g = groups.create_group(session=db, user_id=a, name="Five", member_ids=[b, c, d]).id
    elsewhere = convs.open_direct(session=db, user_id=a, other_user_id=e)
    db.commit()
    last = _send(db, a, g)
    _send(db, a, elsewhere)
    convs.mark_read(session=db, user_id=b, conversation_id=g)
    convs.mark_read(session=db, user_id=e, conversation_id=elsewhere)
    groups.leave_group(session=db, user_id=d, conversation_id=g)
    db.commit()
    readers = convs.read_markers(session=db, user_id=a, conversation_id=g)
    # c has read nothing yet: up to 0 (the creation line is not theirs to have read)
    assert sorted(readers or [], key=lambda r: r.user_id) == sorted(
        [ReaderOut(b, "Dia", last), ReaderOut(c, "Eds", 0)], key=lambda r: r.user_id
    )


# Contacts and cards -----------------------------------------------------------------------------
def test_people_stop_being_contacts_when_one_of_them_leaves(db: Session) -> None:
    a, b, c = _user(db, "hal"), _user(db, "ida"), _user(db, "jon")
    g = groups.create_group(session=db, user_id=a, name="Only", member_ids=[b, c]).id
    db.commit()
    assert convs.shares_conversation(session=db, user_id=a, other_id=b)
    assert sorted(convs.contact_ids(session=db, user_id=a)) == sorted([b, c])
    groups.leave_group(session=db, user_id=b, conversation_id=g)
    db.commit()
    assert not convs.shares_conversation(session=db, user_id=a, other_id=b)
    assert not convs.shares_conversation(session=db, user_id=b, other_id=a)
    assert convs.contact_ids(session=db, user_id=a) == [c]
    assert convs.contact_ids(session=db, user_id=b) == []  # (nor the one who left)


def test_a_card_shows_the_bio_and_nobody_is_nobody(db: Session) -> None:
    a, b = _user(db, "kim"), _user(db, "lee", "Lee")
    convs.open_direct(session=db, user_id=a, other_user_id=b)
    profiles.update_profile(session=db, user_id=b, display_name="Lee", bio="Tea, trains")
    db.commit()
    card = convs.person_card(session=db, user_id=b, viewer_id=a)
    assert card is not None and card.bio == "Tea, trains" and card.person.display_name == "Lee"
    assert convs.person_card(session=db, user_id=10**9, viewer_id=a, found=True) is None


# Refusals and small things ----------------------------------------------------------------------
def test_refusals_say_why(db: Session) -> None:
    a, b = _user(db, "max"), _user(db, "ned")
    with pytest.raises(ServiceError, match=r"^Pick someone else to talk to\.$"):
        convs.open_direct(session=db, user_id=a, other_user_id=a)
    with pytest.raises(NotAllowed, match=r"^That person does not exist\.$"):
        convs.open_direct(session=db, user_id=a, other_user_id=10**9)
    theirs = convs.open_direct(session=db, user_id=b, other_user_id=_user(db, "ozz"))
    db.commit()
    with pytest.raises(NotAllowed, match=f"^{NOT_A_MEMBER}$"):
        convs.get_conversation(session=db, user_id=a, conversation_id=theirs)


def test_one_result_when_one_is_asked_for(db: Session) -> None:
    a = _user(db, "pat")
    for name in ("pam", "pax"):
        _user(db, name)
    assert [
        p.username for p in convs.search_people(session=db, user_id=a, query="pa", limit=1)
    ] == ["pam"]


def test_reading_without_a_tab_names_no_tab(db: Session) -> None:
    a, b = _user(db, "quy"), _user(db, "rob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    _send(db, a, conv)
    with events.collecting() as out:
        convs.mark_read(session=db, user_id=b, conversation_id=conv)
        db.commit()
    assert [o.event for o in out if o.event["type"] == "read"] == [
        {"type": "read", "conv": conv, "origin": ""}
    ]


# What it costs ----------------------------------------------------------------------------------
def _reads(db: Session, call: Callable[[], object]) -> int:
    """Rows MariaDB stepped through while `call` ran on the session's connection: index steps
    and full-scan rows (Handler_read_next/prev/rnd_next)."""
    conn = db.connection()
    conn.exec_driver_sql("FLUSH STATUS")
    call()
    status = dict(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all())
    return sum(
        int(status[k]) for k in ("Handler_read_next", "Handler_read_prev", "Handler_read_rnd_next")
    )


def test_reading_and_the_sidebar_do_not_read_other_peoples_memberships(db: Session) -> None:
    """Telling who read (the members of that conversation) and naming the other person of each
    direct conversation read those conversations' member rows, not everyone's: with 300 other
    member rows around, the reads stay where they were with none."""
    a, b = _user(db, "sam", "Sam"), _user(db, "tom", "Tom")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    _send(db, a, conv)

    def cost() -> tuple[int, int]:
        mark = _reads(db, lambda: convs.mark_read(session=db, user_id=b, conversation_id=conv))
        side = _reads(db, lambda: convs.list_conversations(session=db, user_id=a))
        db.rollback()
        return mark, side

    before = cost()
    others = [_user(db, f"crowd{i:02d}") for i in range(30)]
    for i in range(30):
        groups.create_group(
            session=db,
            user_id=others[i],
            name=f"G{i}",
            member_ids=others[:i] + others[i + 1 : i + 10],
        )
    db.commit()
    after = cost()
    assert after[0] <= before[0] + 5 and after[1] <= before[1] + 5, (before, after)
