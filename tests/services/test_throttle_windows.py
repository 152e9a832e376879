"""The windows of every limit in services/throttle.py, on a controllable clock: how long each
one counts, when it lets go again, the wait a refused sender is told, and the counts shared
through Redis. Found by mutation testing (TESTING.md): the other tests only filled limits up."""

from __future__ import annotations

import secrets

import limits.storage.memory
import limits.strategies
import pytest

from chatapp.services import throttle
from chatapp.services.throttle import LoginThrottle, wait_message
from tests.support.clock import FakeClock

ADDRESS = "203.0.113.9"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """`time` in the throttle and in the `limits` library's memory storage and strategies."""
    return FakeClock().install(monkeypatch, throttle, limits.storage.memory, limits.strategies)


def _throttle(**kw: int) -> LoginThrottle:
    return LoginThrottle("memory://", **{"max_failures": 5, "lockout_minutes": 15, **kw})


def test_a_refused_sender_is_told_the_seconds_until_the_oldest_send_leaves_the_window(
    clock: FakeClock,
) -> None:
    t = _throttle(send_burst=3, send_burst_seconds=10, sends_per_minute=1000)
    assert [t.send(1) for _ in range(3)] == [0, 0, 0]
    clock.advance(4)
    assert t.send(1) == 6  # the burst window is 10 s long, and the first send was 4 s ago
    clock.advance(0.5)
    assert t.send(1) == 6  # 5.5 s: rounded up, never less than what is left
    clock.advance(5.2)
    assert t.send(1) == 1  # 0.3 s left: still a whole second
    clock.advance(0.3)
    assert t.send(1) == 0


def test_the_steady_rate_counts_a_whole_minute(clock: FakeClock) -> None:
    t = _throttle(send_burst=100, send_burst_seconds=1, sends_per_minute=2)
    assert [t.send(1), t.send(1)] == [0, 0]
    clock.advance(30)
    assert t.send(1) == 30
    clock.advance(30)
    assert t.send(1) == 0


def test_failures_count_over_the_whole_lockout_period(clock: FakeClock) -> None:
    """Five wrong passwords within 15 minutes lock the pair, however spread out."""
    t = _throttle(max_failures=5, lockout_minutes=15, address_max_failures=100)
    for _ in range(4):
        t.login_failed("user:1", ADDRESS)
        clock.advance(120)
    assert t.login_locked_for("user:1", ADDRESS) == 0
    t.login_failed("user:1", ADDRESS)
    assert t.login_locked_for("user:1", ADDRESS) == 15 * 60
    assert t.login_locked_for("user:1", "198.51.100.1") == 0


def test_address_failures_count_over_the_whole_lockout_period(clock: FakeClock) -> None:
    t = _throttle(max_failures=5, lockout_minutes=15, address_max_failures=3)
    for account in ("user:1", "user:2"):
        t.login_failed(account, ADDRESS)
        clock.advance(300)
    t.login_failed("user:3", ADDRESS)
    assert t.login_locked_for("user:4", ADDRESS) == 15 * 60  # spraying: every account


@pytest.mark.parametrize(
    ("limit", "count", "window_s"),
    [("attempts_per_minute", "attempt", 60), ("signups_per_hour", "sign_up", 3600)],
)
def test_address_limits_let_go_after_their_window(
    clock: FakeClock, limit: str, count: str, window_s: int
) -> None:
    t = _throttle(**{limit: 2})
    hit = getattr(t, count)
    assert [hit(ADDRESS), hit(ADDRESS), hit(ADDRESS)] == [True, True, False]
    assert hit("198.51.100.1")  # another address has its own count
    clock.advance(window_s - 1)
    assert not hit(ADDRESS)
    clock.advance(1.5)
    assert hit(ADDRESS)


def test_uploads_let_go_after_an_hour(clock: FakeClock) -> None:
    t = _throttle(uploads_per_hour=2)
    assert [t.upload(7), t.upload(7), t.upload(7), t.upload(8)] == [True, True, False, True]
    clock.advance(3599)
    assert not t.upload(7)
    clock.advance(1.5)
    assert t.upload(7)


@pytest.mark.parametrize(
    ("seconds", "says"),
    [(1, "1 minute."), (60, "1 minute."), (61, "2 minutes."), (900, "15 minutes.")],
)
def test_the_wait_is_told_in_whole_minutes_rounded_up(seconds: int, says: str) -> None:
    assert wait_message(seconds) == f"Too many failed log-ins. Try again in {says}"
    assert wait_message(seconds, "uploads").startswith("Too many uploads.")


@pytest.mark.redis
def test_throttles_on_one_redis_share_their_counts(redis_url: str) -> None:
    """Every worker counts in the same place when REDIS_URL is set."""
    address = f"203.0.113.{secrets.randbelow(250) + 1}"
    first, second = (
        LoginThrottle(redis_url, max_failures=5, lockout_minutes=15, attempts_per_minute=2)
        for _ in range(2)
    )
    assert not first.in_memory
    assert [first.attempt(address), second.attempt(address)] == [True, True]
    assert not first.attempt(address)
    assert not second.attempt(address)
