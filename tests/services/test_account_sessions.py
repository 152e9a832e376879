"""Log-in sessions on MariaDB, as the forms run them (chatapp/state/passwords.py): the split
steps of log-in and sign-up, tickets and their expiry, tokens at the edge of their lifetime,
revocation. Many of these were found by mutation testing (TESTING.md): behaviour no test
pinned down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from chatapp import db as chat_db
from chatapp import security
from chatapp.models import AuthSession, User
from chatapp.services import accounts, dto
from chatapp.services.errors import AuthFailed, FieldErrors, Throttled
from chatapp.services.throttle import LoginThrottle
from chatapp.settings import get_settings
from tests.support.clock import FakeClock

PW = "correct horse"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chromium/140"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """accounts' `utcnow` under the test's control (MariaDB keeps microseconds)."""
    return FakeClock().install_utcnow(monkeypatch, accounts)


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginThrottle]:
    """Production failure limits; attempts per minute high enough to isolate the others."""
    t = LoginThrottle(
        "memory://",
        max_failures=5,
        lockout_minutes=15,
        attempts_per_minute=1000,
        signups_per_hour=2,
    )
    monkeypatch.setattr(accounts, "get_login_throttle", lambda: t)
    yield t


def _user(db: Session, name: str = "alice") -> dto.UserOut:
    user = accounts.sign_up(session=db, username=name, email=f"{name}@example.com", password=PW)
    db.commit()
    return user


def _row(db: Session, sid: str) -> AuthSession:
    db.expire_all()
    row = db.get(AuthSession, sid)
    assert row is not None
    return row


def _form_log_in(db: Session, login: str, password: str, address: str) -> str:
    """The log-in form's steps: limits and look-up, bcrypt, then the outcome."""
    accounts.admit_attempt(address=address)
    check = accounts.begin_log_in(session=db, login=login, address=address)
    ok = accounts.check_password(password=password, password_hash=check.password_hash)
    ticket = accounts.finish_log_in(session=db, check=check, ok=ok, address=address, user_agent=UA)
    db.commit()
    return ticket


def _sessions_of(db: Session, user_id: int) -> list[AuthSession]:
    db.expire_all()
    return list(db.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all())


# The log-in form: begin_log_in, bcrypt, finish_log_in -------------------------------------------


def test_the_log_in_form_starts_a_pending_session_with_the_browser(
    db: Session, clock: FakeClock
) -> None:
    user = _user(db)
    ticket = _form_log_in(db, "Alice@Example.com", PW, OWNER)
    row = _row(db, ticket)
    assert (row.user_id, row.user_agent, row.activated_at) == (user.id, UA, None)
    assert row.expires_at == clock.utcnow() + accounts.TICKET_TTL
    issued = accounts.activate_session(session=db, ticket=ticket)
    db.commit()
    assert issued is not None
    current = accounts.resolve_session(session=db, token=issued.token)
    assert current is not None
    assert (current.user.id, current.session_id) == (user.id, ticket)


def test_the_log_in_form_counts_failures_per_address_and_makes_no_session(
    db: Session, throttle: LoginThrottle
) -> None:
    user = _user(db)
    for _ in range(5):
        with pytest.raises(AuthFailed):
            _form_log_in(db, "alice", "wrong password", ATTACKER)
    assert _sessions_of(db, user.id) == []
    with pytest.raises(Throttled, match="15 minutes"):
        _form_log_in(db, "alice", PW, ATTACKER)
    assert _row(db, _form_log_in(db, "alice", PW, OWNER)).user_id == user.id
    # A success counts too: the owner's earlier failures from their address are forgotten.
    for _ in range(4):
        with pytest.raises(AuthFailed):
            _form_log_in(db, "alice", "wrong password", OWNER)
    _form_log_in(db, "alice", PW, OWNER)
    for _ in range(4):
        with pytest.raises(AuthFailed):
            _form_log_in(db, "alice", "wrong password", OWNER)
    assert _form_log_in(db, "alice", PW, OWNER)


def test_an_unknown_account_never_gets_a_session_even_if_bcrypt_said_yes(db: Session) -> None:
    """Unknown accounts are checked against a dummy hash: were its password typed, bcrypt
    would answer True, and there is still nobody to sign in."""
    check = accounts.begin_log_in(session=db, login="nobody", address=OWNER)
    assert (check.user_id, check.password_hash, check.account) == (None, None, "login:nobody")
    with pytest.raises(AuthFailed):
        accounts.finish_log_in(session=db, check=check, ok=True, address=OWNER)
    assert db.exec(select(AuthSession)).all() == []


