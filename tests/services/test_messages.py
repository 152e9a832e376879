"""services/messages.py on MariaDB, for what the suite let through (TESTING.md, messages.py):
a retry that finds its message stored only ever finds the sender's own; a reply announced again
carries its quote, but not to a member added after the quoted message; a group's catch-up names
its writers and carries the conversation's change number."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlmodel import Session

from chatapp import wire
from chatapp.models import Conversation, ConversationMember, Media
from chatapp.services import events, groups, lifecycle, profiles
from chatapp.services import messages as msgs
from chatapp.services.errors import NotAllowed, ServiceError
from tests.services.test_chat_services import _cid, _engine, _pair, _store, _upload, _user


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


def _avatar(db: Session, owner: int) -> str:
    media_id = _upload(db, owner, secrets.token_urlsafe(18)[:24])
    row = db.get(Media, media_id)
    assert row is not None
    row.purpose = "avatar"
    db.add(row)
    db.commit()
    return media_id


def _pictured_group(db: Session, owner: int, name: str, members: list[int]) -> tuple[int, str]:
    """A group with a picture: its id and the picture's media id."""
    picture = _avatar(db, owner)
    g = groups.create_group(
        session=db, user_id=owner, name=name, member_ids=members, picture_ref=picture
    ).id
    db.commit()
    return g, picture


def _events(out: list[events.Outgoing]) -> dict[tuple[int, ...], dict[str, Any]]:
    return {tuple(sorted(o.user_ids)): o.event for o in out}


def test_stored_sends_answers_only_the_ids_asked_with_who_may_read_them(db: Session) -> None:
    """Only the client ids asked for (a tab back from a crash is told which of its own are
    stored; the sender's other messages are not announced again), at most 100 of them, with
    the image's size, and as readers the members who may read the message: not someone added
    right after it. The ``again`` event carries the asking tab's origin."""
    a, b = _user(db, "asker1", "Asa"), _user(db, "reader2", "Bo")
    late = _user(db, "late1", "Lee")
    g = groups.create_group(session=db, user_id=a, name="Stored", member_ids=[b]).id
    db.commit()
    picture = _upload(db, a, secrets.token_urlsafe(18)[:24], 640, 480)
    cids = [_cid() for _ in range(3)]
    with events.collecting():
        other = _store(db, a, g, "not asked for", cid=cids[0])
        image = _store(db, a, g, "", cid=cids[1], media_ref=picture)
    groups.add_members(session=db, user_id=a, conversation_id=g, member_ids=[late])
    db.commit()
    with events.collecting() as out:
        (found,) = msgs.stored_sends(session=db, sender_id=a, client_ids=[cids[1]], origin="tab-a")
    assert found.created is False
    assert found.message == image.message
    assert (found.message.media_width, found.message.media_height) == (640, 480)
    assert sorted(found.member_ids) == sorted([a, b])  # (not Lee, added after it)
    (event,) = _events(out).values()
    assert [sorted(o.user_ids) for o in out] == [sorted([a, b])]
    assert event["origin"] == "tab-a" and event["again"] is True
    assert event["sender"] == wire.sender_card(a, "Asa", "asker1", "")  # (read from the row)
    assert event["message"]["id"] == image.message.id
    # A retry of the send itself (its first answer lost) is announced again to the same two.
    with events.collecting() as out:
        assert not _store(db, a, g, "", cid=cids[1], media_ref=picture).created
    assert [sorted(o.user_ids) for o in out] == [sorted([a, b])]
    # The 101st id asked for is not looked at (a crafted event cannot ask for more).
    filler = [_cid() for _ in range(100)]
    assert msgs.stored_sends(session=db, sender_id=a, client_ids=[*filler, cids[0]]) == []
    assert [
        r.message.id for r in msgs.stored_sends(session=db, sender_id=a, client_ids=[cids[0]])
    ] == [other.message.id]


def test_a_direct_message_announced_again_has_no_group_card(db: Session) -> None:
    a, _b, conv = _pair(db)
    cid = _cid()
    with events.collecting():  # (the first publish is lost)
        _store(db, a, conv, "hello", cid=cid)
    with events.collecting() as out:
        msgs.stored_sends(session=db, sender_id=a, client_ids=[cid])
    (event,) = _events(out).values()
    assert event["again"] is True and "group" not in event


