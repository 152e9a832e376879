"""Structured logs (chatapp/observability/logs.py): one JSON object per line in production with
the fields bound for the request or event handler, text in development; tracebacks without
frame locals in both."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator

import pytest
import structlog

from chatapp.observability import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    structlog.contextvars.clear_contextvars()
    logs.configure(json=False, stream=sys.stderr)


def test_json_lines_carry_the_bound_fields(captured: io.StringIO) -> None:
    logs.configure(json=True, stream=captured)
    logs.bind(tab="abcd1234", handler="ChatState.send")
    logging.getLogger("chatapp.test").warning("publishing message %s failed", 7)
    logging.getLogger("uvicorn.error").info("Shutting down")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    first = lines[0]
    assert first["event"] == "publishing message 7 failed"
    assert first["level"] == "warning"
    assert first["logger"] == "chatapp.test"
    assert first["tab"] == "abcd1234" and first["handler"] == "ChatState.send"
    assert first["timestamp"].endswith("Z")
    assert lines[1]["logger"] == "uvicorn.error"  # the server's loggers come through ours


def test_text_lines_in_development(captured: io.StringIO) -> None:
    logs.configure(json=False, stream=captured)
    logging.getLogger("chatapp.test").warning("plain %s", "text")
    line = captured.getvalue()
    assert "plain text" in line and not line.lstrip().startswith("{")


def test_level_is_applied(captured: io.StringIO) -> None:
    logs.configure(json=True, level="WARNING", stream=captured)
    logging.getLogger("chatapp.test").info("not written")
    logging.getLogger("chatapp.test").warning("written")
    assert [json.loads(x)["event"] for x in captured.getvalue().splitlines()] == ["written"]


class _Secretive:
    """A frame local whose repr is slow and private (a state object, a token, a password)."""

    shown = 0

    def __repr__(self) -> str:
        _Secretive.shown += 1
        time.sleep(0.5)
        return "s3cret-token"


def _fail() -> None:
    password = _Secretive()  # noqa: F841 (a local the traceback must not print)
    raise RuntimeError("boom")


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_tracebacks_leave_frame_locals_out(captured: io.StringIO, as_json: bool) -> None:
    """A traceback costs what the standard library's costs: no frame's locals are rendered
    (structlog's default text renderer, Rich with locals, took 1-2 s per traceback of a Reflex
    task on the event loop, and printed what the frames held)."""
    logs.configure(json=as_json, stream=captured)
    _Secretive.shown = 0
    started = time.perf_counter()
    try:
        _fail()
    except RuntimeError:
        logging.getLogger("chatapp.test").exception("it failed")
    took = time.perf_counter() - started
    text = captured.getvalue()
    assert "RuntimeError: boom" in text and "_fail" in text
    assert "s3cret-token" not in text and _Secretive.shown == 0
    assert took < 0.4
    if as_json:
        (line,) = text.splitlines()
        assert "Traceback" in json.loads(line)["exception"]
