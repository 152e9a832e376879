"""Muting and notification wording on MariaDB: who may mute, for how long, what the sidebar row
says, what the user's other tabs are told, and what a notification says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from chatapp.models import ConversationMember, utcnow
from chatapp.services import accounts, events, groups, notifications
from chatapp.services import conversations as convs
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.wire import conversation

PW = "correct horse"


def _user(db: Session, name: str) -> int:
    uid = accounts.sign_up(session=db, username=name, email=f"{name}@example.com", password=PW).id
    db.commit()
    return uid


def _muted_until(db: Session, conv: int, uid: int) -> object:
    db.expire_all()
    member = db.get(ConversationMember, (conv, uid))
    assert member is not None
    return member.muted_until


def test_mute_for_8_hours_a_week_always_and_unmute(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    before = utcnow()
    with events.collecting() as out:
        until = notifications.mute(session=db, user_id=a, conversation_id=conv, choice="8h")
        db.commit()
    assert out[0].user_ids == (a,)  # only the user's own tabs are told
    assert out[0].event == {"type": "mute", "conv": conv, "until": until}
    ms = timedelta(milliseconds=1)  # (times travel as epoch milliseconds)
    assert timedelta(hours=8) - ms <= _as_dt(until) - before < timedelta(hours=8, minutes=1)
    (row,) = convs.list_conversations(session=db, user_id=a)
    assert conversation(row, a, set(), "")["muted"] == until  # the grey badge
    (other,) = convs.list_conversations(session=db, user_id=b)
    assert "muted" not in conversation(other, b, set(), "")  # bob did not mute it

    week = notifications.mute(session=db, user_id=a, conversation_id=conv, choice="1w")
    assert timedelta(days=7) - ms <= _as_dt(week) - before < timedelta(days=7, minutes=1)
    always = notifications.mute(session=db, user_id=a, conversation_id=conv, choice="always")
    assert _as_dt(always).year == 9999
    assert notifications.mute(session=db, user_id=a, conversation_id=conv, choice="off") == 0
    db.commit()
    assert _muted_until(db, conv, a) is None
    with pytest.raises(ServiceError):
        notifications.mute(session=db, user_id=a, conversation_id=conv, choice="forever-ish")


def test_only_members_mute_and_an_expired_mute_is_not_shown(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    with pytest.raises(NotAllowed):
        notifications.mute(session=db, user_id=c, conversation_id=conv, choice="8h")
    db.rollback()
    member = db.get(ConversationMember, (conv, a))
    assert member is not None
    member.muted_until = utcnow() - timedelta(seconds=1)
    db.add(member)
    db.commit()
    (row,) = convs.list_conversations(session=db, user_id=a)
    assert row.muted_until is None


def test_a_group_member_mutes_the_group(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    group = groups.create_group(session=db, user_id=a, name="Climbing", member_ids=[b])
    db.commit()
    notifications.mute(session=db, user_id=b, conversation_id=group.id, choice="always")
    db.commit()
    assert notifications.is_muted(_muted_until(db, group.id, b))  # type: ignore[arg-type]
    assert _muted_until(db, group.id, a) is None


def test_show_message_text_is_on_by_default_and_can_be_turned_off(db: Session) -> None:
    a = _user(db, "alice")
    assert notifications.show_text(session=db, user_id=a)
    with events.collecting() as out:
        notifications.set_show_text(session=db, user_id=a, on=False)
        db.commit()
    assert not notifications.show_text(session=db, user_id=a)
    assert out[0].event == {"type": "notify_text", "on": False}


def test_what_a_notification_says() -> None:
    d = notifications.describe
    assert d(
        sender="Ann", group=None, body="hi  there", has_image=False, count=1, show_text=True
    ) == (notifications.Notice("Ann", "hi there"))
    n = d(sender="Ann", group="Climbing", body="", has_image=True, count=3, show_text=True)
    assert n == notifications.Notice("Ann in Climbing (3 new messages)", "Photo")
    n = d(sender="Ann", group=None, body="look", has_image=True, count=0, show_text=True)
    assert n.body == "Photo: look"
    n = d(sender="Ann", group=None, body="the secret", has_image=False, count=2, show_text=False)
    assert n == notifications.Notice("Ann (2 new messages)", "New message")
    long = d(sender="Ann", group=None, body="x" * 500, has_image=False, count=1, show_text=True)
    assert len(long.body) == notifications.PREVIEW_CHARS and long.body.endswith("…")


def _as_dt(ms: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_muting_one_conversation_leaves_the_others_alone(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    ab = convs.open_direct(session=db, user_id=a, other_user_id=b)
    ac = convs.open_direct(session=db, user_id=a, other_user_id=c)
    db.commit()
    notifications.mute(session=db, user_id=a, conversation_id=ab, choice="always")
    db.commit()
    assert _muted_until(db, ab, a) is not None
    assert _muted_until(db, ac, a) is None
    assert _muted_until(db, ab, b) is None


def test_an_unknown_mute_choice_says_what_to_choose(db: Session) -> None:
    a, b = _user(db, "alice"), _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    with pytest.raises(ServiceError) as exc:
        notifications.mute(session=db, user_id=a, conversation_id=conv, choice="2d")
    assert str(exc.value) == "Choose 8 hours, 1 week or Always."


def test_message_text_turned_off_and_on_again(db: Session) -> None:
    a = _user(db, "alice")
    assert notifications.set_show_text(session=db, user_id=a, on=False) is False
    db.commit()
    with events.collecting() as out:
        assert notifications.set_show_text(session=db, user_id=a, on=True) is True
        db.commit()
    assert notifications.show_text(session=db, user_id=a)
    assert [(o.user_ids, o.event) for o in out] == [((a,), {"type": "notify_text", "on": True})]
    # Someone with no account row any more: the default (text shown), not an error.
    assert notifications.show_text(session=db, user_id=a + 1_000_000) is True


def test_is_muted_until_the_moment_it_ends_whatever_the_zone() -> None:
    from datetime import UTC, datetime, timezone

    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert notifications.is_muted(datetime(2026, 5, 1, 12, 30), now)  # naive: UTC, as stored
    assert not notifications.is_muted(datetime(2026, 5, 1, 11, 30), now)
    assert not notifications.is_muted(now, now)  # it ends at that moment
    plus2 = timezone(timedelta(hours=2))
    # 13:30 at UTC+2 is 11:30 UTC: over (read in its own zone, not as UTC).
    assert not notifications.is_muted(datetime(2026, 5, 1, 13, 30, tzinfo=plus2), now)
    assert notifications.is_muted(datetime(2026, 5, 1, 14, 30, tzinfo=plus2), now)
    assert not notifications.is_muted(None, now)


def test_a_notification_with_nothing_to_show_and_a_preview_at_its_limit() -> None:
    d = notifications.describe
    n = d(sender="Ann", group=None, body="  ", has_image=False, count=1, show_text=True)
    assert n.body == "New message"
    exact = "y" * notifications.PREVIEW_CHARS
    n = d(sender="Ann", group=None, body=exact, has_image=False, count=1, show_text=True)
    assert n.body == exact  # not cut