def test_a_groups_message_announced_again_shows_the_groups_and_senders_pictures(
    db: Session,
) -> None:
    a, b = _user(db, "pic1", "Pia"), _user(db, "pic2", "Per")
    own = _avatar(db, a)
    profiles.update_profile(session=db, user_id=a, display_name="Pia", bio="", avatar_media_id=own)
    db.commit()
    g, picture = _pictured_group(db, a, "Pictured", [b])
    cid = _cid()
    with events.collecting():
        _store(db, a, g, "hello", cid=cid)
    with events.collecting() as out:
        msgs.stored_sends(session=db, sender_id=a, client_ids=[cid])
    (event,) = _events(out).values()
    assert event["group"] == {"title": "Pictured", "avatar": f"/media/{picture}/thumb"}
    assert event["sender"]["avatar"] == f"/media/{own}/thumb"


def test_a_system_line_carries_the_group_card_and_who_did_it(db: Session) -> None:
    a, b, c = _user(db, "sys1", "Sol"), _user(db, "sys2", "Sam"), _user(db, "sys3", "Sue")
    g, picture = _pictured_group(db, a, "Lines", [b])
    with events.collecting() as out:
        groups.add_members(session=db, user_id=a, conversation_id=g, member_ids=[c])
        db.commit()
    (line,) = [o.event for o in out if o.event["type"] == "message"]
    assert line["group"] == {"title": "Lines", "avatar": f"/media/{picture}/thumb"}
    assert line["sender"]["id"] == a and line["sender"]["name"] == "Sol"
    assert line["message"]["sys"] == "added"


def test_a_retry_that_names_another_image_answers_with_the_stored_ones_size(db: Session) -> None:
    a, _b, conv = _pair(db)
    first = _upload(db, a, secrets.token_urlsafe(18)[:24], 800, 600)
    second = _upload(db, a, secrets.token_urlsafe(18)[:24], 30, 20)
    cid = _cid()
    with events.collecting():
        sent = _store(db, a, conv, "", cid=cid, media_ref=first)
        again = _store(db, a, conv, "", cid=cid, media_ref=second)
    assert not again.created and again.message == sent.message
    assert (again.message.media_ref, again.message.media_width) == (first, 800)


def test_pages_carry_the_change_number_quotes_and_reactions(db: Session) -> None:
    """A conversation that never changed is at change 0 (a tab then catches up with change 1);
    catching up carries the change number, the quotes and the reactions as a page does."""
    a, b, conv = _pair(db)
    assert msgs.list_messages(session=db, user_id=a, conversation_id=conv).seq == 0
    with events.collecting():
        first = _store(db, a, conv, "first").message.id
        mark = _store(db, a, conv, "second").message.id
        reply = _store(db, b, conv, "a reply", reply_to_id=first).message.id
        lifecycle.react(session=db, user_id=a, message_id=reply, emoji="👍")
        db.commit()
    page = msgs.list_messages(session=db, user_id=b, conversation_id=conv)
    after = msgs.messages_after(session=db, user_id=b, conversation_id=conv, after_id=mark)
    assert page.seq == after.seq == 1
    assert [m.id for m in after.items] == [reply]
    assert after.quotes[first].body == "first" == page.quotes[first].body
    assert after.reactions == {reply: {"👍": [a]}} == page.reactions


def _stranger_in_conversation_one(db: Session) -> int:
    """Someone in conversation 1 (made if the tests before emptied it): a wrong conversation id
    that is a constant would name them."""
    stranger = _user(db, "stranger1", "Stray")
    if db.get(Conversation, 1) is None:
        db.add(Conversation(id=1, kind="group", title="Elsewhere"))
        db.flush()
    db.add(ConversationMember(conversation_id=1, user_id=stranger))
    db.commit()
    return stranger


def test_an_older_page_of_a_group_names_only_its_writers(db: Session) -> None:
    """The newest page names every current member (one map of who is who); an older page, and
    catching up, only those who wrote in it (never the members of some other conversation)."""
    stranger = _stranger_in_conversation_one(db)
    a, b, quiet = _user(db, "older1", "Ola"), _user(db, "older2", "Ole"), _user(db, "older3", "Q")
    g = groups.create_group(session=db, user_id=a, name="Pages", member_ids=[b, quiet]).id
    db.commit()
    with events.collecting():
        ids = [_store(db, a if i % 2 else b, g, f"m{i}").message.id for i in range(4)]
    newest = msgs.list_messages(session=db, user_id=b, conversation_id=g)
    assert set(newest.senders) == {a, b, quiet}
    older = msgs.list_messages(session=db, user_id=b, conversation_id=g, before_id=ids[2])
    assert set(older.senders) == {a, b}  # (and not the "created" line's writer: it is a)
    caught_up = msgs.messages_after(session=db, user_id=b, conversation_id=g, after_id=ids[1])
    assert set(caught_up.senders) == {a, b}
    assert stranger not in {*newest.senders, *older.senders, *caught_up.senders}


