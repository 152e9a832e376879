"""Abuse limits on the ``limits`` library: memory storage for one worker, Redis when REDIS_URL
is set so that every worker and process sees the same counts.

What is counted (values in settings.py, reasoning in SECURITY.md):

* attempts: log-in and sign-up attempts per client address per minute, checked before any
  password hashing, so a flood costs the server almost nothing;
* failed log-ins per (account, address): a guesser locks only their own address out of that
  account, never the owner out of it;
* failed log-ins per address, whatever the account: one guess on each of many accounts
  (password spraying) locks the address out;
* sign-ups per address per hour;
* image uploads per user per hour;
* messages per user: a burst within a few seconds, and a steady rate per minute;
* failed password changes per account (someone at an unlocked, signed-in computer).

Addresses are grouped: IPv4 by address, IPv6 by /64 (one subscriber's whole prefix).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from functools import lru_cache

from limits import RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from chatapp.settings import get_settings


def address_key(address: str) -> str:
    """The client an address stands for: the address itself (IPv4), its /64 (IPv6)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class QuietMemoryStorage(MemoryStorage):
    """The library's in-process storage, sweeping expired entries at most once a second.

    ``MemoryStorage`` starts a new 10 ms ``threading.Timer`` after every hit that finds none
    running, and each one walks every key: with a count per message that was ~0.2 ms of CPU per
    message at 300 messages/s (bench/RESULTS.md). The sweep only frees memory: the counts
    themselves never depend on it (expired counters are dropped when read, and moving windows
    compare timestamps), so sweeping less often changes no answer."""

    SWEEP_EVERY_S = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # (the base class's private hook)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_EVERY_S
            super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class LoginThrottle:
    def __init__(
        self,
        storage_uri: str,
        *,
        max_failures: int,
        lockout_minutes: int,
        address_max_failures: int = 20,
        attempts_per_minute: int = 10,
        signups_per_hour: int = 10,
        uploads_per_hour: int = 60,
        send_burst: int = 30,
        send_burst_seconds: int = 10,
        sends_per_minute: int = 120,
    ) -> None:
        # Memory counts answer in microseconds without I/O: callers may ask on the event loop.
        self.in_memory = storage_uri.startswith("memory://")
        storage = QuietMemoryStorage() if self.in_memory else storage_from_string(storage_uri)
        self._moving = MovingWindowRateLimiter(storage)
        self._fixed = FixedWindowRateLimiter(storage)
        self._fail_item = RateLimitItemPerMinute(max_failures, lockout_minutes)
        self._address_fail_item = RateLimitItemPerMinute(address_max_failures, lockout_minutes)
        # One hit opens a lock window of `lockout_minutes` counted from the last failure.
        self._lock_item = RateLimitItemPerMinute(1, lockout_minutes)
        self._attempt_item = RateLimitItemPerMinute(attempts_per_minute, 1)
        self._signup_item = RateLimitItemPerHour(signups_per_hour, 1)
        self._upload_item = RateLimitItemPerHour(uploads_per_hour, 1)
        self._send_items = (
            RateLimitItemPerSecond(send_burst, send_burst_seconds),
            RateLimitItemPerMinute(sends_per_minute, 1),
        )

    # Attempts, before any work ----------------------------------------------------------------
    def attempt(self, address: str) -> bool:
        """Count one log-in or sign-up attempt from `address`; False when over the limit."""
        return self._moving.hit(self._attempt_item, "auth-attempt", address_key(address))

    def sign_up(self, address: str) -> bool:
        """Count one account creation attempt from `address`; False when over the limit."""
        return self._moving.hit(self._signup_item, "signup", address_key(address))

    def upload(self, user_id: int) -> bool:
        """Count one image upload by `user_id`; False when over the hourly limit."""
        return self._moving.hit(self._upload_item, "upload", str(user_id))

    def send(self, user_id: int) -> int:
        """Count one message by `user_id`: 0 when it may be sent, else the seconds to wait
        (a refused message is not counted)."""
        key = str(user_id)
        for item in self._send_items:
            if not self._moving.test(item, "send", key):
                reset = self._moving.get_window_stats(item, "send", key).reset_time
                return max(1, int(reset - time.time() + 0.999))
        for item in self._send_items:
            self._moving.hit(item, "send", key)
        return 0

    # Failures and locks -----------------------------------------------------------------------
    def locked_for(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not locked."""
        if self._fixed.test(self._lock_item, "login-lock", key, cost=1):
            return 0
        reset = self._fixed.get_window_stats(self._lock_item, "login-lock", key).reset_time
        return max(1, int(reset - time.time()))

    def record_failure(self, key: str) -> None:
        self._count_failure(self._fail_item, key)

    def record_success(self, key: str) -> None:
        self._moving.clear(self._fail_item, "login-fail", key)

    def login_locked_for(self, account: str, address: str) -> int:
        """Seconds before this address may try this account again (0: it may)."""
        return max(
            self.locked_for(self.pair_key(account, address)),
            self.locked_for(self.address_lock_key(address)),
        )

    def login_failed(self, account: str, address: str) -> None:
        self.record_failure(self.pair_key(account, address))
        self._count_failure(self._address_fail_item, self.address_lock_key(address))

    def login_succeeded(self, account: str, address: str) -> None:
        # Only the pair's count: a sprayer who owns one account must not reset the address's.
        self.record_success(self.pair_key(account, address))

    @staticmethod
    def pair_key(account: str, address: str) -> str:
        return f"{account}|{address_key(address)}"

    @staticmethod
    def address_lock_key(address: str) -> str:
        return f"address|{address_key(address)}"

    def _count_failure(self, item: RateLimitItemPerMinute, key: str) -> None:
        self._moving.hit(item, "login-fail", key)
        if not self._moving.test(item, "login-fail", key):
            self._fixed.hit(self._lock_item, "login-lock", key)
            self._moving.clear(item, "login-fail", key)


def wait_message(seconds: int, what: str = "failed log-ins") -> str:
    minutes = max(1, (seconds + 59) // 60)
    return f"Too many {what}. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


_creating = threading.Lock()


@lru_cache(maxsize=1)
def _make_login_throttle() -> LoginThrottle:
    s = get_settings()
    return LoginThrottle(
        s.redis_url or "memory://",
        max_failures=s.login_max_failures,
        lockout_minutes=s.login_lockout_minutes,
        address_max_failures=s.login_address_max_failures,
        attempts_per_minute=s.auth_attempts_per_minute,
        signups_per_hour=s.signups_per_address_per_hour,
        uploads_per_hour=s.uploads_per_hour,
        send_burst=s.send_burst,
        send_burst_seconds=s.send_burst_seconds,
        sends_per_minute=s.sends_per_minute,
    )


def get_login_throttle() -> LoginThrottle:
    """The process's one throttle. (lru_cache alone is not enough: threads asking for the
    first time at once would each build one, and memory counts would be split between them.)"""
    with _creating:
        return _make_login_throttle()


get_login_throttle.cache_clear = _make_login_throttle.cache_clear  # type: ignore[attr-defined]
