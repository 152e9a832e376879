"""The load tool's browser tab (bench/tabs.py) reads chatapp's updates as the browser does:
which message arrived live, which by catch-up, what it keeps in client storage, what it queues
while offline. Fed hand-made updates; no server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.db import BenchUser
from bench.tabs import ARRIVALS, CHAT_STATE, HISTORY, KEPT, OUTBOX, ChatappTab, Tab

ME, PEER = BenchUser(1, "me", "t1"), BenchUser(2, "peer", "t2")


class Sink:
    def __init__(self) -> None:
        self.live: list[str] = []
        self.caught_up: list[str] = []
        self.confirmed_cids: list[str] = []
        self.twice: list[str] = []
        self.errors: list[str] = []

    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        self.live.append(item["cid"])

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        self.confirmed_cids.append(item["cid"])

    def error(self, tab: Tab, what: str) -> None:
        self.errors.append(what)

    def recovered(self, tab: Tab, item: dict[str, Any]) -> None:
        self.caught_up.append(item["cid"])

    def shown_twice(self, tab: Tab, cid: str) -> None:
        self.twice.append(cid)


def bubble(cid: str, sender: int, status: str = "sent", mid: int = 1) -> dict[str, Any]:
    return {"key": f"c{cid}", "cid": cid, "id": mid, "sender": sender, "status": status}


def update(tab: ChatappTab, delta: dict[str, Any]) -> None:
    tab._on_event("event", {"delta": delta, "events": []}, 100)


@pytest.fixture
def tab() -> tuple[ChatappTab, Sink]:
    sink = Sink()
    t = ChatappTab(index=0, user=ME, peer=PEER, port=1, sink=sink, reconnect=True)
    t._replay = False  # past the hydrate of the first connection
    return t, sink


def test_arrival_slot_is_live_and_a_rebuilt_page_is_catch_up(tab: tuple[ChatappTab, Sink]) -> None:
    t, sink = tab
    update(t, {ARRIVALS: {"a00_rx_state_": bubble("x1", PEER.id)}})
    # A rebuild (reconnect): the page shows x1 again (not new) and x2, which was missed.
    update(
        t,
        {
            ARRIVALS: {"a00_rx_state_": {}},
            HISTORY: {"p50_rx_state_": [bubble("x1", PEER.id), bubble("x2", PEER.id, mid=2)]},
        },
    )
    assert sink.live == ["x1"]
    assert sink.caught_up == ["x2"]
    assert sink.twice == []


def test_the_hydrate_replay_is_not_live(tab: tuple[ChatappTab, Sink]) -> None:
    t, sink = tab
    t._replay = True  # the first update of a new connection: the whole state
    update(t, {ARRIVALS: {"a03_rx_state_": bubble("x9", PEER.id)}})
    assert sink.live == [] and sink.caught_up == ["x9"]


def test_a_message_on_screen_twice_is_reported(tab: tuple[ChatappTab, Sink]) -> None:
    t, sink = tab
    update(t, {HISTORY: {"p50_rx_state_": [bubble("m1", ME.id)]}})
    update(t, {ARRIVALS: {"a00_rx_state_": bubble("m1", ME.id, status="pending")}})
    assert sink.twice == ["m1"]


def test_own_status_changes_and_moves_between_slots(tab: tuple[ChatappTab, Sink]) -> None:
    t, sink = tab
    update(t, {ARRIVALS: {"a00_rx_state_": bubble("m1", ME.id, status="pending")}})
    update(t, {ARRIVALS: {"a00_rx_state_": bubble("m1", ME.id, status="sent")}})
    # A fold moves it into a page: nothing new is shown, nothing twice.
    update(t, {ARRIVALS: {"a00_rx_state_": {}}, HISTORY: {"p51_rx_state_": [bubble("m1", ME.id)]}})
    assert sink.confirmed_cids == ["m1"]
    assert sink.twice == [] and sink.live == [] and sink.caught_up == []


def test_client_storage_is_kept_for_the_next_hydrate(tab: tuple[ChatappTab, Sink]) -> None:
    t, _ = tab
    box = json.dumps({"m1": {"c": 3, "b": "hi", "m": ""}})
    update(t, {CHAT_STATE: {"outbox_rx_state_": box, "drafts_rx_state_": '{"3":"typing"}'}})
    assert t.storage[OUTBOX] == box
    assert t.storage[f"{CHAT_STATE}.drafts_rx_state_"] == '{"3":"typing"}'
    assert t.outbox() == {"m1": {"c": 3, "b": "hi", "m": ""}}


def test_sends_while_offline_are_queued(tab: tuple[ChatappTab, Sink]) -> None:
    t, _ = tab
    assert t.offline  # never connected
    t.send("bench m2 0 x", "m2")
    t.emit("resend", {"client_id": "m1"})
    ids = [e["payload"].get("client_id") or e["payload"]["form"]["cid"] for e in t._queue]
    assert ids == ["m2", "m1"]
    assert "m2" in t.storage[KEPT]  # kept by the browser when Send was pressed
    assert t.queued == 2


OTHER = BenchUser(3, "other", "t3")  # a third member of the group


def test_group_messages_and_system_lines(tab: tuple[ChatappTab, Sink]) -> None:
    """A group's messages arrive as direct ones do (an arrival slot; the first bubble of a run
    carries the sender's name and avatar). A system line names its actor as sender but is
    delivered to every member, the actor included: never taken for one's own message."""
    t, sink = tab
    first = {**bubble("g1", OTHER.id), "name": "other", "initials": "OT", "avatar": ""}
    update(t, {ARRIVALS: {"a00_rx_state_": first}})
    update(t, {ARRIVALS: {"a01_rx_state_": bubble("g2", PEER.id, mid=2)}})
    update(t, {ARRIVALS: {"a02_rx_state_": bubble("g3", ME.id, status="sent", mid=3)}})
    line = {**bubble("sys-1", ME.id, mid=4), "sys": True, "mine": False}
    update(t, {ARRIVALS: {"a03_rx_state_": line}})
    assert sink.live == ["g1", "g2", "sys-1"]
    assert sink.confirmed_cids == ["g3"]
    # Opened again: the page holds the same four (nothing new, nothing twice) and an older
    # system line by me, shown for the first time: caught up, not a confirmation.
    older = {**bubble("sys-0", ME.id, mid=0), "sys": True, "mine": False}
    page = [older, first, bubble("g2", PEER.id, mid=2), bubble("g3", ME.id, mid=3), line]
    update(
        t, {ARRIVALS: {f"a0{i}_rx_state_": {} for i in range(4)}, HISTORY: {"p50_rx_state_": page}}
    )
    assert sink.caught_up == ["sys-0"]
    assert sink.confirmed_cids == ["g3"]
    assert sink.twice == []


def test_an_arrival_folded_in_by_the_same_update_is_live(tab: tuple[ChatappTab, Sink]) -> None:
    """Messages that queued up for a tab reach it in one update; when the arrival slots run out
    among them, the update folds the slots into a newer page (p51…), and the last ones may be
    shown there first: delivered live, not caught up. (The opened page p50 and older pages are
    written by a rebuild: catch-up.)"""
    t, sink = tab
    update(t, {ARRIVALS: {"a00_rx_state_": bubble("f1", PEER.id)}})
    folded = [bubble("f1", PEER.id), bubble("f2", PEER.id, mid=2)]
    update(t, {ARRIVALS: {"a00_rx_state_": {}}, HISTORY: {"p51_rx_state_": folded}})
    update(t, {HISTORY: {"p50_rx_state_": [bubble("f0", PEER.id, mid=0)]}})
    assert sink.live == ["f1", "f2"]
    assert sink.caught_up == ["f0"]
    assert sink.twice == []
