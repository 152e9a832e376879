"""This worker is shutting down (SIGTERM): from the signal on it takes no new websocket
(web/guard.py closes the handshake with 1012, "service restart", and the tab reconnects to
another replica) and /healthz answers 503, so that a proxy or orchestrator stops sending it
anything while it drains.

Why not rely on the server: uvicorn's shutdown tells the connections it has when it starts
(websockets get 1012) and then waits for every connection to close. A websocket upgraded a
moment later, on a request that was already under way, was never told: it kept its tab on the
dying worker until gunicorn killed it at its graceful timeout (30 s).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

_draining = threading.Event()


def draining() -> bool:
    return _draining.is_set()


def begin() -> None:
    _draining.set()


def reset() -> None:
    """(Tests.)"""
    _draining.clear()


def install() -> None:
    """Start draining on SIGTERM, then hand the signal to the handler the server installed.
    Call from the app's start-up (inside the server's own signal set-up), in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous: Any = signal.getsignal(signal.SIGTERM)

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        begin()
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
