"""The event handlers running in this worker, seen through Reflex's public middleware hook: how
long each ran (``chatapp_event_handler_seconds``), the tab and handler in its log lines, and the
ones still running when a SIGTERM comes, so that they can finish (``drain``).

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
import time
from functools import partial
from typing import Any

from reflex.middleware.middleware import Middleware

from chatapp.observability import logs, metrics

log = logging.getLogger(__name__)

# Foreground handlers running now in this process (background ones, like the retry loop, are
# not waited for on shutdown: they re-send what they hold on the next connection anyway).
_running: set[asyncio.Task[Any]] = set()
# event name -> (the handler's qualified name, whether it runs in the background). Only
# registered handlers reach a middleware, so this stays as small as the app.
_handlers: dict[str, tuple[str, bool]] = {}
_histograms: dict[str, Any] = {}  # handler name -> its labelled histogram


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
        name, background = handler_of(type(state), event.name)
        # The task's own context: these fields stay with this event's log lines.
        logs.bind(tab=str(state.router.session.client_token)[:8], handler=name)
        hist = _histograms.get(name)
        if hist is None:
            hist = _histograms[name] = metrics.HANDLER_LATENCY.labels(name)
        task.add_done_callback(partial(_finished, hist, time.perf_counter()))
        if not background:
            _running.add(task)
            task.add_done_callback(_running.discard)
        return None


def _finished(hist: Any, started: float, _task: asyncio.Task[Any]) -> None:
    hist.observe(time.perf_counter() - started)


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
