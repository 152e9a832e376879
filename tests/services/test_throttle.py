"""The per-user message limit and the in-process storage under it (services/throttle.py)."""

from __future__ import annotations

import threading

import limits.storage.memory as limits_memory
import pytest

from chatapp.services.throttle import LoginThrottle


def _throttle(**kw: int) -> LoginThrottle:
    return LoginThrottle("memory://", max_failures=5, lockout_minutes=15, **kw)


def test_a_burst_then_refused_with_the_wait_per_user() -> None:
    t = _throttle(send_burst=3, send_burst_seconds=10, sends_per_minute=100)
    assert [t.send(1) for _ in range(3)] == [0, 0, 0]
    wait = t.send(1)
    assert 1 <= wait <= 10
    assert t.send(2) == 0  # another user is not affected
    assert t.send(1) == wait or t.send(1) > 0  # a refused send is not counted: still waiting


def test_the_steady_rate_applies_after_the_burst() -> None:
    t = _throttle(send_burst=50, send_burst_seconds=10, sends_per_minute=5)
    assert [t.send(7) for _ in range(5)] == [0] * 5
    assert 1 <= t.send(7) <= 60


def test_counting_does_not_start_a_thread_per_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    started = []

    class CountingTimer(threading.Timer):
        def start(self) -> None:
            started.append(1)
            super().start()

    monkeypatch.setattr(limits_memory.threading, "Timer", CountingTimer)
    t = _throttle(send_burst=10_000, send_burst_seconds=10, sends_per_minute=100_000)
    for i in range(40):
        assert t.send(i % 5) == 0
        # (messages arriving further apart than the library's 10 ms timer: it would have
        # finished, and the library's own storage would start another for the next hit)
        threading.Event().wait(0.015)
    assert len(started) <= 2
