"""Upload rate, per-user quota and the purge of uploads never sent (issue 11, finding 6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp.models import Media, User, utcnow
from chatapp.services import conversations, dto, media
from chatapp.services.errors import ServiceError
from chatapp.settings import get_settings
from chatapp.storage.local import LocalStorage
from tests.storage.conftest import make_user
from tests.support.images import png


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def _upload(db: Session, store: LocalStorage, owner: int, purpose: str = "chat") -> dto.MediaOut:
    out = media.store_upload(
        session=db, owner_id=owner, purpose=purpose, data=png(16, 16), storage=store
    )
    db.commit()
    return out


def test_uploads_per_user_per_hour(db: Session, store: LocalStorage) -> None:
    alice, bob = make_user(db, "alice"), make_user(db, "bob")
    limit = get_settings().uploads_per_hour
    for _ in range(limit):
        _upload(db, store, alice)
    with pytest.raises(ServiceError) as refused:
        _upload(db, store, alice)
    assert str(refused.value) == f"Too many uploads. Try again later (at most {limit} an hour)."
    db.rollback()
    _upload(db, store, bob)  # someone else is not affected


def test_stored_bytes_per_user_are_capped(
    db: Session, store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_user(db, "alice")
    quota = get_settings().media_quota_mb * 1024 * 1024
    # Alice already keeps almost her whole quota.
    db.add(
        Media(
            id="bigfileofalice",
            owner_id=alice,
            purpose="chat",
            storage="local",
            full_key="chat/bi/bigfileofalice.png",
            thumb_key="chat/bi/bigfileofalice_t.png",
            mime="image/png",
            width=1,
            height=1,
            bytes=quota - 10,
        )
    )
    db.commit()
    with pytest.raises(ServiceError, match="storage"):
        _upload(db, store, alice)
    db.rollback()
    assert _count(db, alice) == 1
    assert list((store.root).rglob("*.png")) == []  # nothing was even processed


def _count(db: Session, owner: int) -> int:
    return int(
        db.execute(sa.text("SELECT COUNT(*) FROM media WHERE owner_id=:o"), {"o": owner}).scalar()
    )


def _age(db: Session, media_id: str, hours: float) -> None:
    row = db.get(Media, media_id)
    assert row is not None
    row.created_at = utcnow() - timedelta(hours=hours)
    db.add(row)
    db.commit()


def test_uploads_never_sent_are_purged_after_the_grace_period(
    db: Session, store: LocalStorage
) -> None:
    alice, bob = make_user(db, "alice"), make_user(db, "bob")
    conv = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    db.commit()
    grace = get_settings().orphan_upload_grace_hours
    sent = _upload(db, store, alice)
    media.claim_for_message(session=db, media_id=sent.id, sender_id=alice, conversation_id=conv)
    db.commit()
    forgotten = _upload(db, store, alice)  # attached in the composer, never sent
    fresh = _upload(db, store, alice)  # still within the grace period
    avatar_in_use = _upload(db, store, alice, "avatar")
    user = db.get(User, alice)
    assert user is not None
    user.avatar_ref = avatar_in_use.id
    db.add(user)
    db.commit()
    avatar_dropped = _upload(db, store, alice, "avatar")  # uploaded, profile never saved
    for m in (sent, forgotten, avatar_in_use, avatar_dropped):
        _age(db, m.id, grace + 1)

    removed = media.purge_orphans(session=db, storage=store, older_than=timedelta(hours=grace))
    db.commit()
    assert removed == 2
    kept = {m.id for m in (sent, fresh, avatar_in_use)}
    rows = {r for (r,) in db.execute(sa.text("SELECT id FROM media")).all()}
    assert rows == kept
    files = {p.stem.removesuffix("_t") for p in store.root.rglob("*.*")}
    assert files == kept  # the purged ones' files are gone too, the others' are there