def test_log_in_and_start_session_counts_the_address_and_keeps_the_browser(
    db: Session, throttle: LoginThrottle
) -> None:
    user = _user(db)
    for _ in range(5):
        with pytest.raises(AuthFailed):
            accounts.log_in_and_start_session(
                session=db, login="alice", password="wrong password", address=ATTACKER
            )
    with pytest.raises(Throttled):
        accounts.log_in_and_start_session(session=db, login="alice", password=PW, address=ATTACKER)
    ticket = accounts.log_in_and_start_session(
        session=db, login="alice", password=PW, address=OWNER, user_agent=UA
    )
    db.commit()
    assert (_row(db, ticket).user_id, _row(db, ticket).user_agent) == (user.id, UA)


# The sign-up form: begin_sign_up, bcrypt, create_user_and_start_session -------------------------


def test_the_sign_up_form_makes_the_account_and_its_first_session(db: Session) -> None:
    username, email = accounts.begin_sign_up(
        session=db, username=" Neo.One ", email="Neo@Example.COM", password=PW, address=OWNER
    )
    assert (username, email) == ("neo.one", "neo@example.com")
    password_hash = accounts.hash_new_password(password=PW)
    ticket = accounts.create_user_and_start_session(
        session=db, username=username, email=email, password_hash=password_hash, user_agent=UA
    )
    db.commit()
    row = _row(db, ticket)
    assert (row.user_agent, row.activated_at) == (UA, None)
    user = db.get(User, row.user_id)
    assert user is not None
    assert (user.username, user.email, user.password_hash) == (username, email, password_hash)
    assert accounts.authenticate(session=db, login="neo.one", password=PW).id == user.id


def test_the_sign_up_form_refuses_bad_input_before_anything_else(db: Session) -> None:
    with pytest.raises(FieldErrors) as exc:
        accounts.begin_sign_up(
            session=db, username="x", email="not-an-email", password="short", address=OWNER
        )
    assert set(exc.value.errors) == {"username", "email", "password"}


