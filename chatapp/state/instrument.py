"""The event handlers running in this worker, seen through Reflex's public middleware hook, so
that a SIGTERM can let them finish (``drain``).

Reflex calls a middleware's ``preprocess`` in the event's own task, once the tab's state is
locked and right before the handler runs (reflex 0.10.1 never calls ``postprocess``). The end
of the handler is the end of that task: a done callback on it. Only public API: ``Middleware``,
``App.add_middleware``, ``asyncio.current_task``. If a Reflex upgrade stopped calling
``preprocess`` in the event's task, tests/state/test_instrument.py (a real Reflex event
processor) and the SIGTERM end-to-end test fail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from reflex.middleware.middleware import Middleware

log = logging.getLogger(__name__)

# Foreground handlers running now in this process (background ones, like the retry loop, are
# not waited for on shutdown: they re-send what they hold on the next connection anyway).
_running: set[asyncio.Task[Any]] = set()
# event name -> (the handler's qualified name, whether it runs in the background). Only
# registered handlers reach a middleware, so this stays as small as the app.
_handlers: dict[str, tuple[str, bool]] = {}


def handler_of(root: Any, event_name: str) -> tuple[str, bool]:
    """("ChatState.send", is_background) for an event of the state tree under ``root`` (the
    root state class)."""
    known = _handlers.get(event_name)
    if known is None:
        path, _, name = event_name.rpartition(".")
        handler = root.get_class_substate(path).event_handlers[name]
        known = _handlers[event_name] = (handler.fn.__qualname__, bool(handler.is_background))
    return known


class HandlerWatch(Middleware):
    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        task = asyncio.current_task()
        if task is None:
            return None
        _name, background = handler_of(type(state), event.name)
        if not background:
            _running.add(task)
            task.add_done_callback(_running.discard)
        return None


def running() -> int:
    return len(_running)


async def drain(seconds: float) -> int:
    """Wait up to ``seconds`` for the foreground handlers still running (a send between
    its pending bubble and its commit); returns how many were still running after it."""
    pending = {t for t in _running if not t.done()}
    if pending and seconds > 0:
        log.info("waiting up to %.0f s for %d running event handlers", seconds, len(pending))
        _done, pending = await asyncio.wait(pending, timeout=seconds)
    if pending:
        log.warning("%d event handlers still running at shutdown", len(pending))
    return len(pending)
