"""Changes to shown messages (edit, deletion, reaction) in a tab, without a browser: each costs
one small var whatever history is loaded (an arrival slot, or a patch var for a history
bubble), the bubble keeps its place, and a tab back from being away knows where to ask from."""

from __future__ import annotations

from typing import Any

from chatapp.state import timeline
from chatapp.state.view import N_PATCHES, N_SLOTS, OPEN_PAGE, page_name, patch_name, slot_name
from tests.state.test_view_logic import CLOCK, StateStandIn, wire


def states() -> tuple[StateStandIn, StateStandIn]:
    history = StateStandIn(**{page_name(i): [] for i in range(timeline.N_PAGES)})
    arrivals = StateStandIn(
        **{slot_name(i): {} for i in range(N_SLOTS)},
        **{patch_name(i): {} for i in range(N_PATCHES)},
    )
    history.take()
    arrivals.take()
    return history, arrivals


def opened(n: int) -> tuple[timeline.Cursor, StateStandIn, StateStandIn]:
    history, arrivals = states()
    cur = timeline.Cursor()
    views = []
    prev_at, prev_sender = 0, 0
    for i in range(1, n + 1):
        v = timeline.view_of(
            wire(i), viewer=1, clock=CLOCK, prev_at=prev_at, prev_sender=prev_sender
        )
        views.append(v)
        prev_at, prev_sender = v["at"], v["sender"]
    timeline.show_page(cur, history, views)
    history.take()
    return cur, history, arrivals


def edited(i: int, body: str) -> Any:
    return {**wire(i), "body": body, "edited": True}


def test_an_edit_deep_in_history_is_one_patch_var() -> None:
    cur, history, arrivals = opened(50)
    old = timeline.current(cur, history, arrivals, wire(3)["cid"], 3)
    assert old is not None and old["body"] == "message 3"
    new = timeline.changed(old, edited(3, "fixed"), {"👍": [1, 2]}, viewer=1)
    timeline.replace(cur, history, arrivals, new)
    assert history.take() == [] and arrivals.take() == [patch_name(0)]
    shown = timeline.current(cur, history, arrivals, wire(3)["cid"], 3)
    assert shown is not None
    assert shown["body"] == "fixed" and shown["edited"]
    assert shown["rx"] == [{"e": "👍", "n": 2, "mine": True}]
    assert shown["first"] == old["first"] and shown["day"] == old["day"]  # same place
    # A second change to it reuses its patch var.
    again = timeline.changed(shown, {**wire(3), "deleted": True, "body": ""}, {}, viewer=1)
    timeline.replace(cur, history, arrivals, again)
    assert arrivals.take() == [patch_name(0)]
    final = timeline.current(cur, history, arrivals, wire(3)["cid"], 3)
    assert final is not None and final["deleted"] and "rx" not in final and "edited" not in final


