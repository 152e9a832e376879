"""Where a tab's messages and sidebar rows live, shaped so that one change costs O(1) bytes.

Reflex sends a changed var whole (reflex/istate/delta.py), so one ``list`` of messages would cost
every recipient O(messages in view) bytes per new message. Instead (measured in DESIGN.md §3):

- ``HistoryState``: loaded history in fixed page vars ``p00``…; a page changes only when the
  conversation is opened, older messages are loaded, or arrivals are folded in.
- ``ArrivalState``: one var per newly arrived message (``a00``…), filled in order; a new message
  or a status change (pending → sent → failed) dirties exactly one small var. Also one var per
  history bubble changed since it was loaded (``x00``…: an edit, a deletion, a reaction), so a
  change to a message deep in history costs one small var too, not its page.
- ``SidebarState``: one var per conversation row (``r00``…) and ``order``, the row slots in
  display order (a short list of ints, changed only when a conversation moves to the top);
  ``unread_total``, for the tab title (changes only when the total does).

They are siblings of ChatState (never its children: with Redis, fetching a state fetches its
substates too), generated from a loop because their vars are numbered.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

OLDER_PAGES = 50  # pages p00..p49 hold older history (loaded newest first: p49, p48, …)
OPEN_PAGE = OLDER_PAGES  # the page written when a conversation is opened
NEWER_PAGES = 12  # arrivals folded in when the slots run out
N_PAGES = OLDER_PAGES + 1 + NEWER_PAGES
N_SLOTS = 32
N_PATCHES = 48  # history bubbles changed since they were loaded (edits, deletions, reactions)
N_ROWS = 50  # = services.conversations.SIDEBAR_LIMIT


def page_name(i: int) -> str:
    return f"p{i:02d}"


def slot_name(i: int) -> str:
    return f"a{i:02d}"


def patch_name(i: int) -> str:
    return f"x{i:02d}"


def row_name(i: int) -> str:
    return f"r{i:02d}"


def raw(value: Any) -> Any:
    """A var's value as stored, for reading only: Reflex hands out a list or dict var wrapped in
    a MutableProxy (each read through it wraps again, to catch changes in place); this code
    never changes a value in place, it assigns a new one, so it reads the value underneath."""
    return getattr(value, "__wrapped__", value)


def _numbered_state(
    name: str,
    names: list[str],
    typ: Any,
    default: Any,
    doc: str,
    extra: dict[str, tuple[Any, Any]] | None = None,
) -> Any:
    annotations = dict.fromkeys(names, typ)
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name, "__doc__": doc}
    for n in names:
        namespace[n] = default
    for n, (t, d) in (extra or {}).items():
        annotations[n] = t
        namespace[n] = d
    namespace["__annotations__"] = annotations
    return type(name, (rx.State,), namespace)


HistoryState: Any = _numbered_state(
    "HistoryState",
    [page_name(i) for i in range(N_PAGES)],
    list[dict[str, Any]],
    [],
    "Loaded history of the open conversation, one list var per page (oldest page first).",
)
ArrivalState: Any = _numbered_state(
    "ArrivalState",
    [slot_name(i) for i in range(N_SLOTS)] + [patch_name(i) for i in range(N_PATCHES)],
    dict[str, Any],
    {},
    "Messages that arrived (or were sent) since the conversation was opened, one var each;"
    " and history bubbles changed since they were loaded (x00…: the bubble as it is now, drawn"
    " instead of the page's copy), one var each.",
)


SidebarState: Any = _numbered_state(
    "SidebarState",
    [row_name(i) for i in range(N_ROWS)],
    dict[str, Any],
    {},
    "The sidebar's conversation rows, one var each, their display order, and the unread total"
    " of the conversations not muted (the tab title's '(N) ', the favicon's dot).",
    extra={
        "order": (list[int], []),
        "_slot_of_conv": (dict[int, int], {}),
        "unread_total": (int, 0),
    },
)
