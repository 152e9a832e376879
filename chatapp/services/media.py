"""Uploaded images: validate + store, and decide who may see them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from chatapp.models import Conversation, ConversationMember, Media, Message, User, utcnow
from chatapp.services import images
from chatapp.services.dto import MediaOut
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.services.membership import window
from chatapp.services.throttle import get_login_throttle
from chatapp.settings import get_settings
from chatapp.storage.base import MediaStorage

PURPOSES = ("chat", "avatar")


def is_private(purpose: str) -> bool:
    """Chat images are private (stored where only the app reads them, served only to who may
    read the message: ``viewable``); avatars and group pictures are seen by every signed-in
    user. The one place this rule is written."""
    return purpose == "chat"


def thumb_url(media_id: str | None) -> str:
    return f"/media/{media_id}/thumb" if media_id else ""


def full_url(media_id: str | None) -> str:
    return f"/media/{media_id}/full" if media_id else ""


def admit_upload(*, session: Session, owner_id: int, size: int) -> None:
    """Before any decoding: the hourly upload limit and the stored-bytes quota of `owner_id`."""
    if not get_login_throttle().upload(owner_id):
        raise ServiceError(
            "Too many uploads. Try again later (at most "
            f"{get_settings().uploads_per_hour} an hour)."
        )
    quota = get_settings().media_quota_mb * 1024 * 1024
    used = session.exec(
        select(func.coalesce(func.sum(Media.bytes), 0)).where(Media.owner_id == owner_id)
    ).one()
    if int(used) + size > quota:
        raise ServiceError(
            "Your image storage is full "
            f"({get_settings().media_quota_mb} MB). Delete some images and try again."
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """An upload decoded, cleaned and put in storage, not yet recorded."""

    id: str
    purpose: str
    storage: str
    full_key: str
    thumb_key: str
    mime: str
    width: int
    height: int
    bytes: int


def prepare_upload(*, purpose: str, data: bytes, storage: MediaStorage) -> Prepared:
    """Validate and re-encode the image and store both sizes. CPU and storage I/O, no
    database: run it in a thread of its own, never holding a database connection."""
    if purpose not in PURPOSES:
        raise ServiceError("Unknown upload purpose.")
    processed = (
        images.process_avatar(data) if purpose == "avatar" else images.process_chat_image(data)
    )
    mid = secrets.token_urlsafe(18)[:24]
    private = is_private(purpose)
    folder = "chat" if private else "avatars"
    full_key = f"{folder}/{mid[:2]}/{mid}.{processed.full.ext}"
    thumb_key = f"{folder}/{mid[:2]}/{mid}_t.{processed.thumb.ext}"
    storage.put(full_key, processed.full.data, mime=processed.full.mime, private=private)
    try:
        storage.put(thumb_key, processed.thumb.data, mime=processed.thumb.mime, private=private)
    except BaseException:
        # Both: a failed (timed-out) thumbnail upload may still have been stored.
        _delete_files(storage, (full_key, thumb_key), private=private)
        raise
    return Prepared(
        id=mid,
        purpose=purpose,
        storage=storage.name,
        full_key=full_key,
        thumb_key=thumb_key,
        mime=processed.full.mime,
        width=processed.full.width,
        height=processed.full.height,
        bytes=len(processed.full.data),
    )


def record_upload(*, session: Session, owner_id: int, prepared: Prepared) -> MediaOut:
    row = Media(
        id=prepared.id,
        owner_id=owner_id,
        purpose=prepared.purpose,
        storage=prepared.storage,
        full_key=prepared.full_key,
        thumb_key=prepared.thumb_key,
        mime=prepared.mime,
        width=prepared.width,
        height=prepared.height,
        bytes=prepared.bytes,
    )
    session.add(row)
    session.flush()
    return MediaOut.of(row)


def discard_prepared(*, prepared: Prepared, storage: MediaStorage) -> None:
    """The files of an upload that could not be recorded."""
    keys = (prepared.full_key, prepared.thumb_key)
    _delete_files(storage, keys, private=is_private(prepared.purpose))


def _delete_files(storage: MediaStorage, keys: tuple[str, ...], *, private: bool) -> None:
    for key in keys:
        try:
            storage.delete(key, private=private)
        except Exception:  # noqa: S112 - best effort clean-up, the original error matters
            continue


def store_upload(
    *, session: Session, owner_id: int, purpose: str, data: bytes, storage: MediaStorage
) -> MediaOut:
    """Limits, then validate + re-encode + store, then record. Blocking: run in a thread.
    (Request handlers run the three steps separately, so that no database connection is
    held while an image is decoded: web/media_routes.py, state/uploads.py.)"""
    if purpose not in PURPOSES:
        raise ServiceError("Unknown upload purpose.")
    admit_upload(session=session, owner_id=owner_id, size=len(data))
    prepared = prepare_upload(purpose=purpose, data=data, storage=storage)
    try:
        return record_upload(session=session, owner_id=owner_id, prepared=prepared)
    except BaseException:
        discard_prepared(prepared=prepared, storage=storage)
        raise


@dataclass(frozen=True, slots=True)
class Orphan:
    id: str
    keys: tuple[str, str]
    private: bool


def find_orphans(
    *, session: Session, older_than: timedelta, limit: int = 200, ids: list[str] | None = None
) -> list[Orphan]:
    """Uploads never attached to anything (a chat image never sent, an avatar whose profile
    was never saved) older than `older_than` (among `ids`, when given)."""
    cutoff = utcnow() - older_than
    in_use = select(User.avatar_ref).where(col(User.avatar_ref).is_not(None))
    pictures = select(Conversation.picture_ref).where(col(Conversation.picture_ref).is_not(None))
    query = select(Media).where(
        col(Media.created_at) < cutoff,
        or_(
            (col(Media.purpose) == "chat") & col(Media.conversation_id).is_(None),
            (col(Media.purpose) == "avatar")
            & col(Media.id).not_in(in_use)
            & col(Media.id).not_in(pictures),
        ),
    )
    if ids is not None:
        query = query.where(col(Media.id).in_(ids))
    rows = session.exec(query.limit(limit)).all()
    return [Orphan(m.id, (m.full_key, m.thumb_key), is_private(m.purpose)) for m in rows]


def delete_orphan_files(*, orphans: list[Orphan], storage: MediaStorage) -> None:
    """Storage I/O only (Cloudinary: HTTP): no database connection is held meanwhile."""
    for o in orphans:
        _delete_files(storage, o.keys, private=o.private)


def forget_orphans(*, session: Session, ids: list[str], older_than: timedelta) -> int:
    """Delete the rows, re-checking that each is still an orphan (one may have been sent
    while its files were being deleted: then it stays, without files, as a lost image)."""
    if not ids:
        return 0
    found = find_orphans(session=session, older_than=older_than, limit=len(ids), ids=ids)
    still = {o.id for o in found}
    gone = [i for i in ids if i in still]
    for mid in gone:
        row = session.get(Media, mid)
        if row is not None:
            session.delete(row)
    session.flush()
    return len(gone)


def purge_orphans(*, session: Session, storage: MediaStorage, older_than: timedelta) -> int:
    """All three steps in one go (scripts, tests). Returns how many uploads were deleted."""
    orphans = find_orphans(session=session, older_than=older_than, limit=10_000)
    delete_orphan_files(orphans=orphans, storage=storage)
    return forget_orphans(session=session, ids=[o.id for o in orphans], older_than=older_than)


def viewable(*, session: Session, viewer_id: int, media_id: str) -> Media | None:
    """The media row if `viewer_id` may see it, else None (same answer as 'no such file')."""
    if not media_id or len(media_id) > 32:
        return None
    m = session.get(Media, media_id)
    if m is None:
        return None
    if not is_private(m.purpose):
        return m
    if m.owner_id == viewer_id and (m.conversation_id is not None or not _due(m)):
        # Its uploader (an upload not sent yet is theirs alone), but not an orphan that is due
        # for deletion: the image of a deleted message is due at once (services/lifecycle.py).
        return m
    if m.conversation_id is None:
        return None
    # Chat images are private to who may read the message that carries them: a current
    # member, or a former one for what was sent before they left (services/membership.py).
    member = session.get(ConversationMember, (m.conversation_id, viewer_id))
    if member is None:
        return None
    if member.left_at is None and not member.history_from_id:
        return m
    low, until = window(member)
    carried = session.exec(
        select(Message.id).where(
            Message.conversation_id == m.conversation_id,
            Message.media_ref == m.id,
            col(Message.id) > low,
            *([col(Message.id) <= until] if until is not None else []),
        )
    ).first()
    return m if carried is not None else None


def _due(m: Media) -> bool:
    """An unsent upload housekeeping deletes at its next sweep (older than the grace)."""
    at = m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC)
    return at < utcnow() - timedelta(hours=get_settings().orphan_upload_grace_hours)


def claim_for_message(
    *, session: Session, media_id: str, sender_id: int, conversation_id: int
) -> Media:
    """Attach the sender's uploaded chat image to a conversation (idempotent)."""
    m = session.get(Media, media_id)
    if (
        m is None
        or m.owner_id != sender_id
        or m.purpose != "chat"
        or m.conversation_id not in (None, conversation_id)
    ):
        raise NotAllowed("That image can't be sent here. Attach it again.")
    m.conversation_id = conversation_id
    session.add(m)
    return m


def claim_avatar(*, session: Session, media_id: str, owner_id: int) -> Media:
    m = session.get(Media, media_id)
    if m is None or m.owner_id != owner_id or m.purpose != "avatar":
        raise NotAllowed("Upload the avatar again.")
    return m


def delete_media(*, session: Session, media_id: str, storage: MediaStorage) -> None:
    """Remove a media row and its stored files (e.g. a replaced avatar)."""
    m = session.get(Media, media_id)
    if m is None:
        return
    private = is_private(m.purpose)
    for key in (m.full_key, m.thumb_key):
        storage.delete(key, private=private)
    session.delete(m)
