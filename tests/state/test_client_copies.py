"""Drafts, the outbox and the refused ids live in the browser's sessionStorage and in the tab's
server state. On a new connection the two may disagree; the newer must win. Real Reflex states
in memory, the browser modelled by what it last stored: every sessionStorage var as the last
answer that reached it left it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from reflex.istate.data import SessionData
from reflex.istate.storage import ClientStorageBase
from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state.chat import ChatState

C = 7  # the open conversation


@pytest.fixture
def chat() -> ChatState:
    root = State(_reflex_internal_init=True)
    tab = root.substates[ChatState.get_name()]
    tab.active_id = C
    _connect(tab, "first connection", _stored(tab))
    return tab


def _stored(tab: ChatState) -> dict[str, str]:
    """What the browser holds: every sessionStorage var of the tab as the server last set it."""
    return {
        name: getattr(tab, name)
        for name, field in ChatState.get_fields().items()
        if isinstance(field.default, ClientStorageBase)
    }


def _backend(tab: ChatState) -> dict[str, Any]:
    """A copy of the tab's backend vars (what a saved state holds besides the vars)."""
    names = [n for n in ChatState.__annotations__ if n.startswith("_") and not n.startswith("__")]
    return copy.deepcopy({n: vars(tab)[n] for n in names if n in vars(tab)})


def _connect(tab: ChatState, sid: str, browser: dict[str, str]) -> None:
    """A websocket connection: the browser's stored values arrive (hydrate), then the page loads."""
    tab.parent_state.rx_router_session = SessionData(session_id=sid)  # type: ignore[union-attr]
    for name, value in browser.items():
        setattr(tab, name, value)
    tab._client_copies()
    tab._store_client_copies()


def test_a_reconnect_that_missed_the_last_answer_does_not_bring_a_sent_draft_back(
    chat: ChatState,
) -> None:
    chat._set_draft(C, "and one for c")
    browser = _stored(chat)  # the browser stored the draft
    chat._set_draft(C, "")  # Send cleared it; the answer never reached the browser (cut off)
    _connect(chat, "after a reconnect", browser)
    assert chat._draft_map() == {}
    assert json.loads(_stored(chat)["drafts"]) == {}  # and the browser is told so


def test_a_reconnect_that_missed_the_last_answer_keeps_the_servers_outbox(
    chat: ChatState,
) -> None:
    entry: dict[str, Any] = {"c": C, "b": "pending one", "u": 5}
    chat._outbox_set("cid-1", entry)
    browser = _stored(chat)
    chat._outbox_set("cid-1", None)  # confirmed stored; the answer was lost
    chat._outbox_set("cid-2", {**entry, "b": "pending two"})
    _connect(chat, "after a reconnect", browser)
    assert chat._outbox_map() == {"cid-2": {**entry, "b": "pending two"}}


def test_a_reconnect_that_missed_a_refusal_still_knows_it_was_refused(chat: ChatState) -> None:
    browser = _stored(chat)
    chat._refuse_id("cid-refused")
    _connect(chat, "after a reconnect", browser)
    assert "cid-refused" in chat._refused


def test_the_browsers_copies_win_over_an_older_server_state(chat: ChatState) -> None:
    """A process that died after answering (its state saved earlier, or not at all): the browser
    holds the newer copies."""
    chat._set_draft(C, "first words")
    saved = _backend(chat)
    chat._set_draft(C, "first words and more")
    chat._outbox_set("cid-3", {"c": C, "b": "in flight", "u": 5})
    browser = _stored(chat)
    for name in _backend(chat):  # the server state as it was saved before those
        if name in saved:
            setattr(chat, name, saved[name])
        else:
            delattr(chat, name)
    _connect(chat, "after a restart", browser)
    assert chat._draft_map() == {str(C): "first words and more"}
    assert set(chat._outbox_map()) == {"cid-3"}


def test_a_new_tab_state_takes_the_browsers_copies(chat: ChatState) -> None:
    chat._set_draft(C, "kept across a restart")
    browser = _stored(chat)
    fresh = State(_reflex_internal_init=True).substates[ChatState.get_name()]
    _connect(fresh, "a new process", browser)
    assert fresh._draft_map() == {str(C): "kept across a restart"}
