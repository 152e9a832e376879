"""Web Push on MariaDB, against a local push-service stand-in (tests/support/push_standin.py)
that checks the VAPID signature and audience and decrypts each push with the browser's keys.

Subscriptions: stored per log-in session, moved (never duplicated) when a browser subscribes
again, refused for an address that is not a push service, deleted on log out, "Log out of all
devices" and a password change, and when the push service answers 404/410. Pushes: only to
recipients with no open tab, not for a muted conversation, with the text only when the person
wants it, after commit and published (the runner's path), never to the sender."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

import chatapp.db
from chatapp.models import AuthSession, ConversationMember, PushSubscription, utcnow
from chatapp.realtime.presence import LocalPresence
from chatapp.services import accounts, notifications, profiles, push
from chatapp.services import conversations as convs
from chatapp.services import messages as msgs
from chatapp.services.errors import ServiceError
from chatapp.settings import DEFAULT_PUSH_HOSTS, get_settings, new_vapid_key
from tests.support.pools import own_pool
from tests.support.push_standin import Browser, PushServiceStandIn, push_service

PW = "correct horse"


# Helpers --------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _own_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pushes, and the runner's work, go through pools made in this test's process
    (tests/support/pools.py)."""
    from chatapp.state import db_call

    with own_pool(monkeypatch, push), own_pool(monkeypatch, db_call):
        yield


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PushServiceStandIn]:
    """The stand-in, listed as a push service, and a VAPID key of this test's own."""
    with push_service() as service:
        settings = get_settings()
        monkeypatch.setattr(settings, "push_service_hosts", f"{service.origin},fcm.googleapis.com")
        monkeypatch.setattr(settings, "vapid_private_key", new_vapid_key())
        monkeypatch.setattr(settings, "vapid_subject", "mailto:ops@chat.example.com")
        yield service


def _user(db: Session, name: str) -> tuple[int, str]:
    """A user and one live log-in session."""
    user = accounts.sign_up(session=db, username=name, email=f"{name}@example.com", password=PW)
    return user.id, _session(db, user.id)


def _session(db: Session, user_id: int) -> str:
    """One more live log-in session of a user."""
    sid = accounts.start_session(session=db, user_id=user_id)
    assert accounts.activate_session(session=db, ticket=sid) is not None
    db.commit()
    return sid


def _subscribe(db: Session, standin: PushServiceStandIn, uid: int, sid: str, name: str) -> Any:
    browser = standin.browser(name)
    push.save_subscription(
        session=db, user_id=uid, session_id=sid, subscription=browser.subscription()
    )
    db.commit()
    return browser


def _subs(db: Session, user_id: int) -> list[PushSubscription]:
    db.expire_all()
    return list(db.exec(select(PushSubscription).where(PushSubscription.user_id == user_id)))


def _message_event(
    db: Session, sender: int, conv: int, body: str = "hello there"
) -> dict[str, Any]:
    """Send a message and return its event as published (with ``to``)."""
    from chatapp.services import events

    with events.collecting() as out:
        result = msgs.send_message(
            session=db,
            sender_id=sender,
            conversation_id=conv,
            body=body,
            client_id=secrets.token_urlsafe(12),
        )
        db.commit()
    assert result.created
    (o,) = out
    return {**o.event, "to": list(o.user_ids)}


@pytest.fixture
def pair(db: Session) -> tuple[int, str, int, str, int]:
    a, sa_ = _user(db, "alice")
    b, sb = _user(db, "bob")
    conv = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    return a, sa_, b, sb, conv


def _push(event: dict[str, Any], presence: Any, engine: sa.Engine) -> push.PushReport:
    return asyncio.run(push.push_offline(event, presence, engine=engine))


# Keys -------------------------------------------------------------------------------------------
def test_a_vapid_key_is_generated_once_when_none_is_configured() -> None:
    key = get_settings().vapid_private_key  # (development: generated into .vapid_private_key)
    assert key and push._vapid(key) is not None
    assert get_settings().vapid_private_key == key
    assert len(push.public_key()) == 87  # base64url of a 65-byte uncompressed P-256 point


