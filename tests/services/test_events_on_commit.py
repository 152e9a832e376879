"""Services send their real-time events on commit (services/events.py): the runner publishes
what a unit of work sent only once it committed, nothing when it rolled back; and the account
services tell the affected tabs themselves (no handler publishes by convention)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session

from chatapp.services import accounts, conversations, events, profiles
from chatapp.services.errors import ServiceError
from chatapp.state import db_call as db_call_module
from tests.services.test_chat_services import _user
from tests.support.pools import own_pool


@pytest.fixture(autouse=True)
def _runner_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The runner's work goes through a pool made in this test's process
    (tests/support/pools.py)."""
    with own_pool(monkeypatch, db_call_module):
        yield


class Hub:
    def __init__(self) -> None:
        self.published: list[tuple[list[int], dict[str, Any]]] = []

    async def publish(self, user_ids: list[int], event: dict[str, Any]) -> None:
        self.published.append((sorted(user_ids), event))


def test_revoking_a_session_tells_its_tabs(db: Session) -> None:
    a = _user(db, "alice")
    sid = accounts.start_session(session=db, user_id=a)
    db.commit()
    with events.collecting() as out:
        accounts.revoke_session(session=db, session_id=sid)
        db.commit()
    assert [(o.user_ids, o.event) for o in out] == [
        ((a,), {"type": "revoked", "only": sid, "keep": ""})
    ]


def test_logging_out_everywhere_tells_every_tab_but_the_kept_one(db: Session) -> None:
    a = _user(db, "alice")
    keep = accounts.start_session(session=db, user_id=a)
    accounts.start_session(session=db, user_id=a)
    db.commit()
    with events.collecting() as out:
        assert accounts.revoke_all_sessions(session=db, user_id=a, keep_session_id=keep) == 1
    assert [o.event for o in out] == [{"type": "revoked", "only": "", "keep": keep}]


def test_a_profile_change_goes_to_the_contacts_and_the_users_own_tabs(db: Session) -> None:
    a, b, c = _user(db, "alice"), _user(db, "bob"), _user(db, "carol")
    conversations.open_direct(session=db, user_id=a, other_user_id=b)
    db.commit()
    with events.collecting() as out:
        profiles.update_profile(session=db, user_id=a, display_name="Alice M", bio="hi")
    assert len(out) == 1
    assert sorted(out[0].user_ids) == sorted([a, b]) and c not in out[0].user_ids
    assert out[0].event == {
        "type": "person",
        "user": a,
        "title": "Alice M",
        "initials": "AM",
        "avatar": "",
        "bio": "hi",
    }


def test_the_runner_publishes_after_commit_and_never_after_a_rollback(
    monkeypatch: pytest.MonkeyPatch, mysql_engine: Any
) -> None:
    hub = Hub()
    monkeypatch.setattr("chatapp.realtime.get_hub", lambda: hub)
    monkeypatch.setattr(db_call_module, "session_scope", _scope(mysql_engine))

    def changes(*, session: Session, fail: bool) -> str:
        events.send_event_on_commit([1, 2], {"type": "read", "conv": 9, "origin": ""})
        if fail:
            raise ServiceError("refused after sending")
        return "done"

    assert asyncio.run(db_call_module.db_call(changes, fail=False)) == "done"
    assert hub.published == [([1, 2], {"type": "read", "conv": 9, "origin": ""})]
    with pytest.raises(ServiceError):
        asyncio.run(db_call_module.db_call(changes, fail=True))
    assert len(hub.published) == 1  # the rolled-back unit of work announced nothing


def test_a_failed_publish_is_reported_with_the_committed_result(
    monkeypatch: pytest.MonkeyPatch, mysql_engine: Any
) -> None:
    class AwayHub:
        async def publish(self, user_ids: list[int], event: dict[str, Any]) -> None:
            raise ConnectionError("bus away")

    monkeypatch.setattr("chatapp.realtime.get_hub", lambda: AwayHub())
    monkeypatch.setattr(db_call_module, "session_scope", _scope(mysql_engine))

    def changes(*, session: Session) -> int:
        events.send_event_on_commit([1], {"type": "read", "conv": 1, "origin": ""})
        return 42

    with pytest.raises(events.NotAnnounced) as exc:
        asyncio.run(db_call_module.db_call(changes))
    assert exc.value.result == 42


def _scope(engine: Any) -> Any:
    from chatapp.db import session_scope

    return lambda: session_scope(engine)
