"""The send handler's wait for its commit: a quick commit is one update for the sending tab (the
bubble already sent, nothing in the outbox); a slow one shows the pending bubble (and the outbox
entry) first; a database known to be away is never waited for. Real Reflex states in memory; the
database, the limiter and the bus are stand-ins (the events the send sends on commit go through
the real runner's publishing, state/db_call.py)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp import realtime
from chatapp.services import events, messages
from chatapp.services.dto import MessageOut, SendResult
from chatapp.services.errors import Unavailable
from chatapp.settings import get_settings
from chatapp.state import chat as chat_module
from chatapp.state import db_call as db_call_module
from chatapp.state import sidebar
from chatapp.state.chat import ChatState
from chatapp.state.view import ArrivalState, SidebarState

UID, CONV = 1, 7
WAIT = 0.04  # SEND_COMMIT_WAIT_MS=40


class Hub:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, user_ids: list[int], event: dict[str, Any]) -> None:
        self.published.append(event)


def stored(cid: str) -> SendResult:
    m = MessageOut(
        id=42,
        conversation_id=CONV,
        sender_id=UID,
        client_id=cid,
        body="hello",
        media_ref=None,
        created_at=datetime.now(UTC),
        edited_at=None,
    )
    return SendResult(message=m, created=True, member_ids=[UID, 2])


@pytest.fixture
def tab(monkeypatch: pytest.MonkeyPatch) -> tuple[ChatState, Hub, dict[str, Any]]:
    db: dict[str, Any] = {"delay": 0.0, "error": None}

    async def db_run(fn: Any, /, **kwargs: Any) -> SendResult:
        await asyncio.sleep(db["delay"])
        if db["error"] is not None:
            raise db["error"]
        result = stored(kwargs["client_id"])
        event = messages.message_event(result.message, kwargs["sender"], origin=kwargs["origin"])
        return await db_call_module._announced(
            (result, [events.Outgoing(tuple(result.member_ids), dict(event))])
        )

    async def no_limit(fn: Any, /, **kwargs: Any) -> None:
        return None

    async def user_id(self: ChatState) -> int:
        return UID

    async def view_ready(self: ChatState, uid: int) -> None:
        return None

    hub = Hub()
    settings = get_settings().model_copy(update={"send_commit_wait_ms": int(WAIT * 1000)})
    monkeypatch.setattr(chat_module, "get_settings", lambda: settings)
    monkeypatch.setattr(chat_module, "db_run", db_run)
    monkeypatch.setattr(chat_module, "limit_call", no_limit)
    monkeypatch.setattr(chat_module, "get_hub", lambda: hub)
    monkeypatch.setattr(realtime, "get_hub", lambda: hub)
    monkeypatch.setattr(chat_module._database, "away", False)
    monkeypatch.setattr(ChatState, "_user_id", user_id)
    monkeypatch.setattr(ChatState, "_ensure_view", view_ready)
    root = State(_reflex_internal_init=True)
    chat = root.substates[ChatState.get_name()]
    sb = root.substates[SidebarState.get_name()]
    sidebar.reset(sb, [{"id": CONV, "title": "Bo", "peer_id": 2, "unread": 0}])  # type: ignore[typeddict-item]
    chat.active_id = CONV
    return chat, hub, db


async def run_send(chat: ChatState, cid: str) -> list[tuple[float, str, bool]]:
    """Send; at each update the handler yields: (seconds since the send, the bubble's status,
    whether the outbox holds it)."""
    arrivals = await chat.get_state(ArrivalState)
    t0 = time.monotonic()
    seen = []
    async for _ in chat._send("hello", cid, CONV, new=True):
        seen.append((time.monotonic() - t0, arrivals.a00.get("status"), cid in chat.outbox))
    return seen


def outbox(chat: ChatState) -> dict[str, Any]:
    return json.loads(chat.outbox)


def test_a_quick_commit_is_one_update_with_the_bubble_sent(tab: Any) -> None:
    chat, hub, _ = tab
    cid = "a" * 32
    updates = asyncio.run(run_send(chat, cid))
    assert updates == []  # no intermediate update: the handler's one delta at its end
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "sent" and arrivals.a00["id"] == 42
    assert outbox(chat) == {} and not chat._unsent
    assert len(hub.published) == 1


def test_a_slow_commit_shows_pending_and_the_outbox_entry_first(tab: Any) -> None:
    chat, hub, db = tab
    db["delay"] = 0.3
    cid = "b" * 32
    updates = asyncio.run(run_send(chat, cid))
    assert len(updates) == 1
    at, status, in_outbox = updates[0]
    assert status == "pending" and in_outbox
    assert WAIT <= at < 0.2  # after the wait, long before the commit
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "sent"
    assert outbox(chat) == {} and not chat._unsent and len(hub.published) == 1


def test_a_database_known_to_be_away_is_not_waited_for(tab: Any) -> None:
    chat, hub, db = tab
    db["delay"], db["error"] = 0.2, Unavailable()
    chat_module._database.away = True
    cid = "c" * 32
    updates = asyncio.run(run_send(chat, cid))
    assert updates[0][1] == "pending" and updates[0][2]
    assert updates[0][0] < WAIT  # at once
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "failed"
    assert cid in outbox(chat) and cid in chat._unsent and not hub.published


def test_a_quick_failure_is_shown_failed_and_kept_for_retry(tab: Any) -> None:
    chat, hub, db = tab
    db["error"] = Unavailable()
    cid = "d" * 32
    asyncio.run(run_send(chat, cid))
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "failed"
    assert cid in outbox(chat) and chat._unsent[cid]["auto"]
    assert chat_module._database.away  # the next send shows pending at once
    # Back: the retry is stored; the bubble turns sent and leaves the outbox.
    db["error"] = None
    asyncio.run(_drain(chat._send("hello", cid, CONV)))
    assert arrivals.a00["status"] == "sent" and outbox(chat) == {} and not chat._unsent
    assert not chat_module._database.away and len(hub.published) == 1


async def _drain(gen: Any) -> None:
    async for _ in gen:
        pass


def test_a_quick_send_whose_announcement_fails_stays_in_the_outbox(tab: Any) -> None:
    """Stored but not announced (the bus is away): shown sent, and kept in the outbox so that
    this tab's next connection announces it again (as for a slow send)."""
    chat, hub, _ = tab

    async def refuse(user_ids: list[int], event: dict[str, Any]) -> None:
        raise ConnectionError("bus away")

    hub.publish = refuse
    cid = "e" * 32
    asyncio.run(run_send(chat, cid))
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "sent" and cid in outbox(chat) and not chat._unsent


def test_without_a_commit_wait_pending_goes_out_at_once(tab: Any, monkeypatch: Any) -> None:
    """SEND_COMMIT_WAIT_MS=0 (the default): the pending bubble and the outbox entry reach the
    browser before the database is asked, so a crash during the write loses nothing."""
    chat, hub, db = tab
    settings = get_settings().model_copy(update={"send_commit_wait_ms": 0})
    monkeypatch.setattr(chat_module, "get_settings", lambda: settings)
    db["delay"] = 0.05
    cid = "f" * 32
    updates = asyncio.run(run_send(chat, cid))
    assert updates[0][1] == "pending" and updates[0][2]
    assert updates[0][0] < db["delay"]  # before the commit
    arrivals = chat.parent_state.substates[ArrivalState.get_name()]
    assert arrivals.a00["status"] == "sent" and outbox(chat) == {} and len(hub.published) == 1
