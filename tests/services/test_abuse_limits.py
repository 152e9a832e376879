"""Per-address limits in the account services, on MariaDB (issue 11, findings 1, 7 and 8).
The same rules over the real websocket: tests/e2e/test_abuse_limits.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from chatapp import security
from chatapp.models import User
from chatapp.services import accounts, dto
from chatapp.services.errors import AuthFailed, FieldErrors, Throttled
from chatapp.services.throttle import LoginThrottle, address_key, get_login_throttle

PW = "correct horse"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginThrottle]:
    """Production limits, except attempts per minute high enough to isolate the others."""
    t = LoginThrottle(
        "memory://",
        max_failures=5,
        lockout_minutes=15,
        address_max_failures=20,
        attempts_per_minute=1000,
        signups_per_hour=10,
    )
    monkeypatch.setattr(accounts, "get_login_throttle", lambda: t)
    yield t


def _user(db: Session, name: str) -> None:
    accounts.sign_up(session=db, username=name, email=f"{name}@example.com", password=PW)
    db.commit()


def _log_in(db: Session, login: str, password: str, address: str) -> dto.UserOut:
    return accounts.authenticate(session=db, login=login, password=password, address=address)


def test_failures_lock_the_guessing_address_not_the_owner(
    db: Session, throttle: LoginThrottle
) -> None:
    _user(db, "alice")
    for _ in range(5):
        with pytest.raises(AuthFailed):
            _log_in(db, "alice", "wrong password", ATTACKER)
    with pytest.raises(Throttled, match="15 minutes"):
        _log_in(db, "alice", PW, ATTACKER)  # even the right password, from there
    assert _log_in(db, "alice", PW, OWNER).username == "alice"


def test_spraying_locks_the_address(db: Session, throttle: LoginThrottle) -> None:
    names = [f"user{i:02d}" for i in range(21)]
    for n in names:
        _user(db, n)
    for n in names[:20]:  # one guess on each of 20 accounts
        with pytest.raises(AuthFailed):
            _log_in(db, n, "Winter2026!", ATTACKER)
    with pytest.raises(Throttled):
        _log_in(db, names[20], PW, ATTACKER)
    # The accounts themselves are fine from anywhere else.
    assert _log_in(db, names[0], PW, OWNER).username == names[0]


def test_a_success_does_not_reset_the_address_count(db: Session, throttle: LoginThrottle) -> None:
    _user(db, "mallory")
    names = [f"v{i:02d}x" for i in range(20)]
    for n in names:
        _user(db, n)
    for i, n in enumerate(names):
        if i % 4 == 3:
            _log_in(db, "mallory", PW, ATTACKER)  # the sprayer's own account
        with pytest.raises(AuthFailed):
            _log_in(db, n, "Winter2026!", ATTACKER)
    with pytest.raises(Throttled):
        _log_in(db, "mallory", PW, ATTACKER)


def test_attempts_are_limited_before_bcrypt_runs(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user(db, "alice")
    get_login_throttle.cache_clear()
    monkeypatch.setattr(accounts, "get_login_throttle", get_login_throttle)  # the defaults
    calls: list[str] = []
    real = security.verify_password

    def spy(password: str, password_hash: str) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(security, "verify_password", spy)
    refused = 0
    for i in range(15):
        try:
            _log_in(db, f"nobody{i}", "wrong password", ATTACKER)
        except AuthFailed:
            pass
        except Throttled as exc:
            assert "Too many attempts" in str(exc)
            refused += 1
    assert (refused, len(calls)) == (5, 10)  # 10 a minute reached bcrypt, 5 were refused first
    # Sign-ups share the budget: this address cannot start another bcrypt this minute.
    hashes: list[str] = []
    monkeypatch.setattr(security, "hash_password", lambda *a, **k: hashes.append("x") or "x")
    with pytest.raises(Throttled):
        accounts.sign_up(
            session=db, username="newbie", email="n@example.com", password=PW, address=ATTACKER
        )
    assert hashes == []
    assert _log_in(db, "alice", PW, OWNER).username == "alice"


def test_sign_ups_per_address_per_hour(db: Session, throttle: LoginThrottle) -> None:
    for i in range(10):
        accounts.sign_up(
            session=db,
            username=f"new{i:02d}",
            email=f"new{i}@example.com",
            password=PW,
            address=ATTACKER,
        )
        db.commit()
    with pytest.raises(Throttled, match="new accounts"):
        accounts.sign_up(
            session=db, username="new10", email="new10@example.com", password=PW, address=ATTACKER
        )
    db.rollback()
    accounts.sign_up(
        session=db, username="other", email="other@example.com", password=PW, address=OWNER
    )
    db.commit()
    assert len(db.exec(select(User)).all()) == 11


def test_invalid_sign_ups_are_answered_without_using_the_budget(
    db: Session, throttle: LoginThrottle
) -> None:
    for _ in range(12):
        with pytest.raises(FieldErrors):
            accounts.sign_up(
                session=db, username="x", email="bad", password="short", address=ATTACKER
            )
    accounts.sign_up(
        session=db, username="fine", email="f@example.com", password=PW, address=ATTACKER
    )


def test_addresses_are_grouped_sensibly() -> None:
    assert address_key("203.0.113.5") == "203.0.113.5"
    assert address_key("::ffff:203.0.113.5") == "203.0.113.5"
    # One IPv6 subscriber has a whole /64: it counts as one address.
    assert (
        address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("") == "unknown"