def test_a_change_to_an_arrived_message_rewrites_its_slot() -> None:
    cur, history, arrivals = opened(5)
    v = timeline.view_of(wire(6), viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
    timeline.put(cur, history, arrivals, v)
    arrivals.take()
    new = timeline.changed(v, edited(6, "better"), {}, viewer=1)
    timeline.replace(cur, history, arrivals, new)
    assert arrivals.take() == [slot_name(0)] and history.take() == []


def test_when_the_patch_vars_run_out_the_oldest_goes_into_its_page() -> None:
    cur, history, arrivals = opened(N_PATCHES + 10)
    for i in range(1, N_PATCHES + 1):
        old = timeline.current(cur, history, arrivals, wire(i)["cid"], i)
        assert old is not None
        timeline.replace(cur, history, arrivals, timeline.changed(old, edited(i, f"e{i}"), {}, 1))
    history.take()
    arrivals.take()
    i = N_PATCHES + 1
    old = timeline.current(cur, history, arrivals, wire(i)["cid"], i)
    assert old is not None
    timeline.replace(cur, history, arrivals, timeline.changed(old, edited(i, "last"), {}, 1))
    # Every patch of that page went into it in one frame, and their vars were freed.
    assert history.take() == [page_name(OPEN_PAGE)]
    assert arrivals.take() == [*(patch_name(i) for i in range(N_PATCHES)), patch_name(0)]
    first = timeline.current(cur, history, arrivals, wire(1)["cid"], 1)
    assert first is not None and first["body"] == "e1"  # still shown as changed
    # The next changes take free patch vars again: one var each, no page.
    for i in range(N_PATCHES + 2, N_PATCHES + 6):
        old = timeline.current(cur, history, arrivals, wire(i)["cid"], i)
        assert old is not None
        timeline.replace(cur, history, arrivals, timeline.changed(old, edited(i, "x"), {}, 1))
        assert history.take() == [] and len(arrivals.take()) == 1


def test_a_message_not_shown_is_not_patched() -> None:
    cur, history, arrivals = opened(5)
    assert timeline.current(cur, history, arrivals, "nope-0000", 99) is None


def test_catch_up_starts_below_the_oldest_remembered_message() -> None:
    cur, history, arrivals = opened(50)
    assert timeline.catch_up_from(cur, history, arrivals) == 0  # ids 1..50 remembered: from 0
    empty = timeline.Cursor()
    h2, a2 = states()
    assert timeline.catch_up_from(empty, h2, a2) == 0
    cur2, history2, arrivals2 = opened(50)
    for i in range(51, 51 + 40):  # arrivals; the slots fold into a page when full
        v = timeline.view_of(wire(i), viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
        timeline.put(cur2, history2, arrivals2, v)
    start = timeline.catch_up_from(cur2, history2, arrivals2)
    assert 0 < start < 51
    # Everything above it is recognised by its client id.
    for i in range(start + 1, 91):
        assert timeline.is_shown(cur2, wire(i)), i


def _reply(i: int, to: int) -> Any:
    quote = {"id": to, "name": "bob", "body": f"message {to}", "img": False, "deleted": False}
    return {**wire(i), "reply": quote}


def test_quotes_of_a_deleted_or_edited_message_change_live() -> None:
    """A reply shows an excerpt of the message it quotes: when that message is deleted, every
    shown quote of it says so at once (its text must not stay readable there), and an edit
    shows the new text; a quote in history costs a patch var, one in an arrival slot its slot."""
    history, arrivals = states()
    cur = timeline.Cursor()
    page = [
        timeline.view_of(m, viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
        for m in [*(wire(i) for i in range(1, 11)), _reply(11, 3)]
    ]
    timeline.show_page(cur, history, page)
    new_reply = timeline.view_of(_reply(12, 3), viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
    timeline.put(cur, history, arrivals, new_reply)
    timeline.view_of(_reply(13, 4), viewer=1, clock=CLOCK, prev_at=0, prev_sender=0)
    history.take(), arrivals.take()

    quoting = timeline.quoting(cur, history, arrivals, 3)
    assert sorted(v["id"] for v in quoting) == [11, 12]
    for v in quoting:
        timeline.replace(cur, history, arrivals, timeline.requoted(v, {**wire(3), "deleted": True}))
    assert history.take() == []
    assert sorted(arrivals.take()) == sorted([patch_name(0), slot_name(0)])
    for i in (11, 12):
        shown = timeline.current(cur, history, arrivals, wire(i)["cid"], i)
        assert shown is not None
        assert shown["reply"]["deleted"] and shown["reply"]["body"] == ""
        assert shown["reply"]["name"] == "bob" and shown["reply"]["id"] == 3

    edited_4 = timeline.requoted(
        _reply(20, 4) | {"cid": "x", "key": "cx"}, edited(4, "  new\n text ")
    )
    assert edited_4["reply"]["body"] == "new text" and not edited_4["reply"]["deleted"]
    assert timeline.requoted(_reply(21, 4), edited(4, "y" * 500))["reply"]["body"].endswith("…")
