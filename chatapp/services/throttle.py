"""Log-in throttling on the ``limits`` library: memory storage for one worker, Redis when
REDIS_URL is set so that every worker and process sees the same counts."""

from __future__ import annotations

import time
from functools import lru_cache

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from chatapp.settings import get_settings


class LoginThrottle:
    def __init__(self, storage_uri: str, *, max_failures: int, lockout_minutes: int) -> None:
        storage = storage_from_string(storage_uri)
        self._failures = MovingWindowRateLimiter(storage)
        self._lock = FixedWindowRateLimiter(storage)
        self._fail_item = RateLimitItemPerMinute(max_failures, lockout_minutes)
        # One hit opens a lock window of `lockout_minutes` counted from the last failure.
        self._lock_item = RateLimitItemPerMinute(1, lockout_minutes)
        self.lockout_minutes = lockout_minutes

    def locked_for(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not locked."""
        if self._lock.test(self._lock_item, "login-lock", key, cost=1):
            return 0
        reset = self._lock.get_window_stats(self._lock_item, "login-lock", key).reset_time
        return max(1, int(reset - time.time()))

    def record_failure(self, key: str) -> None:
        self._failures.hit(self._fail_item, "login-fail", key)
        if not self._failures.test(self._fail_item, "login-fail", key):
            self._lock.hit(self._lock_item, "login-lock", key)
            self._failures.clear(self._fail_item, "login-fail", key)

    def record_success(self, key: str) -> None:
        self._failures.clear(self._fail_item, "login-fail", key)


@lru_cache(maxsize=1)
def get_login_throttle() -> LoginThrottle:
    s = get_settings()
    return LoginThrottle(
        s.redis_url or "memory://",
        max_failures=s.login_max_failures,
        lockout_minutes=s.login_lockout_minutes,
    )
