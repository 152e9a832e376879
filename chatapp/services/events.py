"""Real-time events sent on commit (Zulip's ``send_event_on_commit``).

A service that changes something others must see calls :func:`send_event_on_commit` inside its
unit of work. Nothing is published then: the runner that owns the transaction
(``state/db_call.py``: ``db_call`` / ``db_run``) collects the events and publishes them, in
order, only after the transaction committed. A change that rolls back is never announced, and
no caller has to remember to publish.

Outside a runner (a script, a test calling a service directly) events go nowhere unless the
caller collects them with :func:`collecting`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Outgoing:
    user_ids: tuple[int, ...]
    event: dict[str, Any]


_pending: ContextVar[list[Outgoing] | None] = ContextVar("chat_events_on_commit", default=None)


def send_event_on_commit(user_ids: list[int] | tuple[int, ...], event: Any) -> None:
    """Publish ``event`` to every open tab of ``user_ids`` once the current unit of work has
    committed (dropped if it rolls back)."""
    pending = _pending.get()
    if pending is not None:
        pending.append(Outgoing(tuple(user_ids), dict(event)))


@contextmanager
def collecting() -> Iterator[list[Outgoing]]:
    """Collect the events of the unit of work run inside; the list is complete on exit."""
    out: list[Outgoing] = []
    token = _pending.set(out)
    try:
        yield out
    finally:
        _pending.reset(token)


class NotAnnounced(Exception):
    """The change was committed, but publishing its events failed (the bus is away). Carries
    the service's result; tabs elsewhere catch up when their bus is back."""

    def __init__(self, result: Any) -> None:
        super().__init__("committed, not announced")
        self.result = result


async def publish(outgoing: list[Outgoing]) -> None:
    """Publish collected events in order (call after commit, on the event loop)."""
    from chatapp.realtime import get_hub  # (the hub is made on first use, from settings)
    from chatapp.services import push

    hub = get_hub()
    for o in outgoing:
        await hub.publish(list(o.user_ids), o.event)
    # New messages for people with no open tab go out as Web Push, in the background.
    presence = getattr(hub, "presence", None)  # (None: a stand-in hub in a test)
    if presence is not None:
        push.after_publish([(o.user_ids, o.event) for o in outgoing], presence)
