"""Web Push: a new message reaches people who have no chatapp tab open.

- A browser that turned "Desktop notifications" on subscribes with the server's VAPID public
  key; the subscription (endpoint + the browser's keys) is stored for the log-in session it
  was made in, and deleted with it: log out, "Log out of all devices", a password change
  (services/accounts.py), or its push service answering 404/410.
- After a message is committed and published (services/events.py), the recipients with no
  open tab anywhere (the hub's presence, shared across processes through Redis) who have not
  muted the conversation get a push on each live subscription: encrypted for the browser
  (aes128gcm) and signed with the server's VAPID key, by pywebpush, in a thread of its own
  (never on the event loop, never in the database pool's threads).
- It carries the notification's title and text (the text only with "Show message text in
  notifications" on), the conversation's address and a tag (one notification per
  conversation); nothing else. SECURITY.md has the rest.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlmodel import Session, col, select

from chatapp.models import AuthSession, ConversationMember, Message, PushSubscription, User, utcnow
from chatapp.services.errors import ServiceError
from chatapp.services.hints import messages_by_conversation
from chatapp.services.notifications import describe, is_muted
from chatapp.settings import get_settings

log = logging.getLogger(__name__)

ENDPOINT_MAX = 2048
TTL_SECONDS = 24 * 3600  # a push service keeps a message this long for a browser that is off
UNREAD_CAP = 100
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
# Its own small pool: a slow push service must not hold up database work or the event loop.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="push")
_tasks: set[asyncio.Task[Any]] = set()


class Presence(Protocol):
    async def online(self, user_ids: list[int]) -> set[int]: ...


# Keys ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _vapid(private_key: str) -> Vapid:
    if private_key.lstrip().startswith("-----BEGIN"):
        return Vapid.from_pem(private_key.encode())
    return Vapid.from_string(private_key)


def vapid() -> Vapid | None:
    """The server's VAPID key (None: Web Push is off, see settings)."""
    key = get_settings().vapid_private_key
    return _vapid(key) if key else None


def public_key() -> str:
    """The VAPID public key as browsers take it (``applicationServerKey``): base64url of the
    uncompressed P-256 point; "" when Web Push is off."""
    v = vapid()
    if v is None:
        return ""
    raw = v.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# Subscriptions ------------------------------------------------------------------------------------
def _b64(value: Any, size: int) -> str:
    """A base64url value that decodes to ``size`` bytes, or ServiceError."""
    text = str(value or "")
    if not _B64URL.fullmatch(text) or len(text) > 2 * size:
        raise ServiceError("This browser's push subscription is not valid.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise ServiceError("This browser's push subscription is not valid.") from exc
    if len(raw) != size:
        raise ServiceError("This browser's push subscription is not valid.")
    return text.rstrip("=")


def endpoint_allowed(endpoint: str, hosts: str | None = None) -> bool:
    """Only a push service's own address (PUSH_SERVICE_HOSTS): https on a listed host (or
    ``*.`` suffix), or an exact listed origin. Never an IP literal unless listed as an origin:
    the server POSTs there, so an arbitrary address would let anyone aim it at the network."""
    listed = [h.strip().lower() for h in (hosts or get_settings().push_service_hosts).split(",")]
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        origin = f"{parts.scheme}://{parts.netloc}".lower()
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if origin in listed:
        return True
    if parts.scheme != "https" or parts.port not in (None, 443):
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    return any(
        host == h or (h.startswith("*.") and host.endswith(h[1:]))
        for h in listed
        if h and "://" not in h
    )


def save_subscription(
    *, session: Session, user_id: int, session_id: str, subscription: Any
) -> None:
    """Store this browser's subscription for this log-in session. The same browser subscribing
    again (or another account logging in on it) moves the row, never duplicates it."""
    sub = subscription if isinstance(subscription, dict) else {}
    endpoint = str(sub.get("endpoint") or "")
    raw_keys = sub.get("keys")
    keys: dict[str, Any] = raw_keys if isinstance(raw_keys, dict) else {}
    if not endpoint or len(endpoint) > ENDPOINT_MAX or not endpoint_allowed(endpoint):
        raise ServiceError("This browser's push service is not one chatapp sends to.")
    p256dh, auth = _b64(keys.get("p256dh"), 65), _b64(keys.get("auth"), 16)
    live = session.get(AuthSession, session_id)
    if (
        live is None
        or live.user_id != user_id
        or live.revoked_at is not None
        or live.activated_at is None  # (a ticket never redeemed: no one is signed in on it)
        or live.expires_at <= utcnow()
    ):
        raise ServiceError("Your session has ended. Log in again.")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    row = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint_hash == digest)
    ).first()
    if row is None:
        row = PushSubscription(
            user_id=user_id,
            session_id=session_id,
            endpoint_hash=digest,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
        )
    else:
        row.user_id, row.session_id, row.p256dh, row.auth = user_id, session_id, p256dh, auth
        row.created_at = utcnow()
    session.add(row)
    session.flush()


