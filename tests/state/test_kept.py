"""What the browser kept when Send was pressed (KEEP_UNSENT_JS) and how the next connection
treats it (ChatState.flush_outbox). Real Reflex states in memory; the database is a stand-in."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state import chat as chat_module
from chatapp.state.chat import ChatState
from chatapp.state.session import SessionState

UID = 5
replies: list[int] = []  # the reply_to of each send, in order


@pytest.fixture
def tab(monkeypatch: pytest.MonkeyPatch) -> tuple[ChatState, list[tuple[str, str, int]]]:
    sent: list[tuple[str, str, int]] = []
    replies.clear()

    async def user_id(self: ChatState) -> int:
        return UID

    async def db_call(fn: Any, /, **kwargs: Any) -> list[Any]:
        return []  # nothing of these was stored

    async def fake_send(self: ChatState, body: str, cid: str, conv: int, **kw: Any):  # type: ignore[no-untyped-def]
        sent.append((cid, body, conv))
        replies.append(int(kw.get("reply_to", 0)))
        yield None

    monkeypatch.setattr(ChatState, "_user_id", user_id)
    monkeypatch.setattr(ChatState, "_send", fake_send)
    monkeypatch.setattr(chat_module, "db_call", db_call)
    root = State(_reflex_internal_init=True)
    chat = root.substates[ChatState.get_name()]
    root.substates[SessionState.get_name()].username = "bob"
    chat._copies_conn = "an earlier connection"  # this one's browser values are read afresh
    return chat, sent


def _flush(chat: ChatState) -> None:
    async def run() -> None:
        async for _ in chat.flush_outbox():  # type: ignore[attr-defined]
            pass

    asyncio.run(run())


def _kept(**entries: dict[str, Any]) -> str:
    return json.dumps(entries)


def test_what_this_user_kept_is_sent_again(tab: Any) -> None:
    chat, sent = tab
    chat.kept = _kept(c1aaaaaaaaaa={"c": 3, "b": "hello", "m": "", "u": "bob"})
    _flush(chat)
    assert sent == [("c1aaaaaaaaaa", "hello", 3)]


def test_a_kept_reply_is_sent_again_as_a_reply(tab: Any) -> None:
    """The browser keeps the id of the message a reply answers (and so does the outbox): sent
    again after a crash, it still quotes it."""
    chat, sent = tab
    chat.kept = _kept(c5aaaaaaaaaa={"c": 3, "b": "yes!", "m": "", "u": "bob", "r": 41})
    chat.outbox = json.dumps(
        {"c6aaaaaaaaaa": {"c": 3, "b": "and this", "m": "", "u": UID, "r": 42}}
    )
    _flush(chat)
    assert sorted(zip([c for c, _, _ in sent], replies, strict=True)) == [
        ("c5aaaaaaaaaa", 41),
        ("c6aaaaaaaaaa", 42),
    ]
    assert "r: Number(d.reply) || 0" in chat_module.KEEP_UNSENT_JS


def test_another_accounts_kept_messages_are_never_sent(tab: Any) -> None:
    """sessionStorage outlives a log-out in the tab: alice's kept message must not go out as
    bob's after bob logs in there (nor alice's outbox entries)."""
    chat, sent = tab
    chat.kept = _kept(
        c2aaaaaaaaaa={"c": 3, "b": "alice's", "m": "", "u": "alice"},
        c3aaaaaaaaaa={"c": 3, "b": "no owner", "m": ""},
    )
    chat.outbox = json.dumps({"c4aaaaaaaaaa": {"c": 3, "b": "alice's too", "m": "", "u": 99}})
    _flush(chat)
    assert sent == []


def test_a_refused_message_is_not_sent_from_the_kept_copy(tab: Any) -> None:
    """Refused with its text given back to the composer (or discarded): the person decides
    again; the kept copy must not go out by itself later."""
    chat, sent = tab
    chat.kept = _kept(c5aaaaaaaaaa={"c": 3, "b": "too fast", "m": "", "u": "bob"})
    chat._refuse_id("c5aaaaaaaaaa")
    assert "c5aaaaaaaaaa" in json.loads(chat.refused)  # (remembered by the browser too)
    _flush(chat)
    assert sent == []


def _event(mid: int, cid: str, *, again: bool = False) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "origin": "another tab",
        "message": {
            "id": mid, "cid": cid, "conv": 3, "sender": 8, "body": f"m{mid}",
            "at": 1_700_000_000_000 + mid, "img": "", "full": "", "w": 0, "h": 0,
        },
        "sender": {"id": 8, "name": "Ann", "username": "ann", "initials": "A", "avatar": ""},
    }  # fmt: skip
    if again:
        event["again"] = True
    return event


def test_a_message_announced_again_is_not_counted_again(tab: Any) -> None:
    """A sender's reconnecting tab announces again what it sent in the last minutes (the
    process that stored it may have died before announcing it). A recipient that already got
    it, and something newer since, must not count it as unread again; one that never got it
    and has nothing newer shows it as new."""
    from chatapp.state import sidebar
    from chatapp.state.view import SidebarState

    chat, _ = tab
    chat._uid = UID
    sb = chat.parent_state.substates[SidebarState.get_name()]
    sidebar.reset(sb, [{"id": 3, "title": "Ann", "peer_id": 8, "unread": 0, "last_id": 0}])  # type: ignore[typeddict-item]

    def unread() -> int:
        found = sidebar.find(sb, 3)
        assert found is not None
        return int(found[1]["unread"])

    asyncio.run(chat._apply_event(_event(10, "c10aaaaaaaaa")))  # type: ignore[arg-type]
    asyncio.run(chat._apply_event(_event(11, "c11aaaaaaaaa")))  # type: ignore[arg-type]
    assert unread() == 2
    asyncio.run(chat._apply_event(_event(10, "c10aaaaaaaaa", again=True)))  # type: ignore[arg-type]
    asyncio.run(chat._apply_event(_event(11, "c11aaaaaaaaa", again=True)))  # type: ignore[arg-type]
    assert unread() == 2
    asyncio.run(chat._apply_event(_event(12, "c12aaaaaaaaa", again=True)))  # type: ignore[arg-type]
    assert unread() == 3
