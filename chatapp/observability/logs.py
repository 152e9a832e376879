"""Logging, configured once at app start: every stdlib ``logging`` call (ours, Reflex's,
uvicorn's, gunicorn's) goes through structlog's ProcessorFormatter.

Production (APP_ENV=production): one JSON object per line (``timestamp``, ``level``,
``logger``, ``event``, plus ``request_id`` for an HTTP request or websocket connection and
``tab``/``handler`` inside an event handler, bound with :func:`bind` in context variables).
Development: readable text.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# The servers' loggers: their own handlers are replaced by ours (gunicorn's workers hand
# theirs to uvicorn's loggers when they start, so both end up writing through ours). Access
# logs are left as the server has them (off unless gunicorn is given --access-logfile): a line
# per health probe is noise.
SERVER_LOGGERS = ("gunicorn.error", "uvicorn", "uvicorn.error")

_configured = False


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    # Tracebacks as the standard library writes them, in both modes. Not structlog's default
    # for text (Rich, with every frame's local variables): that printed what a frame held
    # (state, tokens, passwords) and, on the event loop, took 1-2 s per traceback of a Reflex
    # task, so a burst of them (Redis restarted) froze every tab of the worker for 20 s.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_processors(), processors=final)


def configure(*, json: bool, level: str = "INFO", stream: Any = None) -> None:
    """Route stdlib logging (and structlog's own loggers) to one handler. Idempotent."""
    global _configured
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(json=json))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_chatapp", False) or not _configured:
            root.removeHandler(old)
    handler._chatapp = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    route_server_loggers()
    structlog.configure(
        processors=[
            *_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured = True


def route_server_loggers() -> None:
    """Send the servers' log records to the root handler (ours). Called again when a worker
    starts: gunicorn's uvicorn worker gives uvicorn's loggers handlers of their own then."""
    for name in SERVER_LOGGERS:
        server_log = logging.getLogger(name)
        server_log.handlers = []
        server_log.propagate = True


def configure_from_settings() -> None:
    from chatapp.settings import get_settings

    s = get_settings()
    configure(json=s.is_production, level=s.log_level)


def bind(**values: Any) -> None:
    """Add fields to every log line of the current task (an event handler, a request)."""
    structlog.contextvars.bind_contextvars(**values)
