"""The scheduled clean-up (issue 11, findings 6 and 9): log-in sessions past expiry and
uploads never sent are deleted, on a timer, by every worker (idempotently)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp.models import AuthSession, Media, utcnow
from chatapp.services import accounts, media
from chatapp.storage.local import LocalStorage
from tests.support.images import png

PW = "correct horse"


def _sessions(db: Session) -> set[str]:
    return {sid for (sid,) in db.execute(sa.text("SELECT id FROM auth_sessions")).all()}


def _session(
    db: Session, user_id: int, *, expires_in: timedelta, revoked_ago: timedelta | None
) -> str:
    sid = accounts.start_session(session=db, user_id=user_id)
    row = db.get(AuthSession, sid)
    assert row is not None
    row.activated_at = utcnow() - timedelta(days=1)
    row.expires_at = utcnow() + expires_in
    row.revoked_at = utcnow() - revoked_ago if revoked_ago is not None else None
    db.add(row)
    db.commit()
    return sid


def test_sessions_past_expiry_are_purged(db: Session) -> None:
    user = accounts.sign_up(session=db, username="alice", email="a@example.com", password=PW)
    live = _session(db, user.id, expires_in=timedelta(days=3), revoked_ago=None)
    expired = _session(db, user.id, expires_in=-timedelta(minutes=5), revoked_ago=None)
    stale_ticket = _session(db, user.id, expires_in=-timedelta(seconds=30), revoked_ago=None)
    just_revoked = _session(
        db, user.id, expires_in=timedelta(days=3), revoked_ago=timedelta(minutes=1)
    )
    long_revoked = _session(
        db, user.id, expires_in=timedelta(days=3), revoked_ago=timedelta(days=2)
    )
    removed = accounts.purge_expired_sessions(session=db)
    db.commit()
    assert removed == 3
    assert _sessions(db) == {live, just_revoked}
    assert {expired, stale_ticket, long_revoked}.isdisjoint(_sessions(db))


async def test_housekeeping_runs_on_a_schedule(
    db: Session, mysql_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import chatapp.db
    from chatapp.state import housekeeping

    monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
    store = LocalStorage(tmp_path / "media")
    monkeypatch.setattr(housekeeping, "get_storage", lambda: store)
    user = accounts.sign_up(session=db, username="bob", email="b@example.com", password=PW)
    db.commit()
    expired = _session(db, user.id, expires_in=-timedelta(hours=1), revoked_ago=None)
    orphan = media.store_upload(
        session=db, owner_id=user.id, purpose="chat", data=png(8, 8), storage=store
    )
    db.commit()
    row = db.get(Media, orphan.id)
    assert row is not None
    row.created_at = utcnow() - timedelta(days=3)
    db.add(row)
    db.commit()

    keeper = housekeeping.Housekeeping(interval=0.05, first_delay=0.0)
    keeper.start()
    try:
        await asyncio.wait_for(keeper.runs.wait_for(2), 10)  # ran, and ran again
    finally:
        await keeper.stop()
    db.expire_all()
    assert expired not in _sessions(db)
    assert db.get(Media, orphan.id) is None
    assert not list(store.root.rglob("*.png"))
    assert keeper.last == {"sessions": 0, "uploads": 0}  # the second run found nothing left