def test_a_taken_username_and_email_are_both_told_before_any_hashing(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user(db, "alice")
    hashed: list[str] = []
    monkeypatch.setattr(security, "hash_password", lambda *a, **k: hashed.append("!") or "")
    with pytest.raises(FieldErrors) as exc:
        accounts.sign_up(session=db, username="ALICE", email="Alice@example.com", password=PW)
    assert exc.value.errors == {
        "username": "That username is taken.",
        "email": "An account with this email already exists.",
    }
    with pytest.raises(FieldErrors) as exc:
        accounts.sign_up(session=db, username="alice", email="new@example.com", password=PW)
    assert set(exc.value.errors) == {"username"}
    assert hashed == []


def test_a_sign_up_that_lost_the_race_for_its_name_is_a_field_error(db: Session) -> None:
    """Two sign-ups of one name, both past begin_sign_up: the second insert hits the unique
    index and is told so, with no session started."""
    _user(db, "alice")
    with pytest.raises(FieldErrors) as exc:
        accounts.create_user_and_start_session(
            session=db, username="alice", email="second@example.com", password_hash="x"
        )
    assert set(exc.value.errors) == {"username"}
    assert len(db.exec(select(User)).all()) == 1
    assert db.exec(select(AuthSession)).all() == []


def test_sign_up_and_start_session(db: Session, throttle: LoginThrottle) -> None:
    ticket = accounts.sign_up_and_start_session(
        session=db,
        username="Trinity",
        email="trinity@example.com",
        password=PW,
        user_agent=UA,
        address=ATTACKER,
    )
    db.commit()
    row = _row(db, ticket)
    user = db.get(User, row.user_id)
    assert user is not None and user.username == "trinity"
    assert (row.user_agent, row.activated_at) == (UA, None)
    assert accounts.activate_session(session=db, ticket=ticket) is not None
    # The address's sign-ups are counted (two an hour here), and bad input is refused first.
    accounts.sign_up_and_start_session(
        session=db, username="morpheus", email="m@example.com", password=PW, address=ATTACKER
    )
    db.commit()
    with pytest.raises(FieldErrors):
        accounts.sign_up_and_start_session(
            session=db, username="x", email="m2@example.com", password=PW, address=ATTACKER
        )
    with pytest.raises(Throttled, match="new accounts"):
        accounts.sign_up_and_start_session(
            session=db, username="oracle", email="o@example.com", password=PW, address=ATTACKER
        )
    db.rollback()
    assert {u.username for u in db.exec(select(User)).all()} == {"trinity", "morpheus"}


def test_an_email_of_254_characters_is_accepted(db: Session) -> None:
    """The column's width, and the longest address there is (RFC 5321)."""
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    assert len(email) == 254
    user = accounts.sign_up(session=db, username="longmail", email=email, password=PW)
    db.commit()
    assert user.email == email


def test_log_in_is_case_insensitive_on_sqlite_too(tmp_path: Path) -> None:
    """SQLite (the embedded default) compares text case-sensitively: the typed name must be
    lower-cased as the stored one is."""
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    chat_db.upgrade(url)
    engine = chat_db.make_engine(url)
    try:
        with Session(engine) as s:
            user = accounts.sign_up(session=s, username="Alice", email="A@Example.com", password=PW)
            s.commit()
            for login in ("ALICE", "alice", "a@EXAMPLE.com"):
                assert accounts.authenticate(session=s, login=login, password=PW).id == user.id
    finally:
        engine.dispose()


# Sessions: the user agent, tickets, expiry, revocation ------------------------------------------


def test_a_session_keeps_the_user_agent_cut_to_its_column(db: Session) -> None:
    user = _user(db)
    long_ua = "Mozilla/5.0 " + "x" * 300
    sids = [
        accounts.start_session(session=db, user_id=user.id),
        accounts.start_session(session=db, user_id=user.id, user_agent=UA),
        accounts.start_session(session=db, user_id=user.id, user_agent=long_ua),
    ]
    db.commit()
    assert [_row(db, sid).user_agent for sid in sids] == ["", UA, long_ua[:255]]


def test_a_session_started_without_a_user_agent_names_no_browser(db: Session) -> None:
    """Every way of starting a session, called without one: the devices list must not show
    a browser that was never there."""
    user = _user(db)
    check = accounts.begin_log_in(session=db, login="alice", address=None)
    tickets = [
        accounts.finish_log_in(session=db, check=check, ok=True, address=None),
        accounts.log_in_and_start_session(session=db, login="alice", password=PW),
        accounts.sign_up_and_start_session(
            session=db, username="bob", email="bob@example.com", password=PW
        ),
        accounts.create_user_and_start_session(
            session=db, username="carol", email="carol@example.com", password_hash="x"
        ),
    ]
    db.commit()
    assert [_row(db, t).user_agent for t in tickets] == [""] * 4
    assert [_row(db, t).user_id for t in tickets[:2]] == [user.id] * 2


def test_a_revoked_or_expired_ticket_cannot_be_redeemed(db: Session, clock: FakeClock) -> None:
    user = _user(db)
    revoked = accounts.start_session(session=db, user_id=user.id)
    accounts.revoke_session(session=db, session_id=revoked)
    db.commit()
    assert accounts.activate_session(session=db, ticket=revoked) is None
    on_time = accounts.start_session(session=db, user_id=user.id)
    late = accounts.start_session(session=db, user_id=user.id)
    db.commit()
    deadline = _row(db, late).expires_at
    clock.advance(accounts.TICKET_TTL.total_seconds() - 0.001)
    assert accounts.activate_session(session=db, ticket=on_time) is not None
    clock.now = deadline.timestamp()  # exactly TICKET_TTL after it was issued: too late
    assert clock.utcnow() == deadline
    assert accounts.activate_session(session=db, ticket=late) is None
    db.commit()
    assert _row(db, late).activated_at is None


def test_the_issued_token_says_when_it_expires(db: Session, clock: FakeClock) -> None:
    user = _user(db)
    ticket = accounts.start_session(session=db, user_id=user.id)
    issued = accounts.activate_session(session=db, ticket=ticket)
    db.commit()
    assert issued is not None
    lifetime = timedelta(hours=get_settings().session_lifetime_hours)
    assert issued.expires_at == clock.utcnow() + lifetime == _row(db, ticket).expires_at


def test_a_session_ends_at_its_expiry_to_the_microsecond(db: Session, clock: FakeClock) -> None:
    user = _user(db)
    ticket = accounts.start_session(session=db, user_id=user.id)
    issued = accounts.activate_session(session=db, ticket=ticket)
    db.commit()
    assert issued is not None
    clock.advance((issued.expires_at - clock.utcnow()).total_seconds() - 0.001)
    assert accounts.resolve_session(session=db, token=issued.token) is not None
    assert accounts.session_is_live(session=db, session_id=ticket, user_id=user.id)
    clock.now = issued.expires_at.timestamp()  # (the JWT's own expiry is in whole seconds)
    assert clock.utcnow() == issued.expires_at
    assert accounts.resolve_session(session=db, token=issued.token) is None
    assert not accounts.session_is_live(session=db, session_id=ticket, user_id=user.id)


def test_a_token_for_a_ticket_never_redeemed_signs_nobody_in(db: Session) -> None:
    """Only activate_session signs tokens; a token for a pending row (signed with the
    secret some other way) is still refused."""
    user = _user(db)
    ticket = accounts.start_session(session=db, user_id=user.id)
    db.commit()
    token = security.encode_session_token(
        user_id=user.id,
        session_id=ticket,
        expires_at=accounts.utcnow() + timedelta(hours=1),
        secret=get_settings().jwt_secret,
    )
    assert accounts.resolve_session(session=db, token=token) is None
    assert not accounts.session_is_live(session=db, session_id=ticket, user_id=user.id)


def test_logging_out_ends_that_session_only_and_keeps_when_it_was_revoked(
    db: Session, clock: FakeClock
) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    mine, other = (accounts.start_session(session=db, user_id=alice.id) for _ in range(2))
    bobs = accounts.start_session(session=db, user_id=bob.id)
    for sid in (mine, other, bobs):
        assert accounts.activate_session(session=db, ticket=sid) is not None
    db.commit()
    accounts.revoke_session(session=db, session_id=mine)
    db.commit()
    revoked_at = clock.utcnow()
    assert _row(db, mine).revoked_at == revoked_at
    assert accounts.session_is_live(session=db, session_id=other, user_id=alice.id)
    assert accounts.session_is_live(session=db, session_id=bobs, user_id=bob.id)
    clock.advance(600)  # logging out again later (another tab) changes nothing
    accounts.revoke_session(session=db, session_id=mine)
    db.commit()
    assert _row(db, mine).revoked_at == revoked_at


def test_log_out_everywhere_counts_only_sessions_it_ended(db: Session, clock: FakeClock) -> None:
    user = _user(db)
    sids = [accounts.start_session(session=db, user_id=user.id) for _ in range(3)]
    accounts.revoke_session(session=db, session_id=sids[0])
    db.commit()
    first = clock.utcnow()
    clock.advance(60)
    assert accounts.revoke_all_sessions(session=db, user_id=user.id, keep_session_id=sids[1]) == 1
    assert accounts.revoke_all_sessions(session=db, user_id=user.id) == 1
    assert accounts.revoke_all_sessions(session=db, user_id=user.id) == 0
    db.commit()
    assert _row(db, sids[0]).revoked_at == first


def test_last_seen_is_stored_and_read_back(db: Session, clock: FakeClock) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    seen = accounts.touch_last_seen(session=db, user_id=alice.id)
    db.commit()
    assert seen == clock.utcnow()
    out = accounts.get_user(session=db, user_id=alice.id)
    assert out is not None and out.last_seen_at == seen
    other = accounts.get_user(session=db, user_id=bob.id)
    assert other is not None and other.last_seen_at is None


def test_sessions_are_purged_by_expiry_and_by_revocation_age(db: Session, clock: FakeClock) -> None:
    """The edges of purge_expired_sessions' two rules and its grace arguments
    (tests/services/test_housekeeping.py has the schedule)."""
    user = _user(db)

    def make(expires_in: float, revoked_ago: float | None = None) -> str:
        sid = accounts.start_session(session=db, user_id=user.id)
        row = db.get(AuthSession, sid)
        assert row is not None
        row.expires_at = clock.utcnow() + timedelta(seconds=expires_in)
        if revoked_ago is not None:
            row.revoked_at = clock.utcnow() - timedelta(seconds=revoked_ago)
        db.add(row)
        db.commit()
        return sid

    at_expiry = make(0)
    just_past = make(-0.001)
    revoked_hour = make(3600, revoked_ago=3600)
    revoked_longer = make(3600, revoked_ago=3600.001)
    past_a_minute = make(-60.001)
    assert accounts.purge_expired_sessions(session=db, grace=timedelta(seconds=60)) == 2
    db.commit()
    assert {past_a_minute, revoked_longer}.isdisjoint(s.id for s in _sessions_of(db, user.id))
    assert accounts.purge_expired_sessions(session=db) == 1
    db.commit()
    left = {s.id for s in _sessions_of(db, user.id)}
    assert left == {at_expiry, revoked_hour}
    assert {just_past, revoked_longer, past_a_minute}.isdisjoint(left)
    assert accounts.purge_expired_sessions(session=db, revoked_grace=timedelta(minutes=59)) == 1
    db.commit()
    assert {s.id for s in _sessions_of(db, user.id)} == {at_expiry}
