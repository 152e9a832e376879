"""Accounts and log-in sessions: sign up, log in, session tokens, revocation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from chatapp import security, wire
from chatapp.models import AuthSession, User, utcnow
from chatapp.observability import metrics
from chatapp.services import push
from chatapp.services.dto import (
    CurrentSession,
    IssuedToken,
    LoginCheck,
    UserOut,
)
from chatapp.services.errors import AuthFailed, FieldErrors, Throttled
from chatapp.services.events import send_event_on_commit
from chatapp.services.throttle import get_login_throttle, wait_message
from chatapp.settings import get_settings

USERNAME_RE = re.compile(r"^[a-z0-9_.]{3,32}$")
MIN_PASSWORD_CHARS = 8
# A browser has this long to exchange its one-time log-in ticket for the session cookie.
TICKET_TTL = timedelta(seconds=60)
BAD_LOGIN = "Wrong username/email or password."

_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    # Unknown users are checked against this so that they take as long as a wrong password.
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = security.hash_password(
            "dummy-password-for-timing", rounds=get_settings().bcrypt_rounds
        )
    return _DUMMY_HASH


def normalize_username(username: str) -> str:
    return username.strip().lower()


def validate_signup(username: str, email: str, password: str) -> tuple[str, str, dict[str, str]]:
    """Check the shape of sign-up input. Returns normalised username, email and the errors."""
    errors: dict[str, str] = {}
    uname = normalize_username(username)
    if not USERNAME_RE.fullmatch(uname):
        errors["username"] = "Username must be 3–32 characters: letters, digits, '_' or '.'."
    norm_email = ""
    try:
        norm_email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
        if len(norm_email) > 254:
            raise EmailNotValidError("too long")
    except EmailNotValidError:
        errors["email"] = "Enter a valid email address."
    if problem := password_problem(password):
        errors["password"] = problem
    return uname, norm_email, errors


def password_problem(password: str) -> str:
    """What is wrong with a new password ("" if nothing): the one rule for sign-up and for a
    password change."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Password must be at least {MIN_PASSWORD_CHARS} characters."
    if len(password.encode()) > security.BCRYPT_MAX_BYTES:
        return f"Password must be at most {security.BCRYPT_MAX_BYTES} bytes (bcrypt's limit)."
    return ""


# Password hashing (bcrypt) is slow on purpose (~0.25 s at cost 12): callers that serve
# requests run check_password / hash_new_password in a small pool of their own, never while
# holding a database connection or a database-pool thread (chatapp/state/passwords.py). The
# synchronous compositions below (sign_up, authenticate, ...) are for scripts and tests.
ATTEMPTS = "Too many attempts from your network. Try again in a minute."
SIGNUPS = "Too many new accounts from your network. Try again later."


def check_password(*, password: str, password_hash: str | None) -> bool:
    """bcrypt; an unknown account (no hash) is checked against a dummy so it takes as long."""
    return security.verify_password(password, password_hash or _dummy_hash())


def hash_new_password(*, password: str) -> str:
    return security.hash_password(password, rounds=get_settings().bcrypt_rounds)


def admit_attempt(*, address: str | None) -> None:
    """Count one log-in or sign-up attempt from `address` (None: a trusted caller, a script or
    a test, is not counted); Throttled when it is over its limit. No database: callers run it
    first, so a flood is refused before any other work."""
    if address is not None and not get_login_throttle().attempt(address):
        raise Throttled(ATTEMPTS)


def begin_sign_up(
    *, session: Session, username: str, email: str, password: str, address: str | None
) -> tuple[str, str]:
    """Everything before hashing but the attempt count: shape, the per-address sign-up limit,
    uniqueness. Returns the normalised (username, email)."""
    uname, norm_email, errors = validate_signup(username, email, password)
    if errors:
        raise FieldErrors(errors)
    if address is not None and not get_login_throttle().sign_up(address):
        raise Throttled(SIGNUPS)
    if session.exec(select(User.id).where(User.username == uname)).first():
        errors["username"] = "That username is taken."
    if session.exec(select(User.id).where(User.email == norm_email)).first():
        errors["email"] = "An account with this email already exists."
    if errors:
        raise FieldErrors(errors)
    return uname, norm_email