# Subscriptions ------------------------------------------------------------------------------------
def test_subscribing_again_moves_the_row_and_bad_subscriptions_are_refused(
    db: Session, standin: PushServiceStandIn, pair: tuple[int, str, int, str, int]
) -> None:
    a, sa_, b, sb, _conv = pair
    browser = _subscribe(db, standin, a, sa_, "one")
    # The same browser, now signed in as bob (alice logged out, or another session): one row.
    push.save_subscription(
        session=db, user_id=b, session_id=sb, subscription=browser.subscription()
    )
    db.commit()
    assert _subs(db, a) == [] and len(_subs(db, b)) == 1

    good = browser.subscription()
    for endpoint in (
        "https://evil.example.com/push/1",  # not a push service
        "http://fcm.googleapis.com/fcm/send/x",  # not https
        "https://10.0.0.1/push",  # an address, not a push service's name
        "https://user:pw@fcm.googleapis.com/x",
        "https://user@fcm.googleapis.com/x",
        "https://:pw@fcm.googleapis.com/x",
        "https://fcm.googleapis.com:8443/x",
        "https://" + "a" * 3000,
    ):
        with pytest.raises(
            ServiceError, match=r"^This browser's push service is not one chatapp sends to\.$"
        ):
            push.save_subscription(
                session=db, user_id=a, session_id=sa_, subscription={**good, "endpoint": endpoint}
            )
    for keys in (
        {"p256dh": "abc", "auth": good["keys"]["auth"]},
        {"p256dh": good["keys"]["p256dh"]},
        {},
    ):
        with pytest.raises(
            ServiceError, match=r"^This browser's push subscription is not valid\.$"
        ):
            push.save_subscription(
                session=db, user_id=a, session_id=sa_, subscription={**good, "keys": keys}
            )
    for odd in ("not a subscription", None, {**good, "keys": "not keys"}):
        with pytest.raises(ServiceError):  # (what a crafted event may carry)
            push.save_subscription(session=db, user_id=a, session_id=sa_, subscription=odd)
    with pytest.raises(
        ServiceError, match=r"^Your session has ended\. Log in again\.$"
    ):  # someone else's session
        push.save_subscription(session=db, user_id=a, session_id=sb, subscription=good)
    assert push.endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc")
    mozilla = "https://updates.push.services.mozilla.com/wpush/v2/x"
    assert push.endpoint_allowed(mozilla, DEFAULT_PUSH_HOSTS)
    assert push.endpoint_allowed("https://web.push.apple.com/QGuQ", DEFAULT_PUSH_HOSTS)
    assert not push.endpoint_allowed("https://push.apple.com.evil.example/x", DEFAULT_PUSH_HOSTS)


def test_log_out_log_out_everywhere_and_password_change_delete_subscriptions(
    db: Session, standin: PushServiceStandIn
) -> None:
    uid, s1 = _user(db, "carol")
    s2 = accounts.start_session(session=db, user_id=uid)
    s3 = accounts.start_session(session=db, user_id=uid)
    for sid in (s2, s3):
        accounts.activate_session(session=db, ticket=sid)
    db.commit()
    for i, sid in enumerate((s1, s2, s3)):
        _subscribe(db, standin, uid, sid, f"c{i}")
    accounts.revoke_session(session=db, session_id=s3)  # "Log out"
    db.commit()
    assert {s.session_id for s in _subs(db, uid)} == {s1, s2}
    # A password change logs the other sessions out, and their subscriptions go.
    profiles.change_password(
        session=db, user_id=uid, keep_session_id=s1, current=PW, new="new pw 123"
    )
    db.commit()
    assert {s.session_id for s in _subs(db, uid)} == {s1}
    accounts.revoke_all_sessions(session=db, user_id=uid)  # "Log out of all devices"
    db.commit()
    assert _subs(db, uid) == []


