"""The sidebar's conversation rows in SidebarState's numbered vars (see state/view.py).

A row changes alone (one var on the wire); ``order`` changes only when a conversation moves up.
Rows are read as stored (``view.raw``: no proxy) and never changed in place: a change assigns a
new dict, which is what marks the var for the wire.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from chatapp.state.view import N_ROWS, raw, row_name
from chatapp.wire import ConversationRow


def recount(sb: Any) -> None:
    """The unread total of the conversations not muted (the tab title's "(N) "): assigned only
    when it changed, so a row update costs the wire nothing more."""
    now = time.time() * 1000
    total = sum(
        int(row.get("unread") or 0) for _i, row in rows(sb) if int(row.get("muted") or 0) <= now
    )
    if raw(sb.unread_total) != total:
        sb.unread_total = total


def rows(sb: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for i in raw(sb.order):
        yield i, raw(getattr(sb, row_name(i)))


def find(sb: Any, conv_id: int) -> tuple[int, dict[str, Any]] | None:
    """The row of a conversation (one lookup in the backend index, not a scan of the rows).
    The row is the stored dict itself: read it, do not change it."""
    i = raw(sb._slot_of_conv).get(conv_id)
    if i is None:
        return None
    row = raw(getattr(sb, row_name(i)))
    if row.get("id") != conv_id:  # (an index out of step would be a bug: never show wrong rows)
        return None
    return i, row


def reset(sb: Any, new_rows: list[ConversationRow], *, clear_all: bool = False) -> None:
    used = set(range(N_ROWS)) if clear_all else set(raw(sb.order))
    new_rows = new_rows[:N_ROWS]
    for i, row in enumerate(new_rows):
        setattr(sb, row_name(i), row)
    for i in used:
        if i >= len(new_rows):
            setattr(sb, row_name(i), {})
    sb.order = list(range(len(new_rows)))
    sb._slot_of_conv = {int(row["id"]): i for i, row in enumerate(new_rows)}
    recount(sb)


def update(sb: Any, conv_id: int, fields: dict[str, Any], *, to_top: bool = False) -> bool:
    """Change one row (False if it is not in the sidebar)."""
    found = find(sb, conv_id)
    if found is None:
        return False
    i, row = found
    changed = {k: v for k, v in fields.items() if row.get(k) != v}
    if changed:
        setattr(sb, row_name(i), {**row, **changed})
        if "unread" in changed or "muted" in changed:
            recount(sb)
    order = raw(sb.order)
    if to_top and order and order[0] != i:
        sb.order = [i, *(o for o in order if o != i)]
    return True


def insert_top(sb: Any, row: ConversationRow) -> None:
    """A conversation new to this sidebar: takes a free slot, or the least recent one's."""
    order = list(raw(sb.order))
    taken = set(order)
    free = [i for i in range(N_ROWS) if i not in taken]
    slot = free[0] if free else order.pop()
    index = {c: i for c, i in raw(sb._slot_of_conv).items() if i != slot}
    index[int(row["id"])] = slot
    setattr(sb, row_name(slot), row)
    sb.order = [slot, *(o for o in order if o != slot)]
    sb._slot_of_conv = index
    recount(sb)


def update_people(sb: Any, user_id: int, fields: dict[str, Any]) -> list[int]:
    """Change every row whose other person is `user_id`; returns their conversation ids."""
    convs = []
    for i, row in list(rows(sb)):
        if row.get("peer_id") == user_id:
            changed = {k: v for k, v in fields.items() if row.get(k) != v}
            if changed:
                setattr(sb, row_name(i), {**row, **changed})
            convs.append(int(row["id"]))
    return convs


def remove(sb: Any, conv_id: int) -> bool:
    """Drop a conversation's row (a deleted group). False if it is not in the sidebar."""
    found = find(sb, conv_id)
    if found is None:
        return False
    i, _row = found
    setattr(sb, row_name(i), {})
    sb.order = [o for o in raw(sb.order) if o != i]
    sb._slot_of_conv = {c: s for c, s in raw(sb._slot_of_conv).items() if c != conv_id}
    recount(sb)
    return True
