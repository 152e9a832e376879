"""Account services against a real MariaDB database."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from chatapp import security
from chatapp.models import AuthSession, User
from chatapp.services import accounts, dto
from chatapp.services.errors import AuthFailed, FieldErrors, Throttled
from chatapp.settings import get_settings
from tests.support.clock import FakeClock

PW = "correct horse"


def _signup(db: Session, username: str = "alice", email: str | None = None) -> dto.UserOut:
    user = accounts.sign_up(
        session=db, username=username, email=email or f"{username}@example.com", password=PW
    )
    db.commit()
    return user


def _login(db: Session, login: str = "alice", password: str = PW) -> str:
    """Log in the way the browser does: ticket, then the cookie's JWT."""
    ticket = accounts.log_in_and_start_session(session=db, login=login, password=password)
    issued = accounts.activate_session(session=db, ticket=ticket)
    db.commit()
    assert issued is not None
    return issued.token


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("al", "a@example.com", PW, "username"),
        ("a" * 33, "a@example.com", PW, "username"),
        ("bad name", "a@example.com", PW, "username"),
        ("émile", "a@example.com", PW, "username"),
        ("alice", "not-an-email", PW, "email"),
        ("alice", "a@example.com", "short", "password"),
        ("alice", "a@example.com", "ü" * 37, "password"),  # 8+ chars but 74 bytes
    ],
)
def test_signup_rules(db: Session, username: str, email: str, password: str, field: str) -> None:
    with pytest.raises(FieldErrors) as exc:
        accounts.sign_up(session=db, username=username, email=email, password=password)
    assert field in exc.value.errors
    assert exc.value.errors[field]
    db.rollback()
    assert db.exec(select(User)).all() == []


def test_signup_stores_normalised_user_and_hash(db: Session) -> None:
    user = _signup(db, "Alice.B_1", "Alice@Example.COM")
    assert user.username == "alice.b_1"
    assert user.email == "alice@example.com"
    row = db.get(User, user.id)
    assert row is not None
    assert row.password_hash.startswith("$2b$")
    assert PW not in row.password_hash
    assert not hasattr(user, "password_hash")


def test_duplicates_are_case_insensitive(db: Session) -> None:
    _signup(db, "alice", "alice@example.com")
    with pytest.raises(FieldErrors) as exc:
        accounts.sign_up(session=db, username="ALICE", email="other@example.com", password=PW)
    assert "username" in exc.value.errors
    db.rollback()
    with pytest.raises(FieldErrors) as exc:
        accounts.sign_up(session=db, username="bob", email="ALICE@example.com", password=PW)
    assert "email" in exc.value.errors
    db.rollback()
    assert len(db.exec(select(User)).all()) == 1


def test_login_with_username_or_email(db: Session) -> None:
    user = _signup(db)
    for login in ["alice", "ALICE", "alice@example.com", " Alice@Example.com "]:
        current = accounts.resolve_session(session=db, token=_login(db, login))
        assert current is not None
        assert current.user.id == user.id


def test_wrong_password_and_unknown_user_look_the_same(db: Session) -> None:
    _signup(db)
    with pytest.raises(AuthFailed) as wrong:
        accounts.authenticate(session=db, login="alice", password="wrong password")
    with pytest.raises(AuthFailed) as unknown:
        accounts.authenticate(session=db, login="nobody", password="wrong password")
    assert str(wrong.value) == str(unknown.value) == accounts.BAD_LOGIN