# Pushing ----------------------------------------------------------------------------------------
def test_a_message_is_pushed_encrypted_and_signed_to_a_recipient_with_no_open_tab(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    a, sa_, b, sb, conv = pair
    _subscribe(db, standin, a, sa_, "alice")  # the sender's own: never pushed to
    _subscribe(db, standin, b, sb, "bob")
    _message_event(db, a, conv, "first one")
    event = _message_event(db, a, conv, "see you at 8 🍕")
    report = _push(event, LocalPresence(), mysql_engine)
    assert report.sent == 1 and not report.removed and not report.failed
    (got,) = standin.received  # (recorded before the push service answered)
    assert standin.errors == []
    assert got.path == "/push/bob"
    assert got.claims["aud"] == standin.origin  # the push service's origin
    assert got.claims["sub"] == "mailto:ops@chat.example.com"
    assert got.vapid_key == push.public_key()  # signed with the server's key
    assert got.headers["topic"] == f"conv-{conv}"  # the service keeps the newest per conversation
    assert got.headers["urgency"] == "high"  # delivered at once, also to a phone asleep
    assert got.headers["ttl"] == str(push.TTL_SECONDS)
    # Compact UTF-8 JSON (a push carries at most 4 KB): what the service worker parses.
    assert (
        got.plaintext == json.dumps(got.payload, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert got.payload == {
        "title": "alice (2 new messages)",
        "body": "see you at 8 🍕",
        "tag": f"conv-{conv}",
        "url": f"/c/{conv}",
    }


def test_the_stand_in_refuses_what_the_browser_could_not_decrypt(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    """(The stand-in really checks: a push encrypted for other keys is refused, and counted
    as failed, not sent.)"""
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    standin.browsers["/push/bob"] = standin.browser("someone-else")  # other keys at that path
    report = _push(_message_event(db, a, conv), LocalPresence(), mysql_engine)
    assert report.sent == 0 and report.failed == 1
    assert len(standin.errors) == 1 and "/push/bob" in standin.errors[0]


class CountingPresence(LocalPresence):
    """LocalPresence that counts the look-ups (with Redis each is a round trip per member)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    async def online(self, user_ids: list[int]) -> set[int]:
        self.asked.append(len(user_ids))
        return await super().online(user_ids)


def test_who_is_online_is_asked_once_per_message(
    db: Session, pair: tuple[int, str, int, str, int], mysql_engine: sa.Engine
) -> None:
    """A message to a group of 200 asked presence once per recipient for every recipient
    (40,000 look-ups per message; a quarter of the server's time at 5 msg/s, bench group)."""
    a, _sa, b, _sb, conv = pair
    presence = CountingPresence()
    asyncio.run(presence.tab_up(b, "bob-tab"))
    event = _message_event(db, a, conv)
    event["to"] = [a, b, *range(10_000, 10_198)]  # a group's worth of recipients
    _push(event, presence, mysql_engine)
    assert presence.asked == [199]  # once, for everyone but the sender


def test_no_push_to_someone_with_an_open_tab(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    presence = LocalPresence()
    asyncio.run(presence.tab_up(b, "bob-tab"))
    assert _push(_message_event(db, a, conv), presence, mysql_engine).sent == 0
    asyncio.run(presence.tab_down(b, "bob-tab"))
    assert _push(_message_event(db, a, conv, "now"), presence, mysql_engine).sent == 1
    assert standin.requests == 1


def test_mute_and_hidden_text_and_ended_sessions(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    notifications.mute(session=db, user_id=b, conversation_id=conv, choice="8h")
    db.commit()
    assert _push(_message_event(db, a, conv, "muted"), LocalPresence(), mysql_engine).sent == 0
    # A mute that has run out no longer holds anything back.
    db.execute(
        sa.update(ConversationMember)
        .where(ConversationMember.user_id == b)  # type: ignore[arg-type]
        .values(muted_until=utcnow() - timedelta(minutes=1))
    )
    notifications.set_show_text(session=db, user_id=b, on=False)
    db.commit()
    assert (
        _push(_message_event(db, a, conv, "secret plan"), LocalPresence(), mysql_engine).sent == 1
    )
    (got,) = standin.received  # (recorded before the push service answered)
    assert "secret" not in str(got.payload)
    assert got.payload["body"] == "New message"
    # An expired session's subscription is not used.
    db.execute(sa.update(AuthSession).where(AuthSession.id == sb).values(expires_at=utcnow()))  # type: ignore[arg-type]
    db.commit()
    assert _push(_message_event(db, a, conv, "later"), LocalPresence(), mysql_engine).sent == 0
    assert standin.requests == 1


def test_an_endpoint_that_is_gone_is_removed(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    a, _sa, b, sb, conv = pair
    s2 = _session(db, b)
    _subscribe(db, standin, b, sb, "gone")
    _subscribe(db, standin, b, s2, "missing")
    report = _push(_message_event(db, a, conv), LocalPresence(), mysql_engine)
    assert report.sent == 0 and len(report.removed) == 2
    assert _subs(db, b) == []


def test_a_push_service_that_refuses_or_cannot_be_reached_keeps_the_subscription(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """429 and 500 (the service cannot take it now) and a service that is not there are
    failures, logged; the subscription stays (only 404/410 say it is gone for good), and the
    next message is pushed to it again."""
    a, _sa, b, sb, conv = pair
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    settings = get_settings()
    monkeypatch.setattr(settings, "push_service_hosts", f"{standin.origin},{nowhere}")
    _subscribe(db, standin, b, sb, "busy")
    _subscribe(db, standin, b, _session(db, b), "broken")
    away = Browser(endpoint=f"{nowhere}/push/away")
    push.save_subscription(
        session=db, user_id=b, session_id=_session(db, b), subscription=away.subscription()
    )
    db.commit()
    with caplog.at_level(logging.WARNING, logger=push.log.name):
        report = _push(_message_event(db, a, conv), LocalPresence(), mysql_engine)
    assert (report.sent, report.removed, report.failed) == (0, [], 3)
    assert standin.requests == 2 and standin.errors == []
    said = [r.getMessage() for r in caplog.records]
    assert f"push service unreachable: {urlsplit(nowhere).netloc}" in said
    host = urlsplit(standin.origin).netloc
    assert f"push to {host} failed: 429" in said and f"push to {host} failed: 500" in said
    assert len(_subs(db, b)) == 3
    again = _push(_message_event(db, a, conv, "again"), LocalPresence(), mysql_engine)
    assert again.failed == 3 and standin.requests == 4


def test_no_vapid_key_means_no_push_and_nothing_asked(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    monkeypatch.setattr(get_settings(), "vapid_private_key", "")
    presence = CountingPresence()
    event = _message_event(db, a, conv)
    assert _push(event, presence, mysql_engine) == push.PushReport()
    assert presence.asked == [] and push.public_key() == ""
    (target,) = push.targets(session=db, conversation_id=conv, user_ids=[b])
    assert push.send_one(target, push.payload(event, target)) == 0
    assert standin.requests == 0


def test_who_a_message_notifies() -> None:
    """The members of a new message but its sender; nobody for a system line, a message
    announced again (a reconnect's catch-up) or another kind of event."""
    message = {"type": "message", "message": {"sender": 1, "conv": 5}, "to": [1, 2, 3]}
    assert push.recipients(message) == [2, 3]
    assert push.recipients({**message, "to": ["2", 1]}) == [2]
    assert push.recipients({**message, "again": True}) == []
    assert push.recipients({**message, "message": {"sender": 1, "conv": 5, "sys": "joined"}}) == []
    assert push.recipients({**message, "type": "edit"}) == []
    assert push.recipients({"type": "message", "to": [4]}) == [4]
    assert push.recipients({"type": "message", "to": [1]}) == [1]  # (no sender named)
    assert push.recipients({"type": "message", "message": {"sender": 1, "conv": 5}}) == []


def test_what_the_notification_says_counts_only_what_is_unread_for_that_person(
    db: Session,
    standin: PushServiceStandIn,
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The count in the title: messages after the person's read marker (or after they were
    added to a group), not their own, not deleted ones, not system lines, at most UNREAD_CAP;
    a group's name in the title; "Photo" for an image."""
    from chatapp.services import groups, lifecycle

    a, _sa = _user(db, "ann")
    b, _sb = _user(db, "ben")
    c, sc = _user(db, "cid")
    _subscribe(db, standin, c, sc, "cid")
    g = groups.create_group(session=db, user_id=a, name="Climbing", member_ids=[b])
    db.commit()
    _message_event(db, a, g.id, "before cid was added")
    groups.add_members(session=db, user_id=a, conversation_id=g.id, member_ids=[c])
    db.commit()
    _message_event(db, c, g.id, "cid's own")
    gone = msgs.send_message(
        session=db, sender_id=b, conversation_id=g.id, body="oops", client_id="deleted-0001"
    ).message.id
    db.commit()
    lifecycle.delete_message(session=db, user_id=b, message_id=gone)
    db.commit()
    first = _message_event(db, b, g.id, "one")
    assert _push(first, LocalPresence(), mysql_engine).sent == 1
    assert standin.received[-1].payload["title"] == "ben in Climbing"
    assert standin.received[-1].payload["body"] == "one"
    second = _message_event(db, a, g.id, "two")
    _push(second, LocalPresence(), mysql_engine)
    assert standin.received[-1].payload["title"] == "ann in Climbing (2 new messages)"
    convs.mark_read(session=db, user_id=c, conversation_id=g.id, up_to_id=second["message"]["id"])
    db.commit()
    monkeypatch.setattr(push, "UNREAD_CAP", 3)
    for n in range(5):
        last = _message_event(db, b, g.id, f"more {n}")
    _push(last, LocalPresence(), mysql_engine)
    assert standin.received[-1].payload["title"] == "ben in Climbing (3 new messages)"
    photo = {**last, "message": {**last["message"], "body": "", "img": "m1"}}
    assert (
        push.payload(photo, push.targets(session=db, conversation_id=g.id, user_ids=[c])[0])["body"]
        == "Photo"
    )


def test_who_is_pushed_to_members_with_a_live_session(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
) -> None:
    """Only current members of the conversation, through sessions that were activated and are
    neither revoked nor expired; one count of subscriptions per user."""
    from chatapp.services import groups

    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    pending = accounts.start_session(session=db, user_id=b)  # never activated (no ticket)
    db.commit()
    with pytest.raises(
        ServiceError, match=r"^Your session has ended\. Log in again\.$"
    ):  # (not yet in use)
        _subscribe(db, standin, b, pending, "pending")
    db.rollback()
    ended = _session(db, b)
    db.execute(sa.update(AuthSession).where(AuthSession.id == ended).values(expires_at=utcnow()))  # type: ignore[arg-type]
    db.commit()
    with pytest.raises(
        ServiceError, match=r"^Your session has ended\. Log in again\.$"
    ):  # (nor one run out)
        _subscribe(db, standin, b, ended, "ended")
    db.rollback()
    assert push.subscription_count(session=db, user_id=b) == 1
    assert push.subscription_count(session=db, user_id=a) == 0
    assert [t.user_id for t in push.targets(session=db, conversation_id=conv, user_ids=[a, b])] == [
        b
    ]
    assert push.targets(session=db, conversation_id=conv, user_ids=[]) == []
    g = groups.create_group(session=db, user_id=a, name="Left", member_ids=[b])
    db.commit()
    assert len(push.targets(session=db, conversation_id=g.id, user_ids=[b])) == 1
    groups.leave_group(session=db, user_id=b, conversation_id=g.id)
    db.commit()
    assert push.targets(session=db, conversation_id=g.id, user_ids=[b]) == []


def test_which_addresses_count_as_a_push_service() -> None:
    listed = "push.example.com,*.push.example.net,http://127.0.0.1:9000"
    assert push.endpoint_allowed("https://push.example.com/x", listed)
    assert push.endpoint_allowed("https://PUSH.example.com:443/x", listed)
    assert push.endpoint_allowed("https://eu.push.example.net/x", listed)
    assert not push.endpoint_allowed("https://push.example.net.evil.example/x", listed)
    assert not push.endpoint_allowed("https://evilpush.example.net/x", listed)
    assert push.endpoint_allowed("http://127.0.0.1:9000/push/1", listed)  # an exact origin
    assert not push.endpoint_allowed("http://127.0.0.1:9001/push/1", listed)
    assert not push.endpoint_allowed("https://127.0.0.1/push/1", "127.0.0.1")  # an address
    assert not push.endpoint_allowed("https:///nohost", listed)
    assert not push.endpoint_allowed("https://[::1/x", listed)  # not a URL
    assert not push.endpoint_allowed("https://push.example.com:8443/x", listed)
    assert not push.endpoint_allowed("https://push.example.com/x", "")


def test_keys_are_checked_exactly_and_stored_unpadded() -> None:
    """A key must be base64url of exactly its size: no other character (the decoder would skip
    it), no padding kept, and one ending in "X" or "=" is stored whole but for the padding."""
    raw = bytes(15) + b"\x17"  # base64url "AAAAAAAAAAAAAAAAAAAAFw"
    text = base64.urlsafe_b64encode(raw).decode()
    assert push._b64(text, 16) == text.rstrip("=")
    assert push._b64(text.rstrip("="), 16) == text.rstrip("=")
    ends_x = base64.urlsafe_b64encode(bytes(14) + b"\x17").decode()  # (15 bytes: no padding)
    assert ends_x.endswith("X") and push._b64(ends_x, 15) == ends_x
    # (base64's decoder skips what is not of its alphabet: "…$" would decode to the size)
    bad_ones = ("$" + text, text + "$", text.rstrip("=")[:-1], "", None, 12)
    for bad in bad_ones:
        with pytest.raises(
            ServiceError, match=r"^This browser's push subscription is not valid\.$"
        ):
            push._b64(bad, 16)


def test_an_endpoint_of_the_longest_length_is_taken(
    db: Session, standin: PushServiceStandIn, pair: tuple[int, str, int, str, int]
) -> None:
    a, sa_, _b, _sb, _conv = pair
    good = standin.browser("long").subscription()
    longest = good["endpoint"] + "x" * (push.ENDPOINT_MAX - len(good["endpoint"]))
    push.save_subscription(
        session=db, user_id=a, session_id=sa_, subscription={**good, "endpoint": longest}
    )
    db.commit()
    assert [s.endpoint for s in _subs(db, a)] == [longest]
    with pytest.raises(
        ServiceError, match=r"^This browser's push service is not one chatapp sends to\.$"
    ):
        push.save_subscription(
            session=db, user_id=a, session_id=sa_, subscription={**good, "endpoint": longest + "x"}
        )


def test_every_answer_is_counted(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
) -> None:
    """Two subscriptions pushed to: two sent (200 and 201 are both success); 300 is not."""
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "phone")
    _subscribe(db, standin, b, _session(db, b), "plain-ok")
    _subscribe(db, standin, b, _session(db, b), "choices")
    report = _push(_message_event(db, a, conv), LocalPresence(), mysql_engine)
    assert (report.sent, report.failed, report.removed) == (2, 1, [])


def test_the_topic_is_short_and_plain_whatever_the_tag(
    db: Session, standin: PushServiceStandIn, pair: tuple[int, str, int, str, int]
) -> None:
    """RFC 8030: a Topic is at most 32 characters of the base64url alphabet."""
    _a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    (target,) = push.targets(session=db, conversation_id=conv, user_ids=[b])
    data = {"title": "t", "body": "b", "tag": "conv 7/ü:" + "y" * 40, "url": "/"}
    assert push.send_one(target, data) == 201
    (got,) = standin.received
    assert got.headers["topic"] == "conv7" + "y" * 23  # (the first 32, then the plain ones)


def test_a_muted_conversation_does_not_stop_the_others_pushes(
    db: Session,
    standin: PushServiceStandIn,
    mysql_engine: sa.Engine,
) -> None:
    """Targets: one member muted it (their subscription first), the next is still pushed to;
    and a subscription left on a session revoked or never activated (written before those
    checks, or by hand) is not used."""
    from chatapp.services import groups

    a, _sa = _user(db, "ada")
    b, sb = _user(db, "bea")
    c, sc = _user(db, "cai")
    _subscribe(db, standin, b, sb, "bea")
    _subscribe(db, standin, c, sc, "cai")
    g = groups.create_group(session=db, user_id=a, name="Muted", member_ids=[b, c]).id
    notifications.mute(session=db, user_id=b, conversation_id=g, choice="always")
    db.commit()
    assert [t.user_id for t in push.targets(session=db, conversation_id=g, user_ids=[b, c])] == [c]
    db.execute(sa.update(AuthSession).where(AuthSession.id == sc).values(revoked_at=utcnow()))  # type: ignore[arg-type]
    db.commit()
    assert push.targets(session=db, conversation_id=g, user_ids=[b, c]) == []
    db.execute(
        sa.update(AuthSession)
        .where(AuthSession.id == sc)  # type: ignore[arg-type]
        .values(revoked_at=None, activated_at=None)
    )
    db.commit()
    assert push.targets(session=db, conversation_id=g, user_ids=[b, c]) == []


async def test_after_publish_pushes_every_message_among_other_events(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    message = await asyncio.to_thread(_message_event, db, a, conv, "after a typing event")
    to = message.pop("to")
    typing = {"type": "typing", "conv": conv, "user": a, "name": "alice"}
    push.after_publish([((b,), typing), (tuple(to), message)], LocalPresence())
    await asyncio.gather(*list(push._tasks))
    (got,) = standin.received
    assert got.payload["body"] == "after a typing event"


def test_unread_in_the_title_counts_this_conversation_after_the_marker_only(
    db: Session,
    standin: PushServiceStandIn,
    mysql_engine: sa.Engine,
) -> None:
    """Not the message read last, not system lines, not other conversations' messages."""
    from chatapp.services import groups

    a, _sa = _user(db, "dee")
    b, sb = _user(db, "eve")
    c, _sc = _user(db, "fox")
    _subscribe(db, standin, b, sb, "eve")
    g = groups.create_group(session=db, user_id=a, name="Count", member_ids=[b]).id
    other = convs.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    read = _message_event(db, a, g, "read this")
    convs.mark_read(session=db, user_id=b, conversation_id=g, up_to_id=read["message"]["id"])
    db.commit()
    _message_event(db, a, other, "elsewhere")  # unread, in another conversation
    groups.add_members(session=db, user_id=a, conversation_id=g, member_ids=[c])  # a system line
    db.commit()
    _push(_message_event(db, a, g, "new"), LocalPresence(), mysql_engine)
    assert standin.received[-1].payload["title"] == "dee in Count"  # one new: no count


async def test_a_committed_message_is_pushed_through_the_runner(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole path: the send commits in the runner (state/db_call.py), its event is
    published on commit, and the push goes out afterwards, off the event loop."""
    from chatapp.state.db_call import db_run

    monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    await db_run(
        msgs.send_message,
        sender_id=a,
        conversation_id=conv,
        body="through the runner",
        client_id="runner-0001",
        engine=mysql_engine,
    )
    await asyncio.gather(*list(push._tasks))
    (got,) = standin.received  # (the push's task is done)
    assert got.payload["body"] == "through the runner"
    assert standin.errors == []


async def test_published_events_go_out_in_order_and_a_new_message_is_pushed(
    db: Session,
    standin: PushServiceStandIn,
    pair: tuple[int, str, int, str, int],
    mysql_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """events.publish (what the runner calls after commit, here without its thread pool): every
    collected event goes to the hub, in order, to its own users; a new message for someone
    with no open tab then goes out as a push, with the hub's presence deciding who is away."""
    from chatapp.services import events

    monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
    a, _sa, b, sb, conv = pair
    _subscribe(db, standin, b, sb, "bob")
    message = await asyncio.to_thread(_message_event, db, a, conv, "published, then pushed")
    to = message.pop("to")
    read = {"type": "read", "conv": conv, "origin": ""}

    class Hub:
        def __init__(self) -> None:
            self.presence = LocalPresence()
            self.published: list[tuple[list[int], dict[str, Any]]] = []

        async def publish(self, user_ids: list[int], event: dict[str, Any]) -> None:
            self.published.append((user_ids, event))

    hub = Hub()
    monkeypatch.setattr("chatapp.realtime.get_hub", lambda: hub)
    await events.publish([events.Outgoing(tuple(to), message), events.Outgoing((a,), read)])
    assert hub.published == [(list(to), message), ([a], read)]
    await asyncio.gather(*list(push._tasks))
    (got,) = standin.received  # (the push's task is done)
    assert got.path == "/push/bob" and got.payload["body"] == "published, then pushed"
    assert standin.errors == []


def test_not_announced_carries_the_committed_result() -> None:
    """The runner raises NotAnnounced when the bus is away after a commit; its caller still
    gets what the service returned (a send's stored message, say)."""
    from chatapp.services import events

    err = events.NotAnnounced({"id": 7})
    assert err.result == {"id": 7} and str(err) == "committed, not announced"
