"""What the browser hears when an event cannot run at all: Reflex raises before any handler
when its Redis state store is unreachable (the tab's state cannot be locked or read). The
person is told plainly that what they just did did not reach the server, instead of Reflex's
"An error occurred. Contact the website administrator."; everything else keeps Reflex's
handler (logged with its traceback, a generic toast)."""

from __future__ import annotations

import logging

import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec

from chatapp.services.errors import Unavailable

log = logging.getLogger(__name__)

OUTAGE_TOAST = (
    "Can't reach the server right now: what you just did did not get through. A message you "
    "sent is kept in this tab and goes out by itself when the server is back."
)


def _is_outage(exc: BaseException) -> bool:
    """A connection to Redis or the database failed (anywhere in the exception's chain)."""
    import redis.exceptions

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(
            cur,
            Unavailable
            | redis.exceptions.ConnectionError
            | redis.exceptions.TimeoutError
            | ConnectionError,
        ):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def backend_exception_handler(exception: Exception) -> EventSpec:
    if _is_outage(exception):
        log.warning("an event could not run: %r", exception)
        toast: EventSpec = rx.toast.error(OUTAGE_TOAST, position="top-center", duration=8000)
        return toast
    return default_backend_exception_handler(exception)
