"""services/media.py's own steps on MariaDB and the Cloudinary stand-in: what an upload that
cannot be recorded leaves behind (nothing), best-effort clean-up, orphans re-checked before
their rows go, and who may attach what. Found by mutation testing and branch coverage
(TESTING.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from chatapp.models import Media, utcnow
from chatapp.services import conversations, media
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.settings import get_settings
from chatapp.storage.cloudinary_store import CloudinaryStorage
from chatapp.storage.local import LocalStorage
from tests.storage.conftest import make_user, media_rows
from tests.support.clock import FakeClock
from tests.support.cloudinary_standin import CloudinaryStandIn
from tests.support.images import png


def _public_ids(standin: CloudinaryStandIn, type: str) -> set[str]:
    return {pid for (_rt, t, pid) in standin.assets if t == type}


@pytest.mark.parametrize(
    ("purpose", "type", "stored"),
    [
        ("chat", "authenticated", ("png", "image/png", 40, 30)),
        ("avatar", "upload", ("jpg", "image/jpeg", 512, 512)),  # a square, no alpha: JPEG
    ],
)
def test_discarding_a_prepared_upload_deletes_both_files_where_they_are(
    standin: CloudinaryStandIn,
    cloud: CloudinaryStorage,
    purpose: str,
    type: str,
    stored: tuple[str, str, int, int],
) -> None:
    """The upload route's clean-up when the row cannot be written (web/media_routes.py)."""
    prepared = media.prepare_upload(purpose=purpose, data=png(40, 30), storage=cloud)
    folder = "chat" if purpose == "chat" else "avatars"
    stem = f"{folder}/{prepared.id[:2]}/{prepared.id}"
    assert _public_ids(standin, type) == {stem, f"{stem}_t"}
    ext, mime, width, height = stored
    assert (prepared.full_key, prepared.thumb_key) == (f"{stem}.{ext}", f"{stem}_t.{ext}")
    assert (prepared.storage, prepared.purpose, prepared.mime) == ("cloudinary", purpose, mime)
    assert (prepared.width, prepared.height) == (width, height)
    media.discard_prepared(prepared=prepared, storage=cloud)
    assert standin.assets == {}
    assert {r.params["type"] for r in standin.calls("destroy")} == {type}