def forget_session(*, session: Session, session_id: str) -> int:
    """Delete a log-in session's subscriptions (it logged out, or turned notifications off)."""
    table = PushSubscription.__table__  # type: ignore[attr-defined]
    result = session.execute(table.delete().where(table.c.session_id == session_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget_user(*, session: Session, user_id: int, keep_session_id: str | None = None) -> int:
    """Delete every subscription of a user's sessions but ``keep_session_id`` ("Log out of all
    devices", a password change)."""
    table = PushSubscription.__table__  # type: ignore[attr-defined]
    where = [table.c.user_id == user_id]
    if keep_session_id:
        where.append(table.c.session_id != keep_session_id)
    result = session.execute(table.delete().where(*where))
    return int(result.rowcount)  # type: ignore[attr-defined]


def subscription_count(*, session: Session, user_id: int) -> int:
    return int(
        session.exec(
            select(sa.func.count())
            .select_from(PushSubscription)
            .where(PushSubscription.user_id == user_id)
        ).one()
    )


# Who gets a push ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    id: int
    user_id: int
    endpoint: str
    p256dh: str
    auth: str
    show_text: bool
    unread: int


def targets(*, session: Session, conversation_id: int, user_ids: Iterable[int]) -> list[Target]:
    """The live subscriptions of these users for a new message in this conversation: current
    members who have not muted it, sessions neither revoked nor expired."""
    ids = sorted(set(user_ids))
    if not ids:
        return []
    now = utcnow()
    rows = session.exec(
        select(PushSubscription, ConversationMember, User.notify_text)
        .join(AuthSession, col(AuthSession.id) == col(PushSubscription.session_id))
        .join(
            ConversationMember,
            (col(ConversationMember.user_id) == col(PushSubscription.user_id))
            & (col(ConversationMember.conversation_id) == conversation_id),
        )
        .join(User, col(User.id) == col(PushSubscription.user_id))
        .where(
            col(PushSubscription.user_id).in_(ids),
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.activated_at).is_not(None),
            col(AuthSession.expires_at) > now,
            col(ConversationMember.left_at).is_(None),
        )
    ).all()
    unread: dict[int, int] = {}
    out = []
    for sub, member, show in rows:
        if is_muted(member.muted_until, now):
            continue
        if member.user_id not in unread:
            unread[member.user_id] = _unread(session, member)
        out.append(
            Target(
                id=sub.id or 0,
                user_id=sub.user_id,
                endpoint=sub.endpoint,
                p256dh=sub.p256dh,
                auth=sub.auth,
                show_text=bool(show),
                unread=unread[member.user_id],
            )
        )
    return out


def _unread(session: Session, member: ConversationMember) -> int:
    """Unread messages of the member in the conversation (up to UNREAD_CAP), for the count
    in the notification's title."""
    low = max(member.last_read_message_id or 0, member.history_from_id or 0)
    m = Message.__table__  # type: ignore[attr-defined]
    window = messages_by_conversation(
        sa.select(sa.literal(1))
        .where(
            m.c.conversation_id == member.conversation_id,
            m.c.id > low,
            m.c.sender_id != member.user_id,
            m.c.deleted_at.is_(None),
            m.c.system.is_(None),
        )
        .limit(UNREAD_CAP)
    ).subquery()
    return int(
        session.connection().execute(sa.select(sa.func.count()).select_from(window)).scalar() or 0
    )


# Sending ----------------------------------------------------------------------------------------
@dataclass
class PushReport:
    sent: int = 0
    removed: list[int] = field(default_factory=list)  # subscriptions gone (404/410), deleted
    failed: int = 0


def payload(event: dict[str, Any], target: Target) -> dict[str, Any]:
    """What one push carries (the service worker shows it as it is)."""
    m, sender, group = event["message"], event["sender"], event.get("group")
    notice = describe(
        sender=sender.get("name", ""),
        group=group.get("title") if group else None,
        body=m.get("body", ""),
        has_image=bool(m.get("img")),
        count=target.unread,
        show_text=target.show_text,
    )
    conv = int(m["conv"])
    return {"title": notice.title, "body": notice.body, "tag": f"conv-{conv}", "url": f"/c/{conv}"}


def send_one(target: Target, data: dict[str, Any], http: requests.Session | None = None) -> int:
    """POST one encrypted, signed push; the push service's HTTP status (0: not reached)."""
    key = vapid()
    if key is None:
        return 0
    conv_tag = str(data.get("tag", ""))[:32]
    try:
        response = webpush(
            subscription_info={
                "endpoint": target.endpoint,
                "keys": {"p256dh": target.p256dh, "auth": target.auth},
            },
            data=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
            vapid_private_key=key,
            vapid_claims={"sub": get_settings().vapid_subject},  # (aud, exp: added per call)
            ttl=TTL_SECONDS,
            timeout=10,
            # Topic: a push service keeps only the newest pending one per conversation.
            headers={"Urgency": "high", "Topic": re.sub(r"[^A-Za-z0-9_-]", "", conv_tag)},
            requests_session=http,
        )
    except WebPushException as exc:
        return int(exc.status_code or 0)
    except requests.RequestException:
        log.warning("push service unreachable: %s", urlsplit(target.endpoint).netloc)
        return 0
    return int(getattr(response, "status_code", 0))


def push_message(
    *, event: dict[str, Any], user_ids: Iterable[int], engine: sa.Engine | None = None
) -> PushReport:
    """Push a message event to these users' subscriptions (blocking: run it in a thread)."""
    from chatapp.db import session_scope

    report = PushReport()
    conv = int(event["message"]["conv"])
    with session_scope(engine) as session:
        found = targets(session=session, conversation_id=conv, user_ids=user_ids)
    if not found:
        return report
    with requests.Session() as http:
        for target in found:
            status = send_one(target, payload(event, target), http)
            if 200 <= status < 300:
                report.sent += 1
            elif status in (404, 410):
                report.removed.append(target.id)
            else:
                report.failed += 1
                log.warning("push to %s failed: %s", urlsplit(target.endpoint).netloc, status)
    if report.removed:
        with session_scope(engine) as session:
            table = PushSubscription.__table__  # type: ignore[attr-defined]
            session.execute(table.delete().where(table.c.id.in_(report.removed)))
    return report


def recipients(event: dict[str, Any]) -> list[int]:
    """Who a published event would notify: the members of a new message, but its sender; none
    for a system line or a message announced again (a reconnect)."""
    if event.get("type") != "message" or event.get("again"):
        return []
    m = event.get("message") or {}
    if m.get("sys"):
        return []
    sender = int(m.get("sender", 0))
    return [int(u) for u in event.get("to", []) if int(u) != sender]


async def push_offline(
    event: dict[str, Any], presence: Presence, *, engine: sa.Engine | None = None
) -> PushReport:
    """Push a published message event to its recipients who have no open tab anywhere."""
    wanted = recipients(event)
    if not wanted or vapid() is None:
        return PushReport()
    online = await presence.online(wanted)  # once (not once per recipient)
    offline = [u for u in wanted if u not in online]
    if not offline:
        return PushReport()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _POOL, lambda: push_message(event=event, user_ids=offline, engine=engine)
    )


def after_publish(
    events: Iterable[tuple[tuple[int, ...], dict[str, Any]]], presence: Presence
) -> None:
    """Called once the events of a committed unit of work were published: pushes go out in
    the background (the sender's handler does not wait for push services)."""
    for user_ids, event in events:
        if not recipients({**event, "to": list(user_ids)}) or vapid() is None:
            continue
        task = asyncio.get_running_loop().create_task(
            _quietly(push_offline({**event, "to": list(user_ids)}, presence))
        )
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def _quietly(work: Any) -> None:
    try:
        await work
    except Exception:
        log.exception("web push failed")
