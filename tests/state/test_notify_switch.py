"""The "Desktop notifications" switch's handlers on real states, the database on MariaDB: the
browser's answer to subscribe_script stores its push subscription for this tab's log-in session
(the one the server knows, never one named by the browser); a refused permission turns the
switch off; turning it off deletes the subscription; a page load re-registers the browser's
subscription under the session now signed in (another account on this browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from reflex.state import State
from sqlmodel import Session, select

import chatapp.chatapp
import chatapp.db
from chatapp.models import PushSubscription
from chatapp.services import accounts
from chatapp.settings import get_settings
from chatapp.state.notify import ON, NotifyState
from chatapp.state.session import SessionState
from tests.support.push_standin import Browser

PW = "correct horse"
ORIGIN = "http://127.0.0.1:9"  # (nothing is sent: only stored)


@pytest.fixture
def signed_in(
    db: Session, mysql_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[NotifyState, SessionState, int, str]]:
    monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
    monkeypatch.setattr(get_settings(), "push_service_hosts", ORIGIN)
    uid = accounts.sign_up(session=db, username="dora", email="d@example.com", password=PW).id
    sid = accounts.start_session(session=db, user_id=uid)
    accounts.activate_session(session=db, ticket=sid)
    db.commit()
    root = State(_reflex_internal_init=True)
    session = root.substates[SessionState.get_name()]
    session._session_id = sid

    async def current(self: SessionState) -> int:
        return uid if self._session_id else 0

    monkeypatch.setattr(SessionState, "_current_user_id", current)
    yield root.substates[NotifyState.get_name()], session, uid, sid


def call(state: NotifyState, handler: str, *args: Any) -> None:
    """Run an event handler of the state as Reflex would (its function, on this instance)."""
    result = getattr(NotifyState, handler).fn(state, *args)

    async def go() -> None:
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass
        else:
            await result

    asyncio.run(go())


def _rows(db: Session) -> list[PushSubscription]:
    db.expire_all()
    return list(db.exec(select(PushSubscription)))


def test_the_switch_stores_and_deletes_this_sessions_subscription(
    db: Session, signed_in: tuple[NotifyState, SessionState, int, str]
) -> None:
    notify, _session, uid, sid = signed_in
    browser = Browser(endpoint=f"{ORIGIN}/push/dora")
    call(notify, "subscribed", {"p": "granted", "s": browser.subscription()})
    assert notify.desktop == ON and notify.desktop_on
    assert "also when chatapp is closed" in notify.settings_note
    (row,) = _rows(db)
    assert (row.user_id, row.session_id, row.endpoint) == (uid, sid, browser.endpoint)
    call(notify, "turn_off")
    assert notify.desktop == "" and _rows(db) == []


def test_a_refused_permission_or_a_foreign_endpoint(
    db: Session, signed_in: tuple[NotifyState, SessionState, int, str]
) -> None:
    notify, *_ = signed_in
    call(notify, "subscribed", {"p": "denied"})
    assert notify.desktop == "" and "blocks notifications" in notify.settings_note
    evil = Browser(endpoint="https://attacker.example/collect").subscription()
    call(notify, "subscribed", {"p": "granted", "s": evil})
    assert notify.desktop == ON  # (notifications of an open tab still work)
    assert "not one chatapp sends to" in notify.settings_note
    assert _rows(db) == []


def test_a_page_load_re_registers_the_browsers_subscription_for_the_session(
    db: Session, signed_in: tuple[NotifyState, SessionState, int, str]
) -> None:
    notify, _session, _uid, sid = signed_in
    sub = Browser(endpoint=f"{ORIGIN}/push/dora").subscription()
    call(notify, "client_ready", {"p": "granted", "s": sub})
    assert _rows(db) == []  # the switch is off in this browser: nothing stored
    notify.desktop = ON
    call(notify, "client_ready", {"p": "granted", "s": sub})
    (row,) = _rows(db)
    assert row.session_id == sid and notify.push_key