def test_discarding_goes_on_when_one_file_is_already_gone(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    prepared = media.prepare_upload(purpose="chat", data=png(), storage=store)
    full = store.local_path(prepared.full_key)
    assert full is not None and full.exists()
    full.unlink()  # e.g. a clean-up that already ran

    class Flaky(LocalStorage):
        def delete(self, key: str, *, private: bool) -> None:
            if key == prepared.full_key:
                raise OSError("gone")
            super().delete(key, private=private)

    media.discard_prepared(prepared=prepared, storage=Flaky(tmp_path / "media"))
    assert not list((tmp_path / "media").rglob("*.png"))


def test_an_upload_that_cannot_be_recorded_leaves_no_files(
    db: Session, tmp_path: Path, mysql_engine: sa.Engine
) -> None:
    store = LocalStorage(tmp_path / "media")
    with pytest.raises(sa.exc.IntegrityError):  # no such owner: the row's foreign key fails
        media.store_upload(session=db, owner_id=10**9, purpose="chat", data=png(), storage=store)
    db.rollback()
    assert not list((tmp_path / "media").rglob("*.png"))
    assert media_rows(mysql_engine) == 0


def test_an_unknown_purpose_is_refused_before_any_work(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    alice = make_user(db, "alice")
    for call in (
        lambda: media.store_upload(
            session=db, owner_id=alice, purpose="banner", data=png(), storage=store
        ),
        lambda: media.prepare_upload(purpose="banner", data=png(), storage=store),
    ):
        with pytest.raises(ServiceError, match=r"^Unknown upload purpose\.$"):
            call()
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").rglob("*"))


def test_forgetting_orphans_rechecks_each_one(db: Session, tmp_path: Path) -> None:
    """Rows go only if they are still orphans: one sent meanwhile stays, one already gone is
    not counted, and nothing asked for is nothing done."""
    store = LocalStorage(tmp_path / "media")
    alice, bob = make_user(db, "alice"), make_user(db, "bob")
    conv = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    ids = [
        media.store_upload(session=db, owner_id=alice, purpose="chat", data=png(), storage=store).id
        for _ in range(3)
    ]
    db.commit()
    for mid in ids:
        row = db.get(Media, mid)
        assert row is not None
        row.created_at = utcnow() - timedelta(days=2)
        db.add(row)
    db.commit()
    week = timedelta(days=1)
    found = media.find_orphans(session=db, older_than=week)
    assert {o.id for o in found} == set(ids)
    assert all(o.private for o in found)
    media.claim_for_message(session=db, media_id=ids[0], sender_id=alice, conversation_id=conv)
    db.commit()
    assert media.forget_orphans(session=db, ids=[], older_than=week) == 0
    assert media.forget_orphans(session=db, ids=[*ids, "never-existed"], older_than=week) == 2
    db.commit()
    assert db.get(Media, ids[0]) is not None
    assert media.forget_orphans(session=db, ids=ids, older_than=week) == 0


def test_a_profile_picture_upload_must_be_the_owners_avatar(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    alice, bob = make_user(db, "alice"), make_user(db, "bob")
    avatar = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(), storage=store
    )
    chat = media.store_upload(session=db, owner_id=alice, purpose="chat", data=png(), storage=store)
    db.commit()
    assert media.claim_avatar(session=db, media_id=avatar.id, owner_id=alice).id == avatar.id
    for media_id, owner in ((avatar.id, bob), (chat.id, alice), ("nope", alice)):
        with pytest.raises(NotAllowed, match=r"^Upload the avatar again\.$"):
            media.claim_avatar(session=db, media_id=media_id, owner_id=owner)


def test_deleting_media_that_is_already_gone_is_not_an_error(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    media.delete_media(session=db, media_id="never-existed", storage=store)


def test_an_upload_is_described_by_what_was_stored(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    alice = make_user(db, "alice")
    out = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(64, 64), storage=store
    )
    assert (out.purpose, out.mime, out.width, out.height) == ("avatar", "image/jpeg", 512, 512)
    assert (out.thumb_url, out.full_url) == (f"/media/{out.id}/thumb", f"/media/{out.id}/full")
    assert media.thumb_url(None) == media.full_url("") == ""  # no image, no address
    assert media.full_url(out.id) == f"/media/{out.id}/full"


def test_the_storage_quota_may_be_filled_exactly(db: Session) -> None:
    alice = make_user(db, "alice")
    quota = get_settings().media_quota_mb * 1024 * 1024
    media.admit_upload(session=db, owner_id=alice, size=quota)  # nothing stored yet
    with pytest.raises(ServiceError) as full:
        media.admit_upload(session=db, owner_id=alice, size=quota + 1)
    assert str(full.value) == (
        f"Your image storage is full ({get_settings().media_quota_mb} MB). "
        "Delete some images and try again."
    )


def _orphan_row(
    db: Session, owner: int, mid: str, purpose: str = "chat", created_at: datetime | None = None
) -> None:
    db.add(
        Media(
            id=mid,
            owner_id=owner,
            purpose=purpose,
            storage="local",
            full_key=f"{purpose}/{mid[:2]}/{mid}.png",
            thumb_key=f"{purpose}/{mid[:2]}/{mid}_t.png",
            mime="image/png",
            width=1,
            height=1,
            bytes=1,
            created_at=created_at or utcnow() - timedelta(hours=48),
        )
    )


def test_orphans_are_older_than_the_grace_to_the_microsecond(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock().install_utcnow(monkeypatch, media)
    alice = make_user(db, "alice")
    _orphan_row(db, alice, "exactly-at-grace", created_at=clock.utcnow())
    db.commit()
    grace = timedelta(hours=24)
    clock.advance(grace.total_seconds())
    assert media.find_orphans(session=db, older_than=grace) == []
    clock.advance(0.001)
    assert [o.id for o in media.find_orphans(session=db, older_than=grace)] == ["exactly-at-grace"]


def test_finding_orphans_takes_at_most_the_limit_and_tells_private_from_public(
    db: Session,
) -> None:
    alice = make_user(db, "alice")
    _orphan_row(db, alice, "chat-orphan")
    _orphan_row(db, alice, "avatar-orphan", purpose="avatar")
    db.commit()
    found = media.find_orphans(session=db, older_than=timedelta(hours=1))
    assert {o.id: o.private for o in found} == {"chat-orphan": True, "avatar-orphan": False}
    assert len(media.find_orphans(session=db, older_than=timedelta(hours=1), limit=1)) == 1


def test_forgetting_one_orphan_forgets_only_that_one(db: Session) -> None:
    alice = make_user(db, "alice")
    for mid in ("a-orphan", "b-orphan", "c-orphan"):
        _orphan_row(db, alice, mid)
    db.commit()
    assert media.forget_orphans(session=db, ids=["b-orphan"], older_than=timedelta(hours=1)) == 1
    db.commit()
    assert db.get(Media, "b-orphan") is None
    assert db.get(Media, "a-orphan") is not None and db.get(Media, "c-orphan") is not None


def test_purging_takes_more_than_one_housekeeping_batch(db: Session, tmp_path: Path) -> None:
    alice = make_user(db, "alice")
    for i in range(201):
        _orphan_row(db, alice, f"orphan-{i:03d}")
    db.commit()
    store = LocalStorage(tmp_path / "media")
    assert media.purge_orphans(session=db, storage=store, older_than=timedelta(hours=1)) == 201


def test_purged_orphans_and_deleted_media_leave_cloudinary_by_their_own_type(
    db: Session, standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    alice = make_user(db, "alice")
    chat = media.store_upload(session=db, owner_id=alice, purpose="chat", data=png(), storage=cloud)
    avatar = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(), storage=cloud
    )
    kept = media.store_upload(session=db, owner_id=alice, purpose="chat", data=png(), storage=cloud)
    db.commit()
    for mid in (chat.id, avatar.id):
        row = db.get(Media, mid)
        assert row is not None
        row.created_at = utcnow() - timedelta(days=2)
        db.add(row)
    db.commit()
    assert media.purge_orphans(session=db, storage=cloud, older_than=timedelta(days=1)) == 2
    db.commit()
    media.delete_media(session=db, media_id=kept.id, storage=cloud)
    db.commit()
    assert standin.assets == {}
    destroyed = {
        (r.params["public_id"].split("/")[0], r.params["type"]) for r in standin.calls("destroy")
    }
    assert destroyed == {("chat", "authenticated"), ("avatars", "upload")}
    assert media_rows_of(db, alice) == 0


def media_rows_of(db: Session, owner: int) -> int:
    return len(db.exec(select(Media).where(Media.owner_id == owner)).all())


def test_a_sent_image_cannot_be_moved_to_another_conversation(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    alice, bob, carol = (make_user(db, n) for n in ("alice", "bob", "carol"))
    with_bob = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    with_carol = conversations.open_direct(session=db, user_id=alice, other_user_id=carol)
    image = media.store_upload(
        session=db, owner_id=alice, purpose="chat", data=png(), storage=store
    )
    avatar = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(), storage=store
    )
    db.commit()
    media.claim_for_message(
        session=db, media_id=image.id, sender_id=alice, conversation_id=with_bob
    )
    media.claim_for_message(
        session=db, media_id=image.id, sender_id=alice, conversation_id=with_bob
    )
    db.commit()
    for media_id, conv in ((image.id, with_carol), (avatar.id, with_bob), ("nope", with_bob)):
        with pytest.raises(
            NotAllowed, match=r"^That image can't be sent here\. Attach it again\.$"
        ):
            media.claim_for_message(
                session=db, media_id=media_id, sender_id=alice, conversation_id=conv
            )
    db.rollback()
    assert media.viewable(session=db, viewer_id=bob, media_id=image.id) is not None
    assert media.viewable(session=db, viewer_id=carol, media_id=image.id) is None


def test_orphans_are_found_on_sqlite_too(tmp_path: Path) -> None:
    """The embedded default compares text case-sensitively and has no MariaDB collation."""
    from chatapp import db as chat_db
    from chatapp.services import accounts

    url = f"sqlite:///{tmp_path / 'chat.db'}"
    chat_db.upgrade(url)
    engine = chat_db.make_engine(url)
    try:
        with Session(engine) as s:
            user = accounts.sign_up(
                session=s, username="alice", email="a@example.com", password="x" * 8
            )
            _orphan_row(s, user.id, "chat-orphan")
            _orphan_row(s, user.id, "avatar-orphan", purpose="avatar")
            s.commit()
            found = media.find_orphans(session=s, older_than=timedelta(hours=1))
            assert {o.id: o.private for o in found} == {"chat-orphan": True, "avatar-orphan": False}
    finally:
        engine.dispose()
