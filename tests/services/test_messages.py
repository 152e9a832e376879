"""services/messages.py on MariaDB, for what the suite let through (TESTING.md, messages.py):
a retry that finds its message stored only ever finds the sender's own; a reply announced again
carries its quote, but not to a member added after the quoted message; a group's catch-up names
its writers and carries the conversation's change number."""

from __future__ import annotations

from sqlmodel import Session

from chatapp.services import events, groups
from chatapp.services import messages as msgs
from tests.services.test_chat_services import _cid, _pair, _store, _user


def test_stored_sends_finds_only_the_senders_own_messages(db: Session) -> None:
    """A tab back from a crash asks which of its client ids are stored. Another person who
    names the same id (a crafted event) learns nothing of the message."""
    a, b, conv = _pair(db)
    cid = _cid()
    with events.collecting():
        sent = _store(db, a, conv, "mine", cid=cid)
    assert msgs.stored_sends(session=db, sender_id=b, client_ids=[cid]) == []
    (found,) = msgs.stored_sends(session=db, sender_id=a, client_ids=[cid, "not one of mine"])
    assert found.message.id == sent.message.id and found.message.body == "mine"
    assert not found.created
    assert sorted(found.member_ids) == sorted([a, b])


def test_a_reply_announced_again_keeps_its_quote_from_who_cannot_see_the_quoted(
    db: Session,
) -> None:
    """In a group, a reply whose first publish was lost is announced again (``again``) with the
    sender's card, the group's card and its quote; someone added after the quoted message gets
    it without the quote (they may not see that message)."""
    a = _user(db, "owner1", "Olga")
    b = _user(db, "member1", "Bram")
    c = _user(db, "newcomer", "Cleo")
    g = groups.create_group(session=db, user_id=a, name="Quoting", member_ids=[b]).id
    db.commit()
    with events.collecting():
        original = _store(db, a, g, "the original").message.id
    groups.add_members(session=db, user_id=a, conversation_id=g, member_ids=[c])
    db.commit()
    cid = _cid()
    with events.collecting():  # (the first publish is lost)
        first = _store(db, b, g, "a reply", cid=cid, reply_to_id=original)
    with events.collecting() as out:
        again = _store(db, b, g, "a reply", cid=cid, reply_to_id=original, origin="tab-b")
    assert first.created and not again.created
    by_to = {tuple(sorted(o.user_ids)): o.event for o in out}
    assert set(by_to) == {tuple(sorted([a, b])), (c,)}
    seeing, blind = by_to[tuple(sorted([a, b]))], by_to[(c,)]
    for event in (seeing, blind):
        assert event["type"] == "message" and event.get("again") is True
        assert event["message"]["id"] == first.message.id
        assert event["sender"]["name"] == "Bram"
        assert event.get("group", {}).get("title") == "Quoting"
        assert "avatar" in event.get("group", {})
    assert seeing["origin"] == "tab-b"
    assert seeing["message"]["reply"]["id"] == original
    assert seeing["message"]["reply"]["body"] == "the original"
    assert seeing["message"]["reply"]["name"] == "Olga"
    assert "reply" not in blind["message"]


def test_catch_up_in_a_group_names_its_writers_and_the_change_number(db: Session) -> None:
    a = _user(db, "writer1", "Wanda")
    b = _user(db, "reader1", "Rolf")
    g = groups.create_group(session=db, user_id=a, name="Catch-up", member_ids=[b]).id
    db.commit()
    before = msgs.list_messages(session=db, user_id=b, conversation_id=g)
    mark = before.items[-1].id
    with events.collecting():
        _store(db, a, g, "while you were away")
    page = msgs.messages_after(session=db, user_id=b, conversation_id=g, after_id=mark)
    assert [m.body for m in page.items] == ["while you were away"]
    assert page.senders[a].display_name == "Wanda"
    assert page.seq == before.seq  # (a new message is not a change to catch up on)
    # A direct conversation's catch-up names nobody: its header shows the other person.
    x, y, direct = _pair(db)
    with events.collecting():
        _store(db, x, direct, "hi")
    assert (
        msgs.messages_after(session=db, user_id=y, conversation_id=direct, after_id=0).senders == {}
    )
