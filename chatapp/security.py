"""Password hashing (bcrypt) and session tokens (JWT, HS256 only)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt

JWT_ALGORITHM = "HS256"
# bcrypt only looks at the first 72 bytes; longer passwords are refused, never truncated.
BCRYPT_MAX_BYTES = 72


class TokenError(Exception):
    """The token is missing, malformed, forged, expired or of the wrong kind."""


def hash_password(password: str, *, rounds: int = 12) -> str:
    raw = password.encode()
    if len(raw) > BCRYPT_MAX_BYTES:
        raise ValueError("password longer than 72 bytes")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    raw = password.encode()
    if len(raw) > BCRYPT_MAX_BYTES:
        raw = raw[:BCRYPT_MAX_BYTES]  # still spend the time: timing must not tell
        try:
            bcrypt.checkpw(raw, password_hash.encode())
        except ValueError:
            pass
        return False
    try:
        return bcrypt.checkpw(raw, password_hash.encode())
    except ValueError:
        return False


def new_session_id() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


@dataclass(frozen=True, slots=True)
class SessionClaims:
    user_id: int
    session_id: str
    expires_at: datetime


def encode_session_token(
    *, user_id: int, session_id: str, expires_at: datetime, secret: str
) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "jti": session_id,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "typ": "session",
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def decode_session_token(
    token: str, *, secret: str, leeway: timedelta = timedelta(0)
) -> SessionClaims:
    """Verify signature (HS256 only: ``alg: none`` and every other algorithm are refused),
    expiry and shape."""
    if not token or len(token) > 4096:
        raise TokenError("no token")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "jti", "iat"]},
            leeway=leeway,
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    if payload.get("typ") != "session":
        raise TokenError("not a session token")
    try:
        user_id = int(payload["sub"])
    except (TypeError, ValueError) as exc:
        raise TokenError("bad subject") from exc
    jti = payload["jti"]
    if not isinstance(jti, str) or not jti:
        raise TokenError("bad jti")
    return SessionClaims(
        user_id=user_id,
        session_id=jti,
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
    )
