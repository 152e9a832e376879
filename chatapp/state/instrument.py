"""Event handler timing, the tab in log lines, and the drain of running handlers on shutdown.

Reflex 0.10.1 never calls a middleware's ``postprocess``, so the end of a handler cannot be
seen from a middleware: the app's event processor (created by Reflex in its own lifespan task,
before ours) has its ``_execute_event`` wrapped instead. Each event runs in its own task, so the
log fields bound here stay with that event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from chatapp.observability import logs, metrics

log = logging.getLogger(__name__)

# Foreground handlers running now in this process (background ones, like the retry loop, are
# not waited for on shutdown: they re-send what they hold on the next connection anyway).
_running: set[asyncio.Task[Any]] = set()


def instrument(processor: Any) -> bool:
    """Time every event handler the processor runs. False if this Reflex has no such hook."""
    inner = getattr(processor, "_execute_event", None)
    if inner is None or getattr(inner, "_chatapp_timed", False):
        return False
    histograms: dict[str, Any] = {}

    async def timed(*, entry: Any, registered_handler: Any) -> None:
        handler = registered_handler.handler
        name = handler.fn.__qualname__  # a registered handler: a bounded set of names
        hist = histograms.get(name)
        if hist is None:
            hist = histograms[name] = metrics.HANDLER_LATENCY.labels(name)
        logs.bind(tab=str(entry.ctx.token)[:8], handler=name)
        task = None if handler.is_background else asyncio.current_task()
        if task is not None:
            _running.add(task)
        start = time.perf_counter()
        try:
            await inner(entry=entry, registered_handler=registered_handler)
        finally:
            hist.observe(time.perf_counter() - start)
            if task is not None:
                _running.discard(task)

    timed._chatapp_timed = True  # type: ignore[attr-defined]
    processor._execute_event = timed
    return True


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
