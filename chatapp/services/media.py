"""Uploaded images: validate + store, and decide who may see them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session

from chatapp.models import ConversationMember, Media
from chatapp.services import images
from chatapp.services.errors import NotAllowed, ServiceError
from chatapp.storage.base import MediaStorage

PURPOSES = ("chat", "avatar")


@dataclass(frozen=True, slots=True)
class MediaOut:
    id: str
    purpose: str
    mime: str
    width: int
    height: int

    @property
    def thumb_url(self) -> str:
        return thumb_url(self.id)

    @property
    def full_url(self) -> str:
        return full_url(self.id)

    @classmethod
    def of(cls, m: Media) -> MediaOut:
        return cls(m.id, m.purpose, m.mime, m.width, m.height)


def thumb_url(media_id: str | None) -> str:
    return f"/media/{media_id}/thumb" if media_id else ""


def full_url(media_id: str | None) -> str:
    return f"/media/{media_id}/full" if media_id else ""


def store_upload(
    *, session: Session, owner_id: int, purpose: str, data: bytes, storage: MediaStorage
) -> MediaOut:
    """Validate and re-encode the image, store both sizes, record it. Blocking: run in a thread."""
    if purpose not in PURPOSES:
        raise ServiceError("Unknown upload purpose.")
    processed = (
        images.process_avatar(data) if purpose == "avatar" else images.process_chat_image(data)
    )
    mid = secrets.token_urlsafe(18)[:24]
    private = purpose == "chat"
    folder = "chat" if private else "avatars"
    full_key = f"{folder}/{mid[:2]}/{mid}.{processed.full.ext}"
    thumb_key = f"{folder}/{mid[:2]}/{mid}_t.{processed.thumb.ext}"
    storage.put(full_key, processed.full.data, mime=processed.full.mime, private=private)
    try:
        storage.put(thumb_key, processed.thumb.data, mime=processed.thumb.mime, private=private)
        row = Media(
            id=mid,
            owner_id=owner_id,
            purpose=purpose,
            storage=storage.name,
            full_key=full_key,
            thumb_key=thumb_key,
            mime=processed.full.mime,
            width=processed.full.width,
            height=processed.full.height,
            bytes=len(processed.full.data),
        )
        session.add(row)
        session.flush()
    except BaseException:
        for key in (full_key, thumb_key):
            try:
                storage.delete(key, private=private)
            except Exception:  # noqa: S112 - best effort clean-up, the original error matters
                continue
        raise
    return MediaOut.of(row)


def viewable(*, session: Session, viewer_id: int, media_id: str) -> Media | None:
    """The media row if `viewer_id` may see it, else None (same answer as 'no such file')."""
    if not media_id or len(media_id) > 32:
        return None
    m = session.get(Media, media_id)
    if m is None:
        return None
    if m.purpose == "avatar" or m.owner_id == viewer_id:
        return m
    if m.conversation_id is None:
        return None
    member = session.get(ConversationMember, (m.conversation_id, viewer_id))
    return m if member is not None else None


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
    private = m.purpose == "chat"
    for key in (m.full_key, m.thumb_key):
        storage.delete(key, private=private)
    session.delete(m)
