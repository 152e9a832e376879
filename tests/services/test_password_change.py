"""Password changes on MariaDB: the current password is checked, wrong guesses are throttled
(issue 11, finding 9), the other sessions are logged out."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from chatapp.services import accounts, profiles
from chatapp.services.errors import FieldErrors, Throttled

PW = "correct horse"


def _user_with_sessions(db: Session, n: int = 2) -> tuple[int, list[str]]:
    user = accounts.sign_up(session=db, username="alice", email="a@example.com", password=PW)
    sids = [accounts.start_session(session=db, user_id=user.id) for _ in range(n)]
    for sid in sids:
        assert accounts.activate_session(session=db, ticket=sid) is not None
    db.commit()
    return user.id, sids


def test_change_password_checks_the_current_one_and_logs_out_the_others(db: Session) -> None:
    uid, (mine, other) = _user_with_sessions(db)
    with pytest.raises(FieldErrors) as exc:
        profiles.change_password(
            session=db, user_id=uid, keep_session_id=mine, current="nope", new="new password 1"
        )
    assert "current" in exc.value.errors
    db.rollback()
    revoked = profiles.change_password(
        session=db, user_id=uid, keep_session_id=mine, current=PW, new="new password 1"
    )
    db.commit()
    assert revoked == 1
    assert accounts.session_is_live(session=db, session_id=mine, user_id=uid)
    assert not accounts.session_is_live(session=db, session_id=other, user_id=uid)
    assert accounts.authenticate(session=db, login="alice", password="new password 1")


def test_wrong_current_passwords_are_throttled(db: Session) -> None:
    """Someone at a signed-in, unattended computer must not be able to guess the password
    through the settings page (and then lock the owner out of their other devices)."""
    uid, (mine, _) = _user_with_sessions(db)
    for i in range(5):
        with pytest.raises(FieldErrors):
            profiles.change_password(
                session=db, user_id=uid, keep_session_id=mine, current=f"guess {i}", new="x" * 12
            )
        db.rollback()
    with pytest.raises(Throttled, match="minutes"):
        profiles.change_password(
            session=db, user_id=uid, keep_session_id=mine, current=PW, new="new password 1"
        )
    db.rollback()
    assert accounts.authenticate(session=db, login="alice", password=PW)  # unchanged
