"""Notifications in a tab (issue 14): the in-app toast, the browser notification of a hidden tab,
the "Desktop notifications" switch (and Web Push subscribing behind it), "Show message text in
notifications", and muting a conversation.

Thin handlers (identity from SessionState, one service call each). Arriving messages are seen by
ChatState's delivery, which calls :func:`on_event` with the tab's state locked (no database).
The browser side is four one-line scripts (``*_JS`` / ``*_script`` below) and the one service
worker (assets/sw.js); everything they decide is decided here.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import reflex as rx

from chatapp.services import notifications, push
from chatapp.services.errors import ServiceError
from chatapp.services.events import NotAnnounced
from chatapp.state import sidebar
from chatapp.state.db_call import db_call
from chatapp.state.session import SessionState
from chatapp.state.view import SidebarState
from chatapp.wire import BusEvent, MessageEvent, initials, preview

ON = "on"

# inline JS (6 of 9): register the service worker (assets/sw.js) and report the browser's
# notification permission and its current push subscription; Reflex has no Python API for
# service workers, notifications or push.
CLIENT_JS = (
    "(async () => { let p = window.Notification ? Notification.permission : 'unsupported',"
    " s = null; try { const r = await navigator.serviceWorker.register('/sw.js');"
    " const x = await r.pushManager.getSubscription(); s = x && x.toJSON(); } catch (e) {}"
    " return {p, s}; })()"
)


# inline JS (7 of 9): on the switch's click (never on page load), ask for permission, then
# subscribe to Web Push with the server's VAPID public key (`key`, a state var).
def subscribe_script(key: Any) -> Any:
    return (
        "(async () => { const p = window.Notification ? await Notification.requestPermission()"
        " : 'unsupported'; const k = "
        + key.to_string()
        + "; if (p !== 'granted' || !k) return {p}; try {"
        " const r = await navigator.serviceWorker.register('/sw.js');"
        " const s = (await r.pushManager.getSubscription()) || await r.pushManager.subscribe("
        "{userVisibleOnly: true, applicationServerKey: k}); return {p, s: s.toJSON()};"
        " } catch (e) { return {p, e: String(e).slice(0, 200)}; } })()"
    )


# inline JS (8 of 9): the switch turned off: drop this browser's push subscription.
UNSUBSCRIBE_JS = (
    "navigator.serviceWorker && navigator.serviceWorker.getRegistration()"
    ".then(r => r && r.pushManager.getSubscription()).then(s => s && s.unsubscribe())"
    ".catch(() => 0)"
)


# inline JS (9 of 9): show a new message as a notification, only while this tab is hidden (a
# visible tab shows it itself), once per note (sessionStorage: not again after a reload).
def notify_script(note: Any) -> Any:
    return (
        "(n => { if (!n || !n.id || !document.hidden || !window.Notification"
        " || Notification.permission !== 'granted'"
        " || sessionStorage.getItem('chat_note') === n.id) return;"
        " sessionStorage.setItem('chat_note', n.id);"
        " navigator.serviceWorker.ready.then(r => r.showNotification(n.title, {body: n.body,"
        " tag: n.tag, renotify: true, icon: '/icon-192.png', data: {url: n.url}})); })("
        + note.to_string()
        + ")"
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


class NotifyState(rx.State):
    # This browser's "Desktop notifications" switch (browser-wide, like the permission).
    desktop: str = rx.LocalStorage("", name="chat_desktop_notify")
    permission: str = ""  # Notification.permission: granted | denied | default | unsupported
    push_key: str = ""  # the VAPID public key ("" when Web Push is off)
    show_text: bool = True  # "Show message text in notifications"
    settings_note: str = ""  # said under the switches
    toast: dict[str, Any] = {}  # {id, conv, title, body, initials, avatar}
    # The newest notification for a hidden tab, [{id, title, body, tag, url}] (a list of one: the
    # page mounts one trigger per item, keyed by its id, and a new id runs notify_script).
    note: list[dict[str, Any]] = []
    _seq: int = 0

    async def _session(self) -> tuple[int, str]:
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        return uid, session._session_id if uid else ""

    @rx.var
    def desktop_on(self) -> bool:
        return self.desktop == ON and self.permission == "granted"

    @rx.event
    async def client_ready(self, info: dict[str, Any]):  # type: ignore[no-untyped-def]
        """The page's first report (CLIENT_JS): permission and this browser's subscription."""
        info = info if isinstance(info, dict) else {}
        self.permission = str(info.get("p") or "unsupported")[:16]
        self.toast = {}  # (a page load: an earlier toast is old news)
        uid, session_id = await self._session()
        if not uid:
            return
        self.push_key = push.public_key()
        self.show_text = await db_call(notifications.show_text, user_id=uid)
        if self.desktop == ON and self.permission == "granted" and info.get("s"):
            # (A subscription made under another log-in in this browser moves to this one.)
            try:
                await db_call(
                    push.save_subscription,
                    user_id=uid,
                    session_id=session_id,
                    subscription=info["s"],
                )
            except ServiceError:
                pass

    @rx.event
    async def subscribed(self, result: dict[str, Any]):  # type: ignore[no-untyped-def]
        """The switch turned on (subscribe_script's answer)."""
        result = result if isinstance(result, dict) else {}
        self.permission = str(result.get("p") or "unsupported")[:16]
        uid, session_id = await self._session()
        if not uid:
            return
        if self.permission != "granted":
            self.desktop = ""
            self.settings_note = (
                "This browser does not show notifications."
                if self.permission == "unsupported"
                else "Your browser blocks notifications from chatapp: allow them in the site "
                "settings (the icon next to the address), then turn this on again."
            )
            return
        self.desktop = ON
        self.settings_note = "Notifications are on while chatapp is open in this browser."
        if result.get("s"):
            try:
                await db_call(
                    push.save_subscription,
                    user_id=uid,
                    session_id=session_id,
                    subscription=result["s"],
                )
                self.settings_note = "Notifications are on, also when chatapp is closed."
            except ServiceError as exc:
                self.settings_note += f" No notifications when it is closed: {exc}"
        elif self.push_key:
            self.settings_note += (
                " This browser could not subscribe to notifications when chatapp is closed."
            )

    @rx.event
    async def turn_off(self):  # type: ignore[no-untyped-def]
        """The switch turned off (UNSUBSCRIBE_JS runs in the browser with it)."""
        self.desktop = ""
        self.settings_note = "Notifications are off in this browser."
        uid, session_id = await self._session()
        if uid:
            await db_call(push.forget_session, session_id=session_id)

    @rx.event
    async def set_show_text(self, on: bool):  # type: ignore[no-untyped-def]
        uid, _ = await self._session()
        if not uid:
            return
        try:
            self.show_text = await db_call(notifications.set_show_text, user_id=uid, on=bool(on))
        except NotAnnounced as exc:
            self.show_text = bool(exc.result)

    @rx.event
    async def mute(self, conversation_id: int, choice: str):  # type: ignore[no-untyped-def]
        """Mute a conversation (8 hours, 1 week, always) or unmute it ("off")."""
        from chatapp.state.chat import ChatState

        uid, _ = await self._session()
        chat = await self.get_state(ChatState)
        if not uid:
            return
        try:
            conv = int(conversation_id)
        except (TypeError, ValueError):
            return
        try:
            until = await db_call(
                notifications.mute, user_id=uid, conversation_id=conv, choice=str(choice)
            )
        except NotAnnounced as exc:
            until = exc.result
        except ServiceError as exc:
            chat.notice = str(exc)
            return
        show_mute(chat, await self.get_state(SidebarState), conv, until)

    @rx.event
    def dismiss_toast(self) -> None:
        self.toast = {}

    # Delivery (ChatState's, with the tab's state locked) -------------------------------------
    def _arrived(self, chat: Any, event: MessageEvent, row: dict[str, Any]) -> None:
        """Someone else's message (not muted): a toast unless its conversation is open, and a
        note for the browser to show if this tab is hidden (notify_script decides that)."""
        m = event["message"]
        conv = m["conv"]
        s, group = event["sender"], event.get("group")
        who = f"{s['name']} in {group['title']}" if group else s["name"]
        self._seq += 1
        ident = f"{self._seq}-{secrets.token_hex(3)}"
        if conv != chat.active_id:
            self.toast = {
                "id": ident,
                "conv": conv,
                "title": who,
                "body": preview(m["body"], False, bool(m["img"])),
                "initials": initials(group["title"] if group else s["name"]),
                "avatar": group["avatar"] if group else s["avatar"],
            }
        if self.desktop == ON and self.permission == "granted":
            notice = notifications.describe(
                sender=s["name"],
                group=group["title"] if group else None,
                body=m["body"],
                has_image=bool(m["img"]),
                count=int(row.get("unread") or 0),
                show_text=self.show_text,
            )
            self.note = [
                {
                    "id": ident,
                    "title": notice.title,
                    "body": notice.body,
                    "tag": f"conv-{conv}",
                    "url": f"/c/{conv}",
                }
            ]


def show_mute(chat: Any, sb: Any, conv: int, until: int) -> None:
    """A conversation's mute changed: its sidebar row (grey badge, title count) and header."""
    sidebar.update(sb, conv, {"muted": int(until)})
    if conv == chat.active_id and chat.active.get("muted", 0) != until:
        chat.active = {**chat.active, "muted": int(until)}


def _notifies(chat: Any, event: MessageEvent, sb: Any) -> dict[str, Any] | None:
    """The sidebar row of a message that notifies (None: the viewer's own, a system line, one
    announced again after a reconnect, or a muted conversation's: its badge counts, no more)."""
    m = event["message"]
    if m["sender"] == chat._uid or m.get("sys") or event.get("again"):
        return None
    found = sidebar.find(sb, m["conv"])
    row = found[1] if found is not None else {}
    return None if int(row.get("muted") or 0) > _now_ms() else row


async def on_event(chat: Any, event: BusEvent, sb: Any) -> None:
    """What a delivered event means for notifications (called by ChatState._apply_event after
    the sidebar took it). NotifyState is fetched only when there is something to show."""
    if event["type"] == "message":
        row = _notifies(chat, event, sb)
        if row is not None:
            (await chat.get_state(NotifyState))._arrived(chat, event, row)
    elif event["type"] == "mute":
        show_mute(chat, sb, event["conv"], event["until"])
    elif event["type"] == "notify_text":
        (await chat.get_state(NotifyState)).show_text = bool(event["on"])
