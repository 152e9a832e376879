"""The open conversation's messages as a tab shows them: history pages plus arrival slots.

Pure bookkeeping over the view states (state/view.py); ChatState owns the cursor (which pages
and slots are in use) in backend vars and calls these functions with its states locked.
"""

from __future__ import annotations

import random
from typing import Any

from chatapp.services.dto import MessageOut, PersonOut, QuoteOut
from chatapp.services.lifecycle import excerpt
from chatapp.services.media import thumb_url
from chatapp.state.timefmt import Clock
from chatapp.state.view import (
    N_PAGES,
    N_PATCHES,
    N_SLOTS,
    OPEN_PAGE,
    page_name,
    patch_name,
    raw,
    slot_name,
)
from chatapp.wire import MessageView, Status, WireMessage, initials
from chatapp.wire import message as wire_message

FOLDED_MEMORY = 2 * N_SLOTS
_fold_rng = random.Random()


def _fold_threshold() -> int:
    """How many arrival slots a cursor fills before folding them into a page: somewhere in the
    last quarter, so that the tabs of a busy group (which all got the same messages since they
    opened it together) do not all send a page at the same message."""
    return _fold_rng.randint(N_SLOTS - N_SLOTS // 4, N_SLOTS)


def view_of(
    m: WireMessage,
    *,
    viewer: int,
    clock: Clock,
    prev_at: int,
    prev_sender: int,
    status: Status = "sent",
    error: str = "",
    reactions: dict[str, list[int]] | None = None,
) -> MessageView:
    """A bubble, labelled against the message shown just before it (day separator, avatar).
    In a group, the first bubble of a run shows its sender's name and avatar: the page looks
    them up in the tab's map of the group's people (ChatState.writers), so a bubble carries
    only the sender's id. A system line ("alice added bob") is a bubble of its own kind, never
    part of a run."""
    new_day = not prev_at or clock.day_key(prev_at) != clock.day_key(m["at"])
    system = bool(m.get("sys"))
    first = new_day or m["sender"] != prev_sender or system
    view: MessageView = {
        "key": f"c{m['cid']}",
        "id": m["id"],
        "cid": m["cid"],
        "sender": m["sender"],
        "mine": m["sender"] == viewer,
        "body": m["body"],
        "at": m["at"],
        "time": clock.time(m["at"]),
        "day": clock.day_label(m["at"]) if new_day else "",
        "first": first,
        "status": status,
        "error": error,
        "img": m["img"],
        "full": m["full"],
        "w": m["w"],
        "h": m["h"],
    }
    if system:
        view["sys"] = True
        view["mine"] = False
    for flag in ("edited", "deleted", "mod"):
        if m.get(flag):
            view[flag] = True  # type: ignore[literal-required]
    if "reply" in m:
        view["reply"] = m["reply"]
    if reactions:
        view["rx"] = chips(reactions, viewer)
    return view


def chips(reactions: dict[str, list[int]], viewer: int) -> list[dict[str, Any]]:
    """Reaction chips under a bubble: emoji, count, whether the viewer is among them."""
    return [
        {"e": e, "n": len(users), "mine": viewer in users}
        for e, users in reactions.items()
        if users
    ]


def changed(
    old: MessageView, m: WireMessage, reactions: dict[str, list[int]], viewer: int
) -> MessageView:
    """A shown bubble after a change to its message: the new text, flags and reactions; its
    place in the timeline (day, run, sender) as before."""
    view: MessageView = {
        **old,  # type: ignore[typeddict-item]
        "body": m["body"],
        "img": m["img"],
        "full": m["full"],
        "w": m["w"],
        "h": m["h"],
    }
    for flag in ("edited", "deleted", "mod", "rx"):
        view.pop(flag, None)  # type: ignore[misc]
    for flag in ("edited", "deleted", "mod"):
        if m.get(flag):
            view[flag] = True  # type: ignore[literal-required]
    if reactions:
        view["rx"] = chips(reactions, viewer)
    return view


# A system line ends a run: the next message shows its sender again.
SYSTEM_SENDER = -1


def people_of(senders: dict[int, PersonOut]) -> dict[str, dict[str, str]]:
    """A group's people as the page looks them up (ChatState.writers): id -> name,
    initials, avatar."""
    return {
        str(uid): {
            "name": p.display_name,
            "initials": initials(p.display_name),
            "avatar": thumb_url(p.avatar_ref),
        }
        for uid, p in senders.items()
    }


def views_of(
    items: list[MessageOut],
    *,
    viewer: int,
    clock: Clock,
    prev_at: int,
    prev_sender: int,
    reactions: dict[int, dict[str, list[int]]] | None = None,
    quotes: dict[int, QuoteOut] | None = None,
) -> list[MessageView]:
    """Bubbles of a page (``reactions`` and ``quotes`` by message id)."""
    out: list[MessageView] = []
    for m in items:
        q = quotes.get(m.reply_to_id) if quotes and m.reply_to_id else None
        v = view_of(
            wire_message(m, q),
            viewer=viewer,
            clock=clock,
            prev_at=prev_at,
            prev_sender=prev_sender,
            reactions=reactions.get(m.id) if reactions else None,
        )
        out.append(v)
        prev_at, prev_sender = v["at"], sender_key(v)
    return out


def sender_key(v: MessageView) -> int:
    """Who the next bubble is compared with to start a run (a system line ends one)."""
    return SYSTEM_SENDER if v.get("sys") else v["sender"]


class Cursor:
    """Which pages and slots of a tab are in use, kept as one object in ChatState's backend var.

    It is not a dict, list or dataclass, so Reflex neither wraps it in a MutableProxy when read
    nor copies it: the work per event is O(1). What it remembers is bounded: the client ids in
    the arrival slots (at most N_SLOTS) and the last FOLDED_MEMORY ones folded into a page. After
    changing it, assign it back to the var (``self._cursor = cur``): that marks the state changed
    (the Redis state manager saves only changed states) and costs nothing on the wire.
    """

    __slots__ = (
        "fold_at",
        "folded",
        "last_at",
        "last_sender",
        "newer_next",
        "newest_id",
        "older_next",
        "pages_used",
        "patch_keys",
        "patch_next",
        "patch_of",
        "seq",
        "slot_of",
        "slots_used",
    )

    def __init__(self) -> None:
        self.pages_used: list[int] = []
        self.older_next = OPEN_PAGE - 1
        self.newer_next = OPEN_PAGE + 1
        self.slots_used = 0
        self.slot_of: dict[str, int] = {}  # client id -> its arrival slot
        # Client ids recently folded into a page as sent (oldest first): a late duplicate
        # delivery is still recognised. A dict used as an ordered set.
        self.folded: dict[str, None] = {}
        self.newest_id = 0  # newest stored message id shown in the pages
        self.last_at = 0  # the last bubble shown: what the next one is labelled against
        self.last_sender = 0
        # History bubbles changed since they were loaded: client id -> its patch var, and the
        # client id each patch var holds (reused round robin; see patch()).
        self.patch_of: dict[str, int] = {}
        self.patch_keys: list[str] = [""] * N_PATCHES
        self.patch_next = 0
        self.seq = 0  # the conversation's newest change number this view reflects
        self.fold_at = _fold_threshold()

    def dump(self) -> Cursor:
        """What goes back into the backend var: the object itself (nothing is copied)."""
        return self

    @classmethod
    def load(cls, data: Cursor | dict[str, Any] | None) -> Cursor:
        """The cursor in the backend var (itself, not a copy); a dict saved by an older version
        (Redis keeps states across a deploy) becomes a cursor."""
        if isinstance(data, Cursor):
            return data
        cur = cls()
        for name in ("older_next", "newer_next", "slots_used", "newest_id", "last_at"):
            setattr(cur, name, int((data or {}).get(name, getattr(cur, name))))
        cur.last_sender = int((data or {}).get("last_sender", 0))
        cur.pages_used = list((data or {}).get("pages_used", []))
        for cid, slot in dict((data or {}).get("slot_of", {})).items():
            if slot >= 0:
                cur.slot_of[cid] = slot
            else:
                cur.folded[cid] = None
        return cur


def clear_all(history: Any, arrivals: Any) -> None:
    """Every page and slot var, whatever the browser may still show (a rebuilt state)."""
    for i in range(N_PAGES):
        setattr(history, page_name(i), [])
    for i in range(N_SLOTS):
        setattr(arrivals, slot_name(i), {})
    for i in range(N_PATCHES):
        setattr(arrivals, patch_name(i), {})


def clear(cur: Cursor, history: Any, arrivals: Any) -> Cursor:
    """Empty the view (only the vars in use are touched, so only they go on the wire)."""
    for i in cur.pages_used:
        setattr(history, page_name(i), [])
    for i in range(cur.slots_used):
        setattr(arrivals, slot_name(i), {})
    for i, key in enumerate(cur.patch_keys):
        if key:
            setattr(arrivals, patch_name(i), {})
    return Cursor()


def show_page(cur: Cursor, history: Any, items: list[MessageView]) -> None:
    """The newest page, when a conversation is opened."""
    setattr(history, page_name(OPEN_PAGE), items)
    cur.pages_used.append(OPEN_PAGE)
    # What the page holds is shown: a late delivery of one of them is recognised by its
    # client id. (Not by "id <= the newest id shown": ids are given at insert, not at commit,
    # so a message can be published after a newer one the page already holds.)
    for v in items[-FOLDED_MEMORY:]:
        cur.folded[v["cid"]] = None
    if items:
        cur.newest_id = max(v["id"] for v in items)
        cur.last_at, cur.last_sender = items[-1]["at"], sender_key(items[-1])


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
        setattr(history, first, [*items, *raw(getattr(history, first))])


def catch_up_from(cur: Cursor, history: Any, arrivals: Any) -> int:
    """Where a tab back from being away asks for newer messages: the oldest id among the shown
    messages the cursor remembers by client id (so whatever comes back at or above it is either
    recognised or new, even one that committed after a newer one). 0 when it remembers none
    (then the view is rebuilt instead)."""
    ids = [int(raw(getattr(arrivals, slot_name(i))).get("id") or 0) for i in range(cur.slots_used)]
    remembered = cur.folded
    for p in sorted(cur.pages_used, reverse=True):
        items = raw(getattr(history, page_name(p)))
        hits = [int(v["id"]) for v in items if v["cid"] in remembered]
        ids.extend(hits)
        if len(hits) < len(items):
            break  # older than what the cursor remembers
    stored = [i for i in ids if i > 0]
    return min(stored) - 1 if stored else 0


def is_shown(cur: Cursor, m: WireMessage) -> bool:
    cid = m["cid"]
    return cid in cur.slot_of or cid in cur.folded


def _fold(cur: Cursor, history: Any, arrivals: Any) -> None:
    """Slots are full: move the settled ones into the next newer page (one frame of at most
    N_SLOTS bubbles) and re-place the unsettled ones (at most MAX_UNSENT, see ChatState)."""
    settled: list[Any] = []
    unsettled: list[Any] = []
    for i in range(cur.slots_used):
        v = raw(getattr(arrivals, slot_name(i)))
        (settled if v.get("status") == "sent" else unsettled).append(v)
    if cur.newer_next < N_PAGES:
        setattr(history, page_name(cur.newer_next), settled)
        cur.pages_used.append(cur.newer_next)
        cur.newer_next += 1
    else:
        # Hundreds arrived while the conversation stayed open: the newest page grows.
        last = page_name(N_PAGES - 1)
        setattr(history, last, [*raw(getattr(history, last)), *settled])
    # Remember recently folded ones (a late duplicate delivery is still recognised), not all.
    for v in settled:
        cur.folded[v["cid"]] = None
    for old in list(cur.folded)[: max(0, len(cur.folded) - FOLDED_MEMORY)]:
        del cur.folded[old]
    for i in range(cur.slots_used):
        setattr(arrivals, slot_name(i), unsettled[i] if i < len(unsettled) else {})
    cur.slot_of = {v["cid"]: i for i, v in enumerate(unsettled)}
    cur.slots_used = len(unsettled)


def put(cur: Cursor, history: Any, arrivals: Any, view: MessageView) -> None:
    """Show a new bubble, or update the one with the same client id."""
    cid = view["cid"]
    slot = cur.slot_of.get(cid)
    if slot is not None:
        old = raw(getattr(arrivals, slot_name(slot)))
        # Keep the labels it was first shown with (its neighbours have not changed).
        setattr(
            arrivals, slot_name(slot), {**view, "day": old.get("day"), "first": old.get("first")}
        )
        return
    if cid in cur.folded:
        return  # already folded into a page as sent: nothing changes
    if cur.slots_used >= min(getattr(cur, "fold_at", N_SLOTS), N_SLOTS):
        _fold(cur, history, arrivals)
        cur.fold_at = _fold_threshold()
    slot = cur.slots_used
    setattr(arrivals, slot_name(slot), view)
    cur.slot_of[cid] = slot
    cur.slots_used += 1
    cur.last_at, cur.last_sender = view["at"], sender_key(view)


def get(cur: Cursor, arrivals: Any, cid: str) -> dict[str, Any] | None:
    slot = cur.slot_of.get(cid)
    if slot is None:
        return None
    return dict(raw(getattr(arrivals, slot_name(slot))))


def drop(cur: Cursor, arrivals: Any, cid: str) -> None:
    """Take an unsent bubble away (refused before it was stored): later slots move up."""
    slot = cur.slot_of.pop(cid, None)
    if slot is None:
        return
    for i in range(slot, cur.slots_used - 1):
        v = raw(getattr(arrivals, slot_name(i + 1)))
        setattr(arrivals, slot_name(i), v)
        cur.slot_of[v["cid"]] = i
    cur.slots_used -= 1
    setattr(arrivals, slot_name(cur.slots_used), {})


# Changes to shown messages (edit, deletion, reaction) ----------------------------------------
def current(cur: Cursor, history: Any, arrivals: Any, cid: str, msg_id: int) -> MessageView | None:
    """The bubble a tab shows for a message now (its arrival slot, its patch, or its page's
    copy), or None when it is not shown."""
    slot = cur.slot_of.get(cid)
    if slot is not None:
        return raw(getattr(arrivals, slot_name(slot))) or None
    patch = cur.patch_of.get(cid)
    if patch is not None:
        return raw(getattr(arrivals, patch_name(patch))) or None
    found = _in_pages(cur, history, msg_id)
    return found[2] if found is not None else None


def shows_id(cur: Cursor, history: Any, arrivals: Any, msg_id: int) -> bool:
    """Whether a stored message is on screen (in an arrival slot or a loaded page)."""
    for slot in range(cur.slots_used):
        if raw(getattr(arrivals, slot_name(slot))).get("id") == msg_id:
            return True
    return _in_pages(cur, history, msg_id) is not None


def replace(cur: Cursor, history: Any, arrivals: Any, view: MessageView) -> None:
    """Show a changed bubble. One var changes: its arrival slot, or (a history bubble) a patch
    var drawn instead of the page's copy. When every patch var is taken, the oldest patch is
    written into its page first (one larger frame, rarely)."""
    cid = view["cid"]
    slot = cur.slot_of.get(cid)
    if slot is not None:
        setattr(arrivals, slot_name(slot), view)
        return
    patch = cur.patch_of.get(cid)
    if patch is None:
        free = [i for i, key in enumerate(cur.patch_keys) if not key]
        if not free:
            # Every patch var is taken: write the oldest one's page with all of its patches in
            # one frame, which frees every patch var that page used.
            _fold_page_patches(cur, history, arrivals, cur.patch_next)
            free = [i for i, key in enumerate(cur.patch_keys) if not key] or [cur.patch_next]
        patch = free[0]
        cur.patch_next = (patch + 1) % N_PATCHES
        cur.patch_of[cid] = patch
        cur.patch_keys[patch] = cid
    setattr(arrivals, patch_name(patch), view)


def quoting(cur: Cursor, history: Any, arrivals: Any, msg_id: int) -> list[MessageView]:
    """The shown bubbles (their current copies) that quote message ``msg_id``."""
    out: list[MessageView] = []
    for slot in range(cur.slots_used):
        v = raw(getattr(arrivals, slot_name(slot)))
        if v and v.get("reply", {}).get("id") == msg_id:
            out.append(v)
    for p, key in enumerate(cur.patch_keys):
        v = raw(getattr(arrivals, patch_name(p))) if key else None
        if v and v.get("reply", {}).get("id") == msg_id:
            out.append(v)
    for p in cur.pages_used:
        for v in raw(getattr(history, page_name(p))):
            if v.get("reply", {}).get("id") == msg_id and v["cid"] not in cur.patch_of:
                out.append(v)
    return out


def requoted(view: MessageView, m: WireMessage) -> MessageView:
    """A reply's bubble after the message it quotes was edited or deleted (a deleted one's
    text must not stay readable in its quotes)."""
    deleted = bool(m.get("deleted"))
    reply = view["reply"]
    return {
        **view,  # type: ignore[typeddict-item]
        "reply": {
            **reply,
            "body": excerpt(m["body"], deleted=deleted),
            "img": bool(m["img"]) and not deleted,
            "deleted": deleted,
        },
    }


def _in_pages(cur: Cursor, history: Any, msg_id: int) -> tuple[int, int, MessageView] | None:
    """(page, index, bubble) of a stored message in the loaded history (pages hold ascending
    ids: a page is searched only when the id is within its range)."""
    if msg_id <= 0:
        return None
    for p in cur.pages_used:
        items = raw(getattr(history, page_name(p)))
        if not items or not items[0]["id"] <= msg_id <= items[-1]["id"]:
            continue
        for i, v in enumerate(items):
            if v["id"] == msg_id:
                return p, i, v
    return None


def _fold_page_patches(cur: Cursor, history: Any, arrivals: Any, oldest: int) -> None:
    """Write the patched bubbles of the page that holds patch var ``oldest`` into that page and
    free their patch vars (a patch whose message is no longer in any page is just freed)."""
    view = raw(getattr(arrivals, patch_name(oldest)))
    found = _in_pages(cur, history, int(view.get("id", 0))) if view else None
    if found is None:
        _free_patch(cur, arrivals, oldest)
        return
    page = found[0]
    items = list(raw(getattr(history, page_name(page))))
    index = {v["id"]: i for i, v in enumerate(items)}
    for p, key in enumerate(cur.patch_keys):
        if not key:
            continue
        patched = raw(getattr(arrivals, patch_name(p)))
        i = index.get(int(patched.get("id", 0))) if patched else None
        if i is not None:
            items[i] = patched
            _free_patch(cur, arrivals, p)
    setattr(history, page_name(page), items)


def _free_patch(cur: Cursor, arrivals: Any, p: int) -> None:
    cur.patch_of.pop(cur.patch_keys[p], None)
    cur.patch_keys[p] = ""
    setattr(arrivals, patch_name(p), {})  # (else a later patch of the same bubble could lose)
