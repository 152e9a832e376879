"""What a delivered message means for a tab's notifications, through the real delivery
(ChatState._apply_event, as the bridge calls it) on real Reflex states in memory: a toast only for
another conversation than the open one, a note for a hidden tab only with "Desktop
notifications" on and permission granted, nothing for one's own message, a system line, a
message announced again or a muted conversation; the title's unread total; mute events from the
user's other tabs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from reflex.state import State

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state import sidebar
from chatapp.state.chat import ChatState
from chatapp.state.notify import ON, NotifyState
from chatapp.state.view import SidebarState

ME, ANN = 1, 2
OPEN, OTHER, GROUP = 7, 8, 9


@pytest.fixture
def tab() -> tuple[ChatState, NotifyState, Any]:
    root = State(_reflex_internal_init=True)
    chat = root.substates[ChatState.get_name()]
    notify = root.substates[NotifyState.get_name()]
    sb = root.substates[SidebarState.get_name()]
    chat._uid = ME
    chat.active_id = OPEN
    chat.active = {"id": OPEN}
    rows = [
        {"id": OPEN, "title": "Ann", "peer_id": ANN, "unread": 0, "last_id": 1},
        {"id": OTHER, "title": "Bob", "peer_id": 3, "unread": 2, "last_id": 1},
        {"id": GROUP, "title": "Climbing", "peer_id": 0, "unread": 0, "last_id": 1, "group": True},
    ]
    sidebar.reset(sb, rows)  # type: ignore[arg-type]
    return chat, notify, sb


def message(conv: int, mid: int, sender: int = ANN, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "origin": "",
        "message": {
            "id": mid,
            "cid": f"c{mid:07d}",
            "conv": conv,
            "sender": sender,
            "body": f"text {mid}",
            "at": int(time.time() * 1000),
            "img": "",
            "full": "",
            "w": 0,
            "h": 0,
        },
        "sender": {"id": sender, "name": "Ann", "username": "ann", "initials": "A", "avatar": ""},
    }
    event.update(extra)
    return event


def deliver(chat: ChatState, event: dict[str, Any]) -> None:
    asyncio.run(chat._apply_event(event))  # type: ignore[arg-type]


def test_a_toast_for_another_conversation_and_the_title_count(tab: Any) -> None:
    chat, notify, sb = tab
    assert sb.unread_total == 2
    deliver(chat, message(OTHER, 10))
    assert notify.toast["conv"] == OTHER and notify.toast["body"] == "text 10"
    assert sb.unread_total == 3
    assert notify.note == []  # "Desktop notifications" is off
    first = notify.toast["id"]
    deliver(chat, message(OPEN, 11))  # the open conversation: no toast, no count
    assert notify.toast["id"] == first and sb.unread_total == 3
    group = {"title": "Climbing", "avatar": ""}
    deliver(chat, message(GROUP, 12, group=group))
    assert notify.toast["title"] == "Ann in Climbing"


def test_nothing_for_own_system_repeated_or_muted_messages(tab: Any) -> None:
    chat, notify, sb = tab
    notify.desktop, notify.permission = ON, "granted"
    deliver(chat, message(OTHER, 10, sender=ME))
    deliver(chat, message(GROUP, 11, group={"title": "Climbing", "avatar": ""}))
    assert notify.toast["conv"] == GROUP  # (the one that does notify)
    notify.toast, notify.note = {}, []
    system = message(GROUP, 12, group={"title": "Climbing", "avatar": ""})
    system["message"]["sys"] = "added"
    deliver(chat, system)
    deliver(chat, message(OTHER, 13, again=True))
    # Muted in another tab of this user: the mute event reaches this one.
    deliver(chat, {"type": "mute", "conv": OTHER, "until": int(time.time() * 1000) + 60_000})
    assert sidebar.find(sb, OTHER)[1]["muted"] > 0  # type: ignore[index]
    total = sb.unread_total
    deliver(chat, message(OTHER, 14))
    assert notify.toast == {} and notify.note == []
    assert sb.unread_total == total  # a muted conversation is not in the title
    assert sidebar.find(sb, OTHER)[1]["unread"] == 4  # type: ignore[index]  # its badge counts


def test_a_note_for_a_hidden_tab_only_with_desktop_notifications_on(tab: Any) -> None:
    chat, notify, _sb = tab
    notify.permission = "granted"
    deliver(chat, message(OTHER, 10))
    assert notify.note == []  # the switch is off in this browser
    notify.desktop = ON
    deliver(chat, message(OTHER, 11))
    (note,) = notify.note
    assert note["title"] == "Ann (4 new messages)" and note["body"] == "text 11"
    assert note["tag"] == f"conv-{OTHER}" and note["url"] == f"/c/{OTHER}"
    # In the open conversation too (the browser shows it only if the tab is hidden).
    deliver(chat, message(OPEN, 12))
    (again,) = notify.note
    assert again["id"] != note["id"] and again["tag"] == f"conv-{OPEN}"
    deliver(chat, {"type": "notify_text", "on": False})
    deliver(chat, message(OTHER, 13))
    assert notify.note[0]["body"] == "New message"
    notify.permission = "denied"
    deliver(chat, message(OTHER, 14))
    assert notify.note[0]["title"] == "Ann (5 new messages)"  # unchanged: not granted