def create_user(*, session: Session, username: str, email: str, password_hash: str) -> UserOut:
    """Insert the account (normalised name and email from :func:`begin_sign_up`)."""
    user = User(username=username, email=email, display_name=username, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race with another sign-up
        session.rollback()
        raise FieldErrors({"username": "That username or email is taken."}) from exc
    return UserOut.of(user)


def sign_up(
    *, session: Session, username: str, email: str, password: str, address: str | None = None
) -> UserOut:
    _, _, errors = validate_signup(username, email, password)
    if errors:
        raise FieldErrors(errors)
    admit_attempt(address=address)
    uname, norm_email = begin_sign_up(
        session=session, username=username, email=email, password=password, address=address
    )
    return create_user(
        session=session,
        username=uname,
        email=norm_email,
        password_hash=hash_new_password(password=password),
    )


def begin_log_in(*, session: Session, login: str, address: str | None) -> LoginCheck:
    """Before bcrypt (and after :func:`admit_attempt`): the locks of this account from this
    address and of this address (spraying), then the account's hash."""
    throttle = get_login_throttle()
    ident = login.strip().lower()
    user = (
        session.exec(select(User).where(or_(User.username == ident, User.email == ident))).first()
        if ident
        else None
    )
    account = f"user:{user.id}" if user else f"login:{ident[:320]}"
    wait = throttle.login_locked_for(account, address or "local")
    if wait:
        raise Throttled(wait_message(wait))
    return LoginCheck(
        account=account,
        user_id=user.id if user else None,
        password_hash=user.password_hash if user else None,
    )


def conclude_log_in(*, check: LoginCheck, ok: bool, address: str | None) -> int:
    """Count the outcome; the user id, or AuthFailed (unknown user and wrong password alike)."""
    throttle = get_login_throttle()
    if not (ok and check.user_id):
        throttle.login_failed(check.account, address or "local")
        metrics.FAILED_LOGINS.inc()
        raise AuthFailed(BAD_LOGIN)
    throttle.login_succeeded(check.account, address or "local")
    return check.user_id


def finish_log_in(
    *, session: Session, check: LoginCheck, ok: bool, address: str | None, user_agent: str = ""
) -> str:
    """After bcrypt: count the outcome and, on success, start a pending session (its ticket)."""
    user_id = conclude_log_in(check=check, ok=ok, address=address)
    return start_session(session=session, user_id=user_id, user_agent=user_agent)


def authenticate(
    *, session: Session, login: str, password: str, address: str | None = None
) -> UserOut:
    """Check a username-or-email and password. Unknown user and wrong password fail alike."""
    admit_attempt(address=address)
    check = begin_log_in(session=session, login=login, address=address)
    ok = check_password(password=password, password_hash=check.password_hash)
    user_id = conclude_log_in(check=check, ok=ok, address=address)
    user = session.get(User, user_id)
    assert user is not None
    return UserOut.of(user)


def start_session(*, session: Session, user_id: int, user_agent: str = "") -> str:
    """Create a pending session row; returns its one-time ticket (the row id).

    The browser exchanges the ticket for the HttpOnly cookie within TICKET_TTL
    (see :func:`activate_session`), so the long-lived token never reaches page scripts.
    """
    sid = security.new_session_id()
    session.add(
        AuthSession(
            id=sid,
            user_id=user_id,
            expires_at=utcnow() + TICKET_TTL,
            user_agent=user_agent[:255],
        )
    )
    session.flush()
    return sid


def sign_up_and_start_session(
    *,
    session: Session,
    username: str,
    email: str,
    password: str,
    user_agent: str = "",
    address: str | None = None,
) -> str:
    """Create the account and a pending session; returns the one-time log-in ticket."""
    user = sign_up(
        session=session, username=username, email=email, password=password, address=address
    )
    return start_session(session=session, user_id=user.id, user_agent=user_agent)


def create_user_and_start_session(
    *, session: Session, username: str, email: str, password_hash: str, user_agent: str = ""
) -> str:
    """After hashing: the account and its pending session; returns the log-in ticket."""
    user = create_user(session=session, username=username, email=email, password_hash=password_hash)
    return start_session(session=session, user_id=user.id, user_agent=user_agent)


def log_in_and_start_session(
    *, session: Session, login: str, password: str, user_agent: str = "", address: str | None = None
) -> str:
    """Check credentials and create a pending session; returns the one-time log-in ticket."""
    user = authenticate(session=session, login=login, password=password, address=address)
    return start_session(session=session, user_id=user.id, user_agent=user_agent)


def activate_session(*, session: Session, ticket: str) -> IssuedToken | None:
    """Redeem a ticket once, turning the pending row into a full session and signing its JWT."""
    if not ticket or len(ticket) > 64:
        return None
    now = utcnow()
    expires = now + timedelta(hours=get_settings().session_lifetime_hours)
    result = session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.id) == ticket,
            col(AuthSession.activated_at).is_(None),
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
        )
        .values(activated_at=now, expires_at=expires)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = session.get(AuthSession, ticket)
    assert row is not None
    token = security.encode_session_token(
        user_id=row.user_id, session_id=row.id, expires_at=expires, secret=get_settings().jwt_secret
    )
    return IssuedToken(token=token, expires_at=expires)


