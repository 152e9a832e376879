"""The chat page's state: thin handlers that authorise, call one service, and send small ops.

Messages and sidebar rows live in the browser's store (components/chat_store.js). The server
sends only what changed, as ops in ``feed``; see that file for why.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import reflex as rx

from chatapp.realtime import get_hub
from chatapp.services import conversations, messages
from chatapp.services.errors import ServiceError
from chatapp.state import wire
from chatapp.state.db_call import db_call, db_run
from chatapp.state.reads import read_marks
from chatapp.state.session import SessionState

log = logging.getLogger(__name__)
MAX_RAW_BODY = 20_000  # anything longer is refused before it is even trimmed


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class ChatState(rx.State):
    # The latest ops as a JSON string (chat_store.js parses it): a string is ~10x smaller in
    # server memory than the same data as dicts, and every open tab keeps its last feed.
    feed: str = ""
    active_id: int = 0
    people: list[dict[str, Any]] = []
    search: str = ""
    online_only: bool = False
    notice: str = ""
    loading_older: bool = False
    profile_card: dict[str, Any] = {}
    profile_open: bool = False
    # The open conversation survives reloads and server restarts (per tab, like the token).
    stored_conv: str = rx.SessionStorage("", name="chat_conv")

    _seq: int = 0
    _epoch: str = ""
    _uid: int = 0
    _token: str = ""
    _oldest: int = 0
    _has_more: bool = False
    _sent_media: list[str] = []  # images this tab already sent (a double press sends once)

    # Plumbing -------------------------------------------------------------------------------
    def _send_ops(self, ops: list[dict[str, Any]]) -> None:
        """Replace the feed with these ops (at most once per state change: see chat_store.js)."""
        if not self._epoch:
            self._epoch = secrets.token_hex(6)
        self._seq += 1
        self.feed = json.dumps(
            {"seq": self._seq, "epoch": self._epoch, "ops": ops},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    async def _user_id(self) -> int:
        session = await self.get_state(SessionState)
        uid = await session.current_user_id()
        if uid != self._uid:
            if self._uid:
                # Another account in this tab (log out, log in as someone else): forget it all.
                if self._token:
                    await get_hub().tab_closed(self._uid, self._token)
                self.active_id = 0
                self.stored_conv = ""
            self._uid = uid
        return uid

    async def _online(self, user_ids: list[int]) -> set[int]:
        return await get_hub().presence.online(user_ids)

    # Page load / reconnect ------------------------------------------------------------------
    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        """on_load of / (also runs when a dropped connection comes back): register the tab,
        send the sidebar and the open conversation's newest page (no gaps, no duplicates)."""
        uid = await self._user_id()
        if not uid:
            return
        self._token = self.router.session.client_token
        await get_hub().tab_opened(uid, self._token)
        await read_marks.flush()  # so the unread counts below are current
        ops = [await self._sidebar_op(uid)]
        if not self.active_id and self.stored_conv.isdigit():
            self.active_id = int(self.stored_conv)
        if self.active_id:
            try:
                ops += await self._open_ops(uid, self.active_id)
            except ServiceError:
                self.active_id = 0
                self.stored_conv = ""
        self._send_ops(ops)
        await self._refresh_people(uid)

    async def _sidebar_op(self, uid: int) -> dict[str, Any]:
        rows = await db_call(conversations.list_conversations, user_id=uid)
        online = await self._online([r.peer.id for r in rows if r.peer])
        return {"t": "convs_reset", "items": [wire.conversation(r, uid, online) for r in rows]}

    async def _open_ops(self, uid: int, conv_id: int) -> list[dict[str, Any]]:
        page = await db_call(messages.list_messages, user_id=uid, conversation_id=conv_id)
        await db_call(conversations.mark_read, user_id=uid, conversation_id=conv_id)
        self._oldest = page.items[0].id if page.items else 0
        self._has_more = page.has_more
        return [
            {
                "t": "msgs_reset",
                "conv": conv_id,
                "items": [wire.message(m, uid) for m in page.items],
                "has_more": page.has_more,
            },
            {"t": "read", "conv": conv_id},
        ]

    async def _refresh_people(self, uid: int) -> None:
        found = await db_call(conversations.search_people, user_id=uid, query=self.search)
        online = await self._online([p.id for p in found])
        self.people = [wire.person(p, p.id in online) for p in found]

    # Sidebar ----------------------------------------------------------------------------------
    @rx.event
    async def set_search(self, query: str):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid:
            return
        self.search = str(query)[:50]
        await self._refresh_people(uid)

    @rx.event
    def toggle_online_only(self, value: bool) -> None:
        self.online_only = bool(value)

    @rx.event
    async def open_person(self, user_id: int):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid:
            return rx.redirect("/login")
        try:
            conv_id = await db_call(
                conversations.open_direct, user_id=uid, other_user_id=_int(user_id)
            )
        except ServiceError as exc:
            self.notice = str(exc)
            return None
        self.search = ""  # the search did its job: back to the conversation list
        return await self._open(uid, conv_id)

    @rx.event
    async def open_conversation(self, conversation_id: int):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid:
            return rx.redirect("/login")
        return await self._open(uid, _int(conversation_id))

    async def _open(self, uid: int, conv_id: int) -> None:
        try:
            row = await db_call(
                conversations.get_conversation, user_id=uid, conversation_id=conv_id
            )
            ops = await self._open_ops(uid, conv_id)
        except ServiceError as exc:
            self.notice = str(exc)
            return
        online = await self._online([row.peer.id] if row.peer else [])
        item = wire.conversation(row, uid, online)
        item["unread"] = 0
        self.active_id = conv_id
        self.stored_conv = str(conv_id)
        self.notice = ""
        self._send_ops([{"t": "conv", "item": item}, *ops])
        if not self.search:
            await self._refresh_people(uid)  # a new contact leaves the suggestions
        # Clear the badge in the user's other tabs too.
        await get_hub().publish([uid], {"type": "read", "conv": conv_id, "origin": self._token})

    @rx.event
    async def show_profile(self, user_id: int):  # type: ignore[no-untyped-def]
        """Another user's card (name, avatar, bio, presence), opened from the header."""
        uid = await self._user_id()
        if not uid:
            return
        card = await db_call(conversations.person_card, user_id=_int(user_id))
        if card is None:
            self.notice = "That person does not exist."
            return
        online = await self._online([card.person.id])
        self.profile_card = {**wire.person(card.person, card.person.id in online), "bio": card.bio}
        self.profile_open = True

    @rx.event
    def set_profile_open(self, value: bool) -> None:
        self.profile_open = bool(value)

    @rx.event
    def close_conversation(self) -> None:
        """The phone layout's back button."""
        self.active_id = 0
        self.stored_conv = ""

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    # History -----------------------------------------------------------------------------------
    @rx.event
    async def load_older(self):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid or not self.active_id or not self._has_more or self.loading_older:
            return
        self.loading_older = True
        yield
        try:
            page = await db_call(
                messages.list_messages,
                user_id=uid,
                conversation_id=self.active_id,
                before_id=self._oldest or None,
            )
        except ServiceError as exc:
            self.notice = str(exc)
            self.loading_older = False
            return
        if page.items:
            self._oldest = page.items[0].id
        self._has_more = page.has_more
        self.loading_older = False
        self._send_ops(
            [
                {
                    "t": "msgs_older",
                    "conv": self.active_id,
                    "items": [wire.message(m, uid) for m in page.items],
                    "has_more": page.has_more,
                }
            ]
        )

    # Sending ------------------------------------------------------------------------------------
    @rx.event
    async def send(self, form: dict[str, Any], media_id: str = "", client_id: str = ""):  # type: ignore[no-untyped-def]
        body = form.get("body", "") if isinstance(form, dict) else ""
        async for update in self._send(str(body), str(client_id), self.active_id, str(media_id)):
            yield update

    @rx.event
    async def resend(  # type: ignore[no-untyped-def]
        self, client_id: str, conversation_id: int, body: str, media_id: str = ""
    ):
        # Show the failed message as pending again while it is retried.
        self._send_ops(
            [
                {
                    "t": "msg",
                    "item": {
                        "id": 0,
                        "cid": str(client_id),
                        "conv": _int(conversation_id),
                        "mine": True,
                        "status": "pending",
                        "error": "",
                    },
                }
            ]
        )
        yield
        async for update in self._send(
            str(body), str(client_id), _int(conversation_id), str(media_id)
        ):
            yield update

    async def _send(self, body: str, cid: str, conv_id: int, media_id: str = ""):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid:
            yield rx.redirect("/login")
            return
        if not conv_id:
            self.notice = "Open a conversation first."
            return
        media_id = media_id[:32]
        if media_id == "uploading":
            self.notice = "The image is still uploading. Send again when it is ready."
            self._send_ops([{"t": "msg_drop", "cid": cid}])
            yield rx.set_value("composer", body[:MAX_RAW_BODY])
            return
        if media_id and media_id in self._sent_media:
            if not body.strip():
                return  # the second press of a double press
            media_id = ""
        if not body.strip() and not media_id:
            return  # an empty composer (e.g. the second press of a double press)
        try:
            if len(body) > MAX_RAW_BODY:
                raise ServiceError(
                    f"Messages can be at most {messages.MAX_BODY_CHARS:,} characters."
                )
            text = body.strip() if media_id else messages.clean_body(body)
            if len(text) > messages.MAX_BODY_CHARS:
                raise ServiceError(
                    f"Captions can be at most {messages.MAX_BODY_CHARS:,} characters."
                )
            if not messages.CLIENT_ID_RE.fullmatch(cid):
                raise ServiceError("Invalid message id.")
        except ServiceError as exc:
            self.notice = str(exc)
            self._send_ops([{"t": "msg_drop", "cid": cid}])
            # Give the text back: refused, never silently cut.
            yield rx.set_value("composer", body[:MAX_RAW_BODY])
            return
        self.notice = ""
        if media_id:
            self._sent_media = [*self._sent_media[-19:], media_id]
        # The browser already shows this message as pending (beginSend in chat_store.js), so
        # no extra round trip here: store it, then confirm (or fail) it.
        try:
            result = await db_run(
                messages.store_message,
                sender_id=uid,
                conversation_id=conv_id,
                body=text,
                client_id=cid,
                media_ref=media_id or None,
            )
        except ServiceError as exc:
            self._send_ops([{"t": "msg_failed", "cid": cid, "error": str(exc)}])
            return
        except Exception:
            log.exception("send failed")
            self._send_ops(
                [{"t": "msg_failed", "cid": cid, "error": "Not sent. Check your connection."}]
            )
            return
        # Committed: now (and only now) tell everyone.
        msg = result.message
        mine = wire.message(msg, uid)
        row = {
            "id": conv_id,
            "last_id": msg.id,
            "last_at": mine["at"],
            "preview": wire.preview(msg.body, True, bool(msg.media_ref)),
            "unread": 0,
        }
        self._send_ops([{"t": "msg", "item": mine}, {"t": "conv", "item": row}])
        if result.created:
            session = await self.get_state(SessionState)
            sender = {
                "id": uid,
                "name": session.display_name,
                "username": session.username,
                "initials": wire.initials(session.display_name),
                "avatar": session.avatar,
            }
            await get_hub().publish(
                result.member_ids,
                {
                    "type": "message",
                    "origin": self._token,
                    "message": {**mine, "mine": False},
                    "members": result.member_ids,
                    "sender": sender,
                },
            )

    # Delivery (called by the bridge with this tab's state locked; no database here) ----------
    def apply_event(self, event: dict[str, Any]) -> int:
        """Turn a bus event into ops for this tab. Returns a conversation id to mark read."""
        uid = self._uid  # (the hub never delivers an event to the tab it came from)
        if not uid:
            return 0
        kind = event.get("type")
        if kind == "message":
            m = dict(event["message"])
            m["mine"] = m["sender"] == uid
            conv = m["conv"]
            is_open = conv == self.active_id
            row: dict[str, Any] = {
                "id": conv,
                "last_id": m["id"],
                "last_at": m["at"],
                "preview": wire.preview(m["body"], m["mine"], bool(m.get("img"))),
            }
            op: dict[str, Any] = {"t": "conv", "item": row}
            if is_open or m["mine"]:
                row["unread"] = 0 if is_open else row.get("unread", 0)
            if not m["mine"] and not is_open:
                op["unread_inc"] = 1
            sender = event.get("sender")
            if sender and not m["mine"]:
                row.update(
                    title=sender["name"],
                    peer_id=sender["id"],
                    peer_username=sender["username"],
                    initials=sender["initials"],
                    avatar=sender.get("avatar", ""),
                    online=True,
                )
            ops = [op]
            if is_open:
                ops.insert(0, {"t": "msg", "item": m})
            self._send_ops(ops)
            return conv if is_open and not m["mine"] else 0
        if kind == "read":
            self._send_ops([{"t": "read", "conv": event["conv"]}])
        elif kind == "person":
            fields = {k: event[k] for k in ("title", "initials", "avatar") if k in event}
            self._send_ops([{"t": "person", "user": event["user"], "fields": fields}])
            if self.profile_card.get("id") == event["user"]:
                self.profile_card = {
                    **self.profile_card,
                    "name": event.get("title", ""),
                    "initials": event.get("initials", ""),
                    "avatar": event.get("avatar", ""),
                    "bio": event.get("bio", ""),
                }
        elif kind == "presence":
            self._send_ops(
                [
                    {
                        "t": "presence",
                        "user": event["user"],
                        "online": event["online"],
                        "last_seen": event.get("last_seen", 0),
                    }
                ]
            )
        return 0
