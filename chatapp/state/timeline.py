"""The open conversation's messages as a tab shows them: history pages plus arrival slots.

Pure bookkeeping over the view states (state/view.py); ChatState owns the cursor (which pages
and slots are in use) in backend vars and calls these functions with its states locked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatapp.services.dto import MessageOut
from chatapp.state.timefmt import Clock
from chatapp.state.view import N_PAGES, N_SLOTS, OPEN_PAGE, page_name, slot_name
from chatapp.wire import MessageView, Status, WireMessage
from chatapp.wire import message as wire_message

FOLDED_MEMORY = 2 * N_SLOTS


def view_of(
    m: WireMessage,
    *,
    viewer: int,
    clock: Clock,
    prev_at: int,
    prev_sender: int,
    status: Status = "sent",
    error: str = "",
) -> MessageView:
    """A bubble, labelled against the message shown just before it (day separator, avatar)."""
    new_day = not prev_at or clock.day_key(prev_at) != clock.day_key(m["at"])
    return {
        "key": f"c{m['cid']}",
        "id": m["id"],
        "cid": m["cid"],
        "sender": m["sender"],
        "mine": m["sender"] == viewer,
        "body": m["body"],
        "at": m["at"],
        "time": clock.time(m["at"]),
        "day": clock.day_label(m["at"]) if new_day else "",
        "first": new_day or m["sender"] != prev_sender,
        "status": status,
        "error": error,
        "img": m["img"],
        "full": m["full"],
        "w": m["w"],
        "h": m["h"],
    }


def views_of(
    items: list[MessageOut], *, viewer: int, clock: Clock, prev_at: int, prev_sender: int
) -> list[MessageView]:
    out: list[MessageView] = []
    for m in items:
        v = view_of(
            wire_message(m), viewer=viewer, clock=clock, prev_at=prev_at, prev_sender=prev_sender
        )
        out.append(v)
        prev_at, prev_sender = v["at"], v["sender"]
    return out


@dataclass
class Cursor:
    """Which pages and slots of a tab are in use (kept in ChatState's backend vars)."""

    pages_used: list[int] = field(default_factory=list)
    older_next: int = OPEN_PAGE - 1
    newer_next: int = OPEN_PAGE + 1
    slots_used: int = 0
    slot_of: dict[str, int] = field(default_factory=dict)  # client id -> slot (-1: folded)
    newest_id: int = 0  # newest stored message id shown in the pages
    last_at: int = 0  # the last bubble shown: what the next one is labelled against
    last_sender: int = 0

    def dump(self) -> dict[str, Any]:
        return {
            "pages_used": list(self.pages_used),
            "older_next": self.older_next,
            "newer_next": self.newer_next,
            "slots_used": self.slots_used,
            "slot_of": dict(self.slot_of),
            "newest_id": self.newest_id,
            "last_at": self.last_at,
            "last_sender": self.last_sender,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Cursor:
        return cls(**data) if data else cls()


def clear_all(history: Any, arrivals: Any) -> None:
    """Every page and slot var, whatever the browser may still show (a rebuilt state)."""
    for i in range(N_PAGES):
        setattr(history, page_name(i), [])
    for i in range(N_SLOTS):
        setattr(arrivals, slot_name(i), {})


def clear(cur: Cursor, history: Any, arrivals: Any) -> Cursor:
    """Empty the view (only the vars in use are touched, so only they go on the wire)."""
    for i in cur.pages_used:
        setattr(history, page_name(i), [])
    for i in range(cur.slots_used):
        setattr(arrivals, slot_name(i), {})
    return Cursor()


def show_page(cur: Cursor, history: Any, items: list[MessageView]) -> None:
    """The newest page, when a conversation is opened."""
    setattr(history, page_name(OPEN_PAGE), items)
    cur.pages_used.append(OPEN_PAGE)
    if items:
        cur.newest_id = max(v["id"] for v in items)
        cur.last_at, cur.last_sender = items[-1]["at"], items[-1]["sender"]


def prepend_older(cur: Cursor, history: Any, items: list[MessageView]) -> None:
    if not items:
        return
    if cur.older_next >= 0:
        setattr(history, page_name(cur.older_next), items)
        cur.pages_used.append(cur.older_next)
        cur.older_next -= 1
    else:
        # Out of pages (thousands of messages loaded): the oldest page grows.
        first = page_name(0)
        setattr(history, first, [*items, *getattr(history, first)])


def is_shown(cur: Cursor, m: WireMessage) -> bool:
    return m["cid"] in cur.slot_of or (0 < m["id"] <= cur.newest_id)


def _fold(cur: Cursor, history: Any, arrivals: Any) -> None:
    """Slots are full: move the settled ones into the next newer page (one frame of at most
    N_SLOTS bubbles) and re-place the unsettled ones (at most MAX_UNSENT, see ChatState)."""
    settled: list[Any] = []
    unsettled: list[Any] = []
    for i in range(cur.slots_used):
        v = dict(getattr(arrivals, slot_name(i)))
        (settled if v.get("status") == "sent" else unsettled).append(v)
    if cur.newer_next < N_PAGES:
        setattr(history, page_name(cur.newer_next), settled)
        cur.pages_used.append(cur.newer_next)
        cur.newer_next += 1
    else:
        # Hundreds arrived while the conversation stayed open: the newest page grows.
        last = page_name(N_PAGES - 1)
        setattr(history, last, [*getattr(history, last), *settled])
    # Remember recently folded ones (a late duplicate delivery is still recognised), not all.
    keep = set([c for c, s in cur.slot_of.items() if s == -1][-FOLDED_MEMORY:])
    cur.slot_of = {c: s for c, s in cur.slot_of.items() if s != -1 or c in keep}
    for v in settled:
        cur.slot_of[v["cid"]] = -1
    for i in range(cur.slots_used):
        setattr(arrivals, slot_name(i), unsettled[i] if i < len(unsettled) else {})
    for i, v in enumerate(unsettled):
        cur.slot_of[v["cid"]] = i
    cur.slots_used = len(unsettled)


def put(cur: Cursor, history: Any, arrivals: Any, view: MessageView) -> None:
    """Show a new bubble, or update the one with the same client id."""
    slot = cur.slot_of.get(view["cid"])
    if slot is not None and slot >= 0:
        old = getattr(arrivals, slot_name(slot))
        # Keep the labels it was first shown with (its neighbours have not changed).
        setattr(
            arrivals, slot_name(slot), {**view, "day": old.get("day"), "first": old.get("first")}
        )
        return
    if slot == -1:
        return  # already folded into a page as sent: nothing changes
    if cur.slots_used >= N_SLOTS:
        _fold(cur, history, arrivals)
    slot = cur.slots_used
    setattr(arrivals, slot_name(slot), view)
    cur.slot_of[view["cid"]] = slot
    cur.slots_used += 1
    cur.last_at, cur.last_sender = view["at"], view["sender"]


def get(cur: Cursor, arrivals: Any, cid: str) -> dict[str, Any] | None:
    slot = cur.slot_of.get(cid)
    if slot is None or slot < 0:
        return None
    return dict(getattr(arrivals, slot_name(slot)))


def drop(cur: Cursor, arrivals: Any, cid: str) -> None:
    """Take an unsent bubble away (refused before it was stored): later slots move up."""
    slot = cur.slot_of.pop(cid, None)
    if slot is None or slot < 0:
        return
    for i in range(slot, cur.slots_used - 1):
        v = dict(getattr(arrivals, slot_name(i + 1)))
        setattr(arrivals, slot_name(i), v)
        cur.slot_of[v["cid"]] = i
    cur.slots_used -= 1
    setattr(arrivals, slot_name(cur.slots_used), {})