def test_unknown_user_is_checked_against_a_dummy_hash(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work for both: bcrypt runs once whether or not the account exists."""
    _signup(db)
    calls: list[str] = []
    real = security.verify_password

    def spy(password: str, password_hash: str) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(security, "verify_password", spy)
    for login in ["alice", "nobody"]:
        with pytest.raises(AuthFailed):
            accounts.authenticate(session=db, login=login, password="wrong password")
    assert len(calls) == 2
    assert all(h.startswith("$2b$") for h in calls)


def test_session_needs_activation_and_ticket_is_single_use(db: Session) -> None:
    _signup(db)
    ticket = accounts.log_in_and_start_session(session=db, login="alice", password=PW)
    db.commit()
    assert accounts.activate_session(session=db, ticket="nope") is None
    issued = accounts.activate_session(session=db, ticket=ticket)
    db.commit()
    assert issued is not None
    assert accounts.activate_session(session=db, ticket=ticket) is None  # replay refused
    row = db.get(AuthSession, ticket)
    assert row is not None
    assert row.activated_at is not None
    hours = (row.expires_at - row.activated_at).total_seconds() / 3600
    assert hours == pytest.approx(get_settings().session_lifetime_hours, abs=0.01)


def test_logout_revokes_the_token(db: Session) -> None:
    _signup(db)
    token = _login(db)
    current = accounts.resolve_session(session=db, token=token)
    assert current is not None
    accounts.revoke_session(session=db, session_id=current.session_id)
    db.commit()
    assert accounts.resolve_session(session=db, token=token) is None


def test_log_out_of_all_devices(db: Session) -> None:
    _signup(db)
    _signup(db, "bob")
    tokens = [_login(db) for _ in range(3)]
    bob = _login(db, "bob")
    current = accounts.resolve_session(session=db, token=tokens[0])
    assert current is not None
    assert accounts.revoke_all_sessions(session=db, user_id=current.user.id) == 3
    db.commit()
    assert all(accounts.resolve_session(session=db, token=t) is None for t in tokens)
    assert accounts.resolve_session(session=db, token=bob) is not None


def test_token_for_a_missing_or_foreign_session_is_refused(db: Session) -> None:
    user = _signup(db)
    forged = security.encode_session_token(
        user_id=user.id,
        session_id="does-not-exist",
        expires_at=accounts.utcnow() + accounts.timedelta(hours=1),
        secret=get_settings().jwt_secret,
    )
    assert accounts.resolve_session(session=db, token=forged) is None
    bob = _signup(db, "bob")
    token = _login(db)
    sid = security.decode_session_token(token, secret=get_settings().jwt_secret).session_id
    other = security.encode_session_token(
        user_id=bob.id,
        session_id=sid,
        expires_at=accounts.utcnow() + accounts.timedelta(hours=1),
        secret=get_settings().jwt_secret,
    )
    assert accounts.resolve_session(session=db, token=other) is None


def test_throttling_after_five_failures(db: Session) -> None:
    _signup(db)
    for _ in range(5):
        with pytest.raises(AuthFailed):
            accounts.authenticate(session=db, login="alice", password="wrong password")
    # Locked now: even the right password is refused, with a clear message.
    with pytest.raises(Throttled) as exc:
        accounts.authenticate(session=db, login="alice@example.com", password=PW)
    assert "15 minutes" in str(exc.value)
    # Another account is not affected.
    _signup(db, "bob")
    assert accounts.authenticate(session=db, login="bob", password=PW).username == "bob"


def test_throttle_lock_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock lasts `lockout_minutes` from the failure that set it, then lifts by itself
    (a controllable clock in place of `time` in the throttle and the `limits` library)."""
    import limits.storage.memory
    import limits.strategies

    from chatapp.services import throttle
    from chatapp.services.throttle import LoginThrottle

    clock = FakeClock().install(monkeypatch, throttle, limits.storage.memory, limits.strategies)
    t = LoginThrottle("memory://", max_failures=2, lockout_minutes=1)
    t.record_failure("k")
    assert t.locked_for("k") == 0
    t.record_failure("k")
    assert t.locked_for("k") == 60
    assert t.locked_for("someone else") == 0
    clock.advance(59)
    assert t.locked_for("k") == 1  # still locked a second before the end
    clock.advance(1.5)
    assert t.locked_for("k") == 0  # expired: may try again
    # And the failure count started afresh: one more failure does not lock again.
    t.record_failure("k")
    assert t.locked_for("k") == 0
    t.record_failure("k")
    assert t.locked_for("k") == 60


def test_success_resets_the_failure_count(db: Session) -> None:
    _signup(db)
    for _ in range(4):
        with pytest.raises(AuthFailed):
            accounts.authenticate(session=db, login="alice", password="wrong password")
    accounts.authenticate(session=db, login="alice", password=PW)
    for _ in range(4):
        with pytest.raises(AuthFailed):
            accounts.authenticate(session=db, login="alice", password="wrong password")
    assert accounts.authenticate(session=db, login="alice", password=PW)


def test_emoji_round_trip(db: Session) -> None:
    user = _signup(db)
    row = db.get(User, user.id)
    assert row is not None
    row.display_name = "Alice 🦊🎉"
    row.bio = "I ❤️ chat — 你好 👋🏽"
    db.add(row)
    db.commit()
    db.expire_all()
    again = db.get(User, user.id)
    assert again is not None
    assert again.display_name == "Alice 🦊🎉"
    assert again.bio == "I ❤️ chat — 你好 👋🏽"


def test_login_takes_bcrypt_time_for_unknown_users(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown account costs the same bcrypt work as a known one with a wrong password, so
    timing does not tell which accounts exist: one bcrypt check per attempt, in every path,
    against a hash of the same cost. (A spy on bcrypt, not a clock: timings are noisy here.)"""
    import bcrypt

    # A cost other than the suite's default, so that a dummy hash of a fixed cost shows up.
    monkeypatch.setattr(get_settings(), "bcrypt_rounds", 5)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)
    _signup(db)
    real_checkpw = bcrypt.checkpw
    checked: list[bytes] = []

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)

    def bcrypt_cost_of_one_failed_log_in(login: str, password: str) -> int:
        checked.clear()
        with pytest.raises(AuthFailed):
            accounts.authenticate(session=db, login=login, password=password)
        assert len(checked) == 1, f"{login!r}: {len(checked)} bcrypt checks"
        return int(checked[0].split(b"$")[2])

    known = bcrypt_cost_of_one_failed_log_in("alice", "wrong password")
    assert known == 5
    assert bcrypt_cost_of_one_failed_log_in("nobody", "x" * 10) == known
    assert bcrypt_cost_of_one_failed_log_in("nobody@example.com", "x" * 10) == known
    assert bcrypt_cost_of_one_failed_log_in("nobody", "é" * 40) == known  # over 72 bytes
    assert bcrypt_cost_of_one_failed_log_in("alice", "é" * 40) == known


# Found by mutation testing (TESTING.md): boundaries and fields no test pinned down. ---------


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("abc", "x" * 8),  # the shortest username and password allowed
        ("a" * 32, "é" * 36),  # the longest username; a password of exactly 72 bytes
    ],
)
def test_signup_accepts_the_limits_themselves(db: Session, username: str, password: str) -> None:
    user = accounts.sign_up(
        session=db, username=username, email=f"{username}@example.com", password=password
    )
    db.commit()
    assert user.username == username
    assert accounts.authenticate(session=db, login=username, password=password).id == user.id


def test_the_user_out_carries_every_profile_field(db: Session) -> None:
    user = _signup(db, "fields")
    row = db.get(User, user.id)
    assert row is not None
    row.display_name, row.bio, row.avatar_ref = "Field Tester", "a bio", "avatar-ref-1"
    db.add(row)
    db.commit()
    out = accounts.get_user(session=db, user_id=user.id)
    assert out is not None
    assert (out.id, out.username, out.display_name) == (user.id, "fields", "Field Tester")
    assert (out.bio, out.avatar_ref) == ("a bio", "avatar-ref-1")
    assert out.created_at == row.created_at and out.last_seen_at == row.last_seen_at
    assert accounts.get_user(session=db, user_id=10**9) is None
    assert accounts.count_users(session=db) == 1
