"""How bus events reach a tab's state (chatapp/state/bridge.py): several events that queued up
for one tab are shown in one state update, in order; a sign-out among them keeps its place; an
event that cannot be shown costs the tab nothing else. Real Reflex states in memory; the app,
the hub and the read markers are stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state import bridge, hashing, sidebar
from chatapp.state.chat import ChatState
from chatapp.state.view import ArrivalState, SidebarState

UID, CONV, TOKEN = 5, 3, "tab-1"


class FakeApp:
    event_namespace = None

    def __init__(self, root: State) -> None:
        self.root = root
        self.updates = 0  # app.modify_state calls: one state update (delta, frame) each

    @contextlib.asynccontextmanager
    async def modify_state(self, token: Any) -> AsyncIterator[State]:
        self.updates += 1
        yield self.root

    def register_lifespan_task(self, task: Any) -> None:
        pass

    def add_middleware(self, middleware: Any) -> None:
        pass


class FakeHub:
    def __init__(self) -> None:
        self.attached: dict[str, Any] = {}

    def attach(self, deliver: Any, is_connected: Any, *args: Any, **kwargs: Any) -> None:
        self.attached = {"deliver": deliver, **kwargs}


class Marks:
    def __init__(self) -> None:
        self.added: list[tuple[int, int, int, str]] = []

    def add(self, user_id: int, conversation_id: int, message_id: int, origin: str) -> None:
        self.added.append((user_id, conversation_id, message_id, origin))


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeApp, FakeHub, Marks, State]:
    hub, marks = FakeHub(), Marks()
    monkeypatch.setattr(bridge, "get_hub", lambda: hub)
    monkeypatch.setattr(bridge, "read_marks", marks)
    monkeypatch.setattr(hashing, "set_liveness", lambda _fn: None)
    root = State(_reflex_internal_init=True)
    chat = root.substates[ChatState.get_name()]
    chat._uid = UID
    chat.active_id = CONV  # the group is open in this tab
    sb = root.substates[SidebarState.get_name()]
    sidebar.reset(sb, [{"id": CONV, "title": "G", "peer_id": 0, "unread": 0, "last_id": 0}])  # type: ignore[typeddict-item]
    app = FakeApp(root)
    bridge.install(app)  # type: ignore[arg-type]
    return app, hub, marks, root


def _message(mid: int) -> dict[str, Any]:
    return {
        "type": "message",
        "origin": "another tab",
        "message": {
            "id": mid, "cid": f"c{mid}aaaaaaaaa", "conv": CONV, "sender": 8, "body": f"m{mid}",
            "at": 1_700_000_000_000 + mid, "img": "", "full": "", "w": 0, "h": 0,
        },
        "sender": {"id": 8, "name": "Ann", "username": "ann", "initials": "A", "avatar": ""},
        "group": {"title": "G", "avatar": ""},
    }  # fmt: skip


def _slots(root: State) -> list[str]:
    arrivals = root.substates[ArrivalState.get_name()]
    return [v["cid"] for i in range(4) if (v := getattr(arrivals, f"a{i:02d}"))]


def test_queued_events_are_shown_in_one_update_in_order(wired: Any) -> None:
    app, hub, marks, root = wired
    many = hub.attached["deliver_many"]
    bad = {"type": "message", "origin": "x"}  # (no message in it: cannot be shown)
    # A sign-out that does not concern this tab's session keeps its place between the others.
    revoked = {"type": "revoked", "only": "another session", "keep": ""}
    asyncio.run(many(TOKEN, [_message(10), revoked, _message(11), bad, _message(12)]))
    assert app.updates == 3  # [10], the sign-out, [11, (bad), 12]
    assert _slots(root) == ["c10aaaaaaaaa", "c11aaaaaaaaa", "c12aaaaaaaaa"]
    assert marks.added == [(UID, CONV, mid, TOKEN) for mid in (10, 11, 12)]
    found = sidebar.find(root.substates[SidebarState.get_name()], CONV)
    assert found is not None and found[1]["last_id"] == 12


def test_one_event_is_one_update(wired: Any) -> None:
    app, hub, marks, root = wired
    asyncio.run(hub.attached["deliver"](TOKEN, _message(20)))
    assert app.updates == 1
    assert _slots(root) == ["c20aaaaaaaaa"]
    assert marks.added == [(UID, CONV, 20, TOKEN)]
