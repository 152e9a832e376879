"""Profile edits and password changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from chatapp import security
from chatapp.models import User
from chatapp.services.accounts import MIN_PASSWORD_CHARS, UserOut, revoke_all_sessions
from chatapp.services.errors import FieldErrors, NotAllowed
from chatapp.services.media import claim_avatar
from chatapp.settings import get_settings

MAX_DISPLAY_NAME = 50
MAX_BIO = 280


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    user: UserOut
    replaced_avatar: str | None  # media id to delete once the change is committed


def validate_profile(display_name: str, bio: str) -> tuple[str, str, dict[str, str]]:
    name = " ".join(display_name.split())
    text = bio.strip()
    errors: dict[str, str] = {}
    if not 1 <= len(name) <= MAX_DISPLAY_NAME:
        errors["display_name"] = f"Display name must be 1–{MAX_DISPLAY_NAME} characters."
    if len(text) > MAX_BIO:
        errors["bio"] = f"Bio can be at most {MAX_BIO} characters (this one has {len(text)})."
    return name, text, errors


def update_profile(
    *,
    session: Session,
    user_id: int,
    display_name: str,
    bio: str,
    avatar_media_id: str | None = None,
) -> ProfileUpdate:
    name, text, errors = validate_profile(display_name, bio)
    if errors:
        raise FieldErrors(errors)
    user = session.get(User, user_id)
    if user is None:
        raise NotAllowed("Your account no longer exists.")
    replaced = None
    if avatar_media_id and avatar_media_id != user.avatar_ref:
        claim_avatar(session=session, media_id=avatar_media_id, owner_id=user_id)
        replaced = user.avatar_ref
        user.avatar_ref = avatar_media_id
    user.display_name = name
    user.bio = text
    session.add(user)
    session.flush()
    return ProfileUpdate(user=UserOut.of(user), replaced_avatar=replaced)


def change_password(
    *, session: Session, user_id: int, keep_session_id: str, current: str, new: str
) -> int:
    """Check the current password, set the new one, and revoke every other session.
    Returns how many sessions were revoked."""
    user = session.get(User, user_id)
    if user is None:
        raise NotAllowed("Your account no longer exists.")
    errors: dict[str, str] = {}
    if not security.verify_password(current, user.password_hash):
        errors["current"] = "That is not your current password."
    if len(new) < MIN_PASSWORD_CHARS:
        errors["new"] = f"Password must be at least {MIN_PASSWORD_CHARS} characters."
    elif len(new.encode()) > security.BCRYPT_MAX_BYTES:
        errors["new"] = "Password must be at most 72 bytes (bcrypt's limit)."
    if errors:
        raise FieldErrors(errors)
    user.password_hash = security.hash_password(new, rounds=get_settings().bcrypt_rounds)
    session.add(user)
    return revoke_all_sessions(session=session, user_id=user_id, keep_session_id=keep_session_id)
