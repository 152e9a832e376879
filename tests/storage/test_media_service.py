"""services/media.py's own steps on MariaDB and the Cloudinary stand-in: what an upload that
cannot be recorded leaves behind (nothing), best-effort clean-up, orphans re-checked before
their rows go, and who may attach what. Found by mutation testing and branch coverage
(TESTING.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp.models import Media, utcnow
from chatapp.services import conversations, media
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.storage.cloudinary_store import CloudinaryStorage
from chatapp.storage.local import LocalStorage
from tests.storage.conftest import make_user, media_rows
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
        with pytest.raises(ServiceError, match="Unknown upload purpose"):
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
        with pytest.raises(NotAllowed):
            media.claim_avatar(session=db, media_id=media_id, owner_id=owner)


def test_deleting_media_that_is_already_gone_is_not_an_error(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    media.delete_media(session=db, media_id="never-existed", storage=store)
