"""A controllable clock for tests where time matters (no sleeping, no timed assertions)."""

from __future__ import annotations

import time as real_time
from datetime import UTC, datetime
from types import ModuleType

import pytest


class FakeClock:
    """Stands in for the `time` module inside the modules named to :meth:`install` only
    (patching time.monotonic itself would also move asyncio's clock). Wall and monotonic time
    move together; starts at the real wall time so that Redis-side expiries stay sane."""

    def __init__(self, start: float | None = None) -> None:
        self.now = real_time.time() if start is None else start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def install(self, monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> FakeClock:
        """Make each module's ``time`` this clock (for the rest of the test)."""
        for module in modules:
            monkeypatch.setattr(module, "time", self)
        return self

    def install_utcnow(self, monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> FakeClock:
        """Make each module's ``utcnow`` (imported from chatapp.models) read this clock."""
        for module in modules:
            assert hasattr(module, "utcnow"), module
            monkeypatch.setattr(module, "utcnow", self.utcnow)
        return self
