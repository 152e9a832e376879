"""Web Push on MariaDB, against a local push-service stand-in (tests/support/push_standin.py)
that checks the VAPID signature and audience and decrypts each push with the browser's keys.

Subscriptions: stored per log-in session, moved (never duplicated) when a browser subscribes
again, refused for an address that is not a push service, deleted on log out, "Log out of all
devices" and a password change, and when the push service answers 404/410. Pushes: only to
recipients with no open tab, not for a muted conversation, with the text only when the person
wants it, after commit and published (the runner's path), never to the sender."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

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
from tests.support.push_standin import PushServiceStandIn, push_service

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
    sid = accounts.start_session(session=db, user_id=user.id)
    assert accounts.activate_session(session=db, ticket=sid) is not None
    db.commit()
    return user.id, sid


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
        "https://fcm.googleapis.com:8443/x",
        "https://" + "a" * 3000,
    ):
        with pytest.raises(ServiceError):
            push.save_subscription(
                session=db, user_id=a, session_id=sa_, subscription={**good, "endpoint": endpoint}
            )
    for keys in (
        {"p256dh": "abc", "auth": good["keys"]["auth"]},
        {"p256dh": good["keys"]["p256dh"]},
        {},
    ):
        with pytest.raises(ServiceError):
            push.save_subscription(
                session=db, user_id=a, session_id=sa_, subscription={**good, "keys": keys}
            )
    with pytest.raises(ServiceError):  # someone else's session
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
    assert got.headers["topic"] == f"conv-{conv}"
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
    s2 = accounts.start_session(session=db, user_id=b)
    accounts.activate_session(session=db, ticket=s2)
    db.commit()
    _subscribe(db, standin, b, sb, "gone")
    _subscribe(db, standin, b, s2, "missing")
    report = _push(_message_event(db, a, conv), LocalPresence(), mysql_engine)
    assert report.sent == 0 and len(report.removed) == 2
    assert _subs(db, b) == []


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