def test_opening_and_catching_up_tell_the_readers_other_tabs_with_its_origin(db: Session) -> None:
    a, b, conv = _pair(db)
    with events.collecting():
        last = _store(db, a, conv, "unread").message.id
    with events.collecting() as out:
        msgs.open_conversation(session=db, user_id=b, conversation_id=conv, origin="tab-1")
        db.commit()
    reads = [o.event for o in out if o.event["type"] == "read"]
    assert reads and {e["origin"] for e in reads} == {"tab-1"}
    with events.collecting():
        _store(db, a, conv, "another")
    with events.collecting() as out:
        msgs.catch_up(
            session=db, user_id=b, conversation_id=conv, after_id=last, after_seq=0, origin="tab-2"
        )
        db.commit()
    reads = [o.event for o in out if o.event["type"] == "read"]
    assert reads and {e["origin"] for e in reads} == {"tab-2"}


def test_what_a_refused_send_says(db: Session) -> None:
    a, b, conv = _pair(db)
    y, z = _user(db, "theirs1"), _user(db, "theirs2")
    with events.collecting():
        other = groups.create_group(session=db, user_id=y, name="Theirs", member_ids=[z]).id
        db.commit()

    def says(words: str, **args: Any) -> None:
        with pytest.raises(ServiceError) as refused:
            _store(db, a, args.pop("conv", conv), **args)
        assert str(refused.value) == words

    says("Type a message first.", body=" \n ")
    image = _upload(db, a, secrets.token_urlsafe(18)[:24])
    says(
        f"Captions can be at most {msgs.MAX_BODY_CHARS:,} characters.",
        body="x" * (msgs.MAX_BODY_CHARS + 1),
        media_ref=image,
    )
    says("Invalid message id.", cid="no spaces allowed")
    cid = _cid()
    with events.collecting():
        _store(db, a, conv, "stored", cid=cid)
    # The same id again, for another conversation: not a retry of that message.
    with pytest.raises(NotAllowed, match=r"^You are not in this conversation\.$"):
        _store(db, a, other, "stored", cid=cid)  # (alice is not in that one)
    with events.collecting():
        mine = groups.create_group(session=db, user_id=a, name="Mine", member_ids=[b]).id
        db.commit()
    says("Invalid message id.", conv=mine, body="stored", cid=cid)


def test_a_new_message_goes_out_with_the_tabs_origin_and_the_card_given(db: Session) -> None:
    """The server's hot path: the sender's card comes with the send (no ORM session is made
    for it) and is what the others are shown; the tab it came from is named."""
    a, _b, conv = _pair(db)
    card = wire.sender_card(a, "Shown Name", "shown", "/media/x/thumb")
    with events.collecting() as out:
        sent = msgs.send_message(
            engine=_engine(db),
            sender_id=a,
            conversation_id=conv,
            body="hello",
            client_id=_cid(),
            origin="tab-7",
            sender=card,
        )
    assert sent.created
    (event,) = _events(out).values()
    assert event["origin"] == "tab-7" and event["sender"] == card and "group" not in event


def test_a_new_group_message_carries_the_group_card_also_to_who_gets_it_unquoted(
    db: Session,
) -> None:
    a, b, c = _user(db, "gc1", "Gus"), _user(db, "gc2", "Gil"), _user(db, "gc3", "Gwen")
    g, picture = _pictured_group(db, a, "Carded", [b])
    with events.collecting():
        quoted = _store(db, a, g, "before gwen").message.id
        groups.add_members(session=db, user_id=a, conversation_id=g, member_ids=[c])
        db.commit()
    with events.collecting() as out:
        sent = _store(db, b, g, "a reply", reply_to_id=quoted, origin="tab-b")
    assert sent.message.reply_to_id == quoted and sent.quote is not None
    by_to = _events(out)
    card = {"title": "Carded", "avatar": f"/media/{picture}/thumb"}
    seeing, blind = by_to[tuple(sorted([a, b]))], by_to[(c,)]
    assert seeing["group"] == blind["group"] == card
    assert seeing["sender"] == blind["sender"] and blind["sender"]["name"] == "Gil"
    assert seeing["origin"] == "tab-b"
    assert seeing["message"]["reply"]["id"] == quoted and "reply" not in blind["message"]
