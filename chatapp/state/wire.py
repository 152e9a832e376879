"""Service DTOs -> the small JSON dicts sent to browsers and through the real-time bus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatapp.services.dto import ConversationOut, MessageOut, PersonOut
from chatapp.services.media import full_url, thumb_url

PREVIEW_CHARS = 80


def ms(dt: datetime | None) -> int:
    return int(dt.timestamp() * 1000) if dt else 0


def initials(name: str) -> str:
    parts = [p for p in name.replace("_", " ").replace(".", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def person(p: PersonOut, online: bool = False) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.display_name,
        "username": p.username,
        "initials": initials(p.display_name),
        "avatar": thumb_url(p.avatar_ref),
        "online": online,
        "last_seen": ms(p.last_seen_at),
    }


def message(m: MessageOut, viewer_id: int) -> dict[str, Any]:
    return {
        "id": m.id,
        "cid": m.client_id,
        "conv": m.conversation_id,
        "sender": m.sender_id,
        "mine": m.sender_id == viewer_id,
        "body": m.body,
        "at": ms(m.created_at),
        "status": "sent",
        "img": thumb_url(m.media_ref),
        "full": full_url(m.media_ref),
    }


def preview(body: str, mine: bool, has_image: bool = False) -> str:
    text = " ".join(body.split()) or ("📷 Photo" if has_image else "")
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return f"You: {text}" if mine else text


def conversation(c: ConversationOut, viewer_id: int, online: set[int]) -> dict[str, Any]:
    peer = c.peer
    lm = c.last_message
    return {
        "id": c.id,
        "title": c.title,
        "peer_id": peer.id if peer else 0,
        "peer_username": peer.username if peer else "",
        "initials": initials(c.title),
        "avatar": thumb_url(peer.avatar_ref) if peer else "",
        "online": bool(peer and peer.id in online),
        "last_seen": ms(peer.last_seen_at) if peer else 0,
        "preview": preview(lm.body, lm.sender_id == viewer_id, bool(lm.media_ref)) if lm else "",
        "last_at": ms(lm.created_at) if lm else 0,
        "last_id": lm.id if lm else 0,
        "unread": c.unread,
    }
