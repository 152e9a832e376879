"""Profile edits and password changes."""

from __future__ import annotations

import unicodedata

from sqlmodel import Session

from chatapp import security, wire
from chatapp.models import User
from chatapp.services.accounts import (
    hash_new_password,
    password_problem,
    revoke_all_sessions,
)
from chatapp.services.dto import ProfileUpdate, UserOut
from chatapp.services.errors import FieldErrors, NotAllowed, Throttled
from chatapp.services.events import send_event_on_commit
from chatapp.services.media import claim_avatar, thumb_url
from chatapp.services.throttle import get_login_throttle, wait_message

MAX_DISPLAY_NAME = 50
MAX_BIO = 280


# Characters that look like nothing but change what a name shows: Hangul and Braille blanks
# (a name of only these looks empty), plus every format character (Unicode category Cf:
# bidirectional overrides, isolates and marks, zero-width spaces, joiners, soft hyphens,
# tag characters ...) except two, where they are spelling: a zero-width joiner inside an emoji
# sequence and a zero-width non-joiner between letters.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
_ZWJ, _ZWNJ = "\u200d", "\u200c"


def _emoji_part(ch: str) -> bool:
    # An emoji (So), the emoji variation selector, or a skin tone (category Sk, as are
    # modifier symbols like ^ and ` after which a joiner joins nothing: so not "Sk" itself).
    return unicodedata.category(ch) == "So" or ch == "\ufe0f" or 0x1F3FB <= ord(ch) <= 0x1F3FF


def clean_name(raw: str) -> str:
    """A display name without bidirectional controls or invisible characters, its white
    space collapsed to single spaces."""
    kept: list[str] = []
    for i, ch in enumerate(raw):
        if ch in _BLANKS:
            continue
        cat = unicodedata.category(ch)
        if cat == "Cf":
            before = raw[i - 1] if i else ""
            after = raw[i + 1] if i + 1 < len(raw) else ""
            joins_emoji = ch == _ZWJ and before and after and _emoji_part(before)
            joins_letters = (
                ch == _ZWNJ and before.isalpha() and after.isalpha() if before and after else False
            )
            if not (joins_emoji or joins_letters):
                continue
        elif cat in ("Zl", "Zp", "Cc"):
            kept.append(" ")
            continue
        kept.append(ch)
    return " ".join("".join(kept).split())


def validate_profile(display_name: str, bio: str) -> tuple[str, str, dict[str, str]]:
    name = clean_name(display_name)
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
    # Contacts (and the user's other tabs) see the new name and picture at once, on commit.
    from chatapp.services.conversations import contact_ids

    send_event_on_commit(
        [*contact_ids(session=session, user_id=user_id), user_id],
        {
            "type": "person",
            "user": user_id,
            "title": user.display_name,
            "initials": wire.initials(user.display_name),
            "avatar": thumb_url(user.avatar_ref),
            "bio": user.bio,
        },
    )
    return ProfileUpdate(user=UserOut.of(user), replaced_avatar=replaced)


WRONG_CURRENT = "That is not your current password."


def _change_key(user_id: int) -> str:
    return f"password-change|user:{user_id}"


def begin_password_change(*, session: Session, user_id: int, new: str) -> str:
    """Before bcrypt: the wrong-guess lock, the new password's shape; returns the stored hash
    (to check the current password against, in the hashing pool)."""
    wait = get_login_throttle().locked_for(_change_key(user_id))
    if wait:
        raise Throttled(wait_message(wait, "wrong current passwords"))
    if problem := password_problem(new):
        raise FieldErrors({"new": problem})
    user = session.get(User, user_id)
    if user is None:
        raise NotAllowed("Your account no longer exists.")
    return user.password_hash


def finish_password_change(
    *,
    session: Session,
    user_id: int,
    keep_session_id: str,
    current_ok: bool,
    checked_hash: str,
    new_hash: str,
) -> int:
    """After bcrypt: count a wrong guess, or set the new hash and revoke every other session.
    Returns how many sessions were revoked."""
    throttle = get_login_throttle()
    if not current_ok:
        throttle.record_failure(_change_key(user_id))
        raise FieldErrors({"current": WRONG_CURRENT})
    user = session.get(User, user_id)
    if user is None:
        raise NotAllowed("Your account no longer exists.")
    if user.password_hash != checked_hash:  # changed meanwhile (another tab or device)
        raise FieldErrors({"current": "Your password was just changed elsewhere. Try again."})
    throttle.record_success(_change_key(user_id))
    user.password_hash = new_hash
    session.add(user)
    return revoke_all_sessions(session=session, user_id=user_id, keep_session_id=keep_session_id)


def change_password(
    *, session: Session, user_id: int, keep_session_id: str, current: str, new: str
) -> int:
    """Check the current password, set the new one, and revoke every other session.
    Returns how many sessions were revoked. (Synchronous composition for scripts and tests;
    the settings page runs the bcrypt steps in the hashing pool, chatapp/state/passwords.py.)"""
    stored = begin_password_change(session=session, user_id=user_id, new=new)
    ok = security.verify_password(current, stored)
    return finish_password_change(
        session=session,
        user_id=user_id,
        keep_session_id=keep_session_id,
        current_ok=ok,
        checked_hash=stored,
        new_hash=hash_new_password(password=new) if ok else "",
    )


def set_read_receipts(*, session: Session, user_id: int, on: bool) -> bool:
    """The "Send read receipts" setting (off: others do not see when you read, and you do not
    see when they do). Returns the setting as stored."""
    user = session.get(User, user_id)
    if user is None:
        raise NotAllowed("Your account no longer exists.")
    user.read_receipts = bool(on)
    session.add(user)
    session.flush()
    return user.read_receipts


def read_receipts(*, session: Session, user_id: int) -> bool:
    user = session.get(User, user_id)
    return bool(user and user.read_receipts)