def resolve_session(*, session: Session, token: str) -> CurrentSession | None:
    """Who does this cookie sign in? Checks signature, expiry and that the row is live."""
    try:
        claims = security.decode_session_token(token, secret=get_settings().jwt_secret)
    except security.TokenError:
        return None
    row = session.get(AuthSession, claims.session_id)
    now = utcnow()
    if (
        row is None
        or row.user_id != claims.user_id
        or row.revoked_at is not None
        or row.activated_at is None
        or row.expires_at <= now
    ):
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    return CurrentSession(user=UserOut.of(user), session_id=row.id)


def session_is_live(*, session: Session, session_id: str, user_id: int) -> bool:
    row = session.get(AuthSession, session_id)
    return bool(
        row
        and row.user_id == user_id
        and row.revoked_at is None
        and row.activated_at is not None
        and row.expires_at > utcnow()
    )


def revoke_session(*, session: Session, session_id: str) -> None:
    """Log one session out; its browser's push subscription goes with it. Its open tabs (the
    browser's other tabs share it) are told on commit: they empty and go to /login."""
    push.forget_session(session=session, session_id=session_id)
    row = session.get(AuthSession, session_id)
    session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if row is not None:
        send_event_on_commit([row.user_id], wire.revoked(only=session_id))


def revoke_all_sessions(
    *, session: Session, user_id: int, keep_session_id: str | None = None
) -> int:
    """Log a user out everywhere (optionally keeping the current session). Returns how many."""
    stmt = (
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep_session_id:
        stmt = stmt.where(col(AuthSession.id) != keep_session_id)
    # Their browsers' push subscriptions go with them (services/push.py).
    push.forget_user(session=session, user_id=user_id, keep_session_id=keep_session_id)
    revoked = int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    # Every open tab of an ended session empties and goes to /login, on commit.
    send_event_on_commit([user_id], wire.revoked(keep=keep_session_id or ""))
    return revoked


def get_user(*, session: Session, user_id: int) -> UserOut | None:
    user = session.get(User, user_id)
    return UserOut.of(user) if user else None


def count_users(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(User)).one())


def purge_expired_sessions(
    *,
    session: Session,
    grace: timedelta = timedelta(0),
    revoked_grace: timedelta = timedelta(hours=1),
) -> int:
    """Delete log-in sessions past their expiry (unredeemed tickets included) and sessions
    revoked more than `revoked_grace` ago (kept a while so open tabs can tell why they were
    signed out). A deleted row signs nobody in, like a revoked one. Returns how many."""
    now = utcnow()
    table = AuthSession.__table__  # type: ignore[attr-defined]
    result = session.execute(
        table.delete().where(
            or_(
                table.c.expires_at < now - grace,
                table.c.revoked_at < now - revoked_grace,
            )
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def touch_last_seen(*, session: Session, user_id: int) -> datetime:
    now = utcnow()
    session.execute(update(User).where(col(User.id) == user_id).values(last_seen_at=now))
    return now
