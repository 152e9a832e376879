"""A conversation muted for 8 hours: once the mute has ended, the next message shows an
ordinary (not grey) badge and counts in the tab title again, without a reload. Real Reflex
states in memory."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state import sidebar
from chatapp.state.chat import ChatState

ME, BOB, CONV = 5, 6, 40


def _row(muted_until: int) -> dict[str, Any]:
    return {
        "id": CONV,
        "title": "bob",
        "peer_id": BOB,
        "peer_username": "bob",
        "initials": "B",
        "avatar": "",
        "online": False,
        "last_seen": 0,
        "preview": "",
        "when": "",
        "last_id": 1,
        "unread": 2,
        "group": False,
        "muted": muted_until,
    }


def _event(message_id: int) -> Any:
    return {
        "type": "message",
        "origin": "",
        "message": {
            "id": message_id,
            "cid": f"cid-{message_id:08d}",
            "conv": CONV,
            "sender": BOB,
            "body": "are you there?",
            "at": int(time.time() * 1000),
            "img": "",
            "full": "",
            "w": 0,
            "h": 0,
        },
        "sender": {"id": BOB, "name": "bob", "username": "bob", "initials": "B", "avatar": ""},
    }


def _after_a_message(muted_until: int) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        root = State(_reflex_internal_init=True)
        chat = root.substates[ChatState.get_name()]
        history, arrivals, sb = await chat._views()
        sidebar.insert_top(sb, _row(muted_until))  # type: ignore[arg-type]
        await chat._apply_message(_event(2), ME, history, arrivals, sb)
        found = sidebar.find(sb, CONV)
        assert found is not None
        return dict(found[1])

    return asyncio.run(run())


def test_a_message_after_the_mute_ended_unmutes_the_row() -> None:
    ended = int(time.time() * 1000) - 60_000
    row = _after_a_message(ended)
    assert row["muted"] == 0 and row["unread"] == 3


def test_a_message_during_the_mute_keeps_it() -> None:
    until = int(time.time() * 1000) + 3_600_000
    row = _after_a_message(until)
    assert row["muted"] == until and row["unread"] == 3
