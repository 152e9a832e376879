"""The chat page's state: thin handlers that authorise, call services, and set small vars.

Messages and sidebar rows live in numbered vars of sibling states (state/view.py), so a new
message, a status change or a sidebar update costs a recipient O(1) bytes. The open conversation
is in the URL (/c/<id>): Back, reload and sharing work, and only its members can open it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from typing import Any

import reflex as rx

from chatapp.realtime import get_hub
from chatapp.services import conversations, events, messages
from chatapp.services.dto import ConversationOut
from chatapp.services.errors import ServiceError, Throttled, Unavailable
from chatapp.settings import get_settings
from chatapp.state import notify, sidebar, timeline, uploads
from chatapp.state.actions import ActionState
from chatapp.state.db_call import db_call, db_run, limit_call
from chatapp.state.groups import GroupState
from chatapp.state.reads import read_marks
from chatapp.state.session import SessionState
from chatapp.state.timefmt import Clock
from chatapp.state.view import ArrivalState, HistoryState, SidebarState, raw
from chatapp.wire import (
    BusEvent,
    ChangeEvent,
    GroupEvent,
    MessageEvent,
    WireMessage,
    conversation,
    initials,
    person,
    preview,
    sender_card,
)
from chatapp.wire import message as wire_message

log = logging.getLogger(__name__)
MAX_RAW_BODY = 20_000  # anything longer is refused before it is even trimmed
RETRY_SECONDS = 3.0  # the database was away during a page load: try again after this
MAX_UNSENT = 16  # failed or pending messages a tab keeps for Retry (< N_SLOTS)
MAX_REFUSED = 32  # refused client ids a tab remembers (the browser keeps its newest 16 sends)
OLDER_PAGE = 100  # messages per "load older" (the first page on open is messages.PAGE_SIZE)
JUMP_PAGES = 20  # a reply's quote loads at most this many older pages to find the original
TYPING_EVERY_S = 2.5  # a typing tab says so at most this often (the browser throttles to 3 s)
TYPING_SHOWN_S = 5.0  # "… is typing" stays this long after the last keystroke
CONV_PATH = re.compile(r"^/c/(\d{1,18})/?$")
LEFT_NOTICE = "You are no longer a member of this group: you can read it, not send."

# inline JS (1 of 9): the browser's IANA time zone and 12/24-hour preference, read once per
# browser (kept in localStorage); Reflex has no Python API for them. Times are formatted here.
CLOCK_JS = (
    "Intl.DateTimeFormat().resolvedOptions().timeZone + '|' + "
    "(new Intl.DateTimeFormat(undefined, {hour: 'numeric'}).resolvedOptions().hourCycle || '')"
)


# inline JS (2 of 9): where the reader has scrolled to ([scrollTop, scrollable height]); Reflex's
# on_scroll carries no position and there is no Python API to read it.
SCROLL_JS = (
    "(e => e ? [e.scrollTop, e.scrollHeight - e.clientHeight] : [0, 0])"
    "(document.getElementById('message-scroller'))"
)


# Keep what is being sent in the browser before the event leaves it. Reflex's events carry no
# acknowledgement, and the browser's storage is written only by the server's answers: a message
# the server received but never answered (it died, or Redis was away so no handler could run)
# would be gone, the composer already cleared. This function runs on submit, in the browser,
# before the event is queued (also while offline): it gives the message a client id and writes
# {id: conversation, text, image, sender, replied-to id} to sessionStorage ("chat_unsent", the
# newest 16); the server reads it back as `ChatState.kept` on the next connection and sends
# again what its signed-in sender kept (same id: stored once). inline JS (5 of 9): Reflex has
# no Python API to write browser storage from the browser, nor to give an event an id before it
# is sent.
KEEP_UNSENT_JS = (
    "(f => { const d = Object.assign({}, f);"  # (a plain copy: Reflex sends a form's own entries)
    " try { if (!d.cid) d.cid = Array.from(crypto.getRandomValues(new Uint8Array(16)),"
    " b => b.toString(16).padStart(2, '0')).join('');"
    " if ((d.body || '').trim() || d.media) { const k = 'chat_unsent',"
    " o = JSON.parse(sessionStorage.getItem(k) || '{}');"
    " o[d.cid] = {c: Number(d.conversation) || 0, b: d.body || '', m: d.media || '',"
    " u: d.who || '', r: Number(d.reply) || 0};"
    " sessionStorage.setItem(k, JSON.stringify(Object.fromEntries(Object.entries(o).slice(-16))));"
    " } } catch (e) {} return d; })"
)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _now_ms() -> int:
    return int(time.time() * 1000)


class ChatState(rx.State):
    active_id: int = 0
    active: dict[str, Any] = {}  # the open conversation's sidebar row (header)
    # The open group's people (current members and the writers of the shown messages): id ->
    # name, initials, avatar. Sent once when the group opens; a message carries only the
    # sender's id, and its bubble looks the name up here (a group message costs a tab no more
    # bytes than a direct one).
    writers: dict[str, dict[str, str]] = {}
    has_more: bool = False
    loading_older: bool = False
    pill: bool = False  # "New messages": something arrived while the reader was scrolled up
    people: list[dict[str, Any]] = []  # search results
    search: str = ""
    online_only: bool = False
    notice: str = ""
    highlight: int = 0  # the message a reply's quote jumped to
    # Read receipts on the viewer's own messages: the bubble that shows them, and what it says
    # ("Seen"; in a group "Seen by N" and who).
    seen_id: int = 0
    seen_label: str = ""
    seen_names: list[str] = []
    typing_label: str = ""  # "alice is typing…" in the header
    profile_card: dict[str, Any] = {}
    profile_open: bool = False
    no_conversations: bool = False
    # Composer: Send is enabled only for something sendable; a counter near the limit.
    draft_len: int = 0
    draft_blank: bool = True
    composer_seed: str = ""  # the open conversation's draft, the composer's initial text
    attachment: dict[str, Any] = {}  # {name, progress, busy, error, id, thumb}
    # "Europe/Berlin|h23": where and how the viewer reads times (browser-wide).
    clock: str = rx.LocalStorage("", name="chat_clock")
    # Drafts per conversation, {conversation id: text}, kept for this tab across reloads.
    drafts: str = rx.SessionStorage("{}", name="chat_drafts")
    # Messages not yet confirmed stored, {client id: {c: conversation, b: body, m: media}}, kept
    # by the browser: after a server restart they are sent again with the same id (stored once).
    outbox: str = rx.SessionStorage("{}", name="chat_outbox")
    # Written by the browser only (KEEP_UNSENT_JS): every message submitted, kept until the
    # next connection has made sure it was stored. Never assigned here.
    kept: str = rx.SessionStorage("{}", name="chat_unsent")
    # Client ids of messages refused with their text given back to the composer (or discarded):
    # never sent again from `kept`. Written only on a refusal.
    refused: str = rx.SessionStorage("[]", name="chat_refused")
    # How many times the server has rewritten drafts, outbox and refused: stored with them, so a
    # new connection can tell whose copies are newer (see _client_copies).
    copies_gen: str = rx.SessionStorage("0", name="chat_copies_gen")

    _uid: int = 0
    _token: str = ""
    _sid: str = ""  # the websocket connection the view was built for
    _cursor: timeline.Cursor = rx.field(default_factory=timeline.Cursor, is_var=False)
    _oldest: int = 0
    _near_bottom: bool = True
    _unsent: dict[str, dict[str, Any]] = {}  # client id -> {conv, body, media}
    _upload_gen: int = 0
    _flush_after_send: bool = False
    _auto_retrying: bool = False
    _sent_body: str = ""  # the text just sent (a late debounced draft save must not bring it back)
    _drafts: dict[str, str] = {}  # the server's copies of `drafts` and `outbox` (see below)
    _outbox: dict[str, dict[str, Any]] = {}
    _refused: list[str] = []
    _copies_conn: str = ""
    _copies_gen: int = 0  # the generation of the server's copies (copies_gen)
    _readers: dict[int, tuple[str, int]] = {}  # other members who send receipts: (name, up to)
    _receipts: bool = False  # the viewer sends (and so sees) read receipts
    _mine: list[int] = []  # ids of the viewer's own stored messages in view (newest last)
    _typers: dict[int, tuple[str, float]] = {}  # who is typing in the open conversation, since
    _typed_at: float = 0.0  # when this tab last said it is typing

    # Plumbing -------------------------------------------------------------------------------
    async def _user_id(self) -> int:
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if uid != self._uid:
            if self._uid and self._token:
                # Another account in this tab (log out, log in as someone else): forget it all.
                await get_hub().tab_closed(self._uid, self._token)
            self._sid = ""
            self._uid = uid
        return uid

    def _clock(self) -> Clock:
        return Clock.parse(self.clock)

    async def _views(self) -> tuple[Any, Any, Any]:
        return (
            await self.get_state(HistoryState),
            await self.get_state(ArrivalState),
            await self.get_state(SidebarState),
        )

    async def _online(self, user_ids: list[int]) -> set[int]:
        return await get_hub().presence.online(user_ids)

    # Drafts, the outbox and the refused ids are kept by the browser (sessionStorage) for
    # reloads and restarts, and by the tab's server state. Within a connection the server's copy
    # is the truth: a route change makes the browser send back its stored values, which can be
    # older than what the server wrote a moment before (its answer still on the way). On a new
    # connection the newer copy wins, told by their generation (`copies_gen`, written with every
    # change): the browser's after a restart (the server's state is gone or was saved before its
    # last answers), the server's after a reconnect that cut off an answer (the browser would
    # bring a sent message's draft back, or resend what was confirmed stored).
    def _client_copies(self) -> None:
        sid = self.router.session.session_id
        if self._copies_conn == sid:
            return
        self._copies_conn = sid
        browser_gen = _int(self.copies_gen)
        if browser_gen < self._copies_gen:
            return  # the browser missed answers: _store_client_copies sends it the server's
        self._copies_gen = browser_gen
        self._drafts = {str(k): str(v) for k, v in _json_map(self.drafts).items()}
        self._outbox = {str(k): v for k, v in _json_map(self.outbox).items() if isinstance(v, dict)}
        try:
            refused = json.loads(self.refused or "[]")
        except ValueError:
            refused = []
        self._refused = (
            [str(c) for c in refused][-MAX_REFUSED:] if isinstance(refused, list) else []
        )

    def _kept_map(self, username: str) -> dict[str, dict[str, Any]]:
        """What the browser kept of this user's sends (KEEP_UNSENT_JS), minus what was refused.
        (sessionStorage outlives a log-out in the tab: another account's are never sent.)"""
        self._client_copies()
        refused = set(self._refused)
        return {
            str(k): v
            for k, v in _json_map(self.kept).items()
            if isinstance(v, dict) and str(k) not in refused and v.get("u") == username
        }

    def _refuse_id(self, cid: str) -> None:
        self._client_copies()
        if cid and cid not in self._refused:
            self._refused = [*self._refused, cid][-MAX_REFUSED:]
            self._store_client_copies()

    def _draft_map(self) -> dict[str, str]:
        self._client_copies()
        return dict(self._drafts)

    def _outbox_map(self) -> dict[str, dict[str, Any]]:
        self._client_copies()
        return dict(self._outbox)

    def _store_client_copies(self) -> None:
        """Write the server's copies to the browser when they differ from what it sent, with
        their new generation."""
        drafts = json.dumps(self._drafts, ensure_ascii=False)
        outbox = json.dumps(self._outbox, ensure_ascii=False, separators=(",", ":"))
        refused = json.dumps(self._refused)
        changed = False
        if drafts != self.drafts:
            self.drafts, changed = drafts, True
        if outbox != self.outbox:
            self.outbox, changed = outbox, True
        if refused != (self.refused or "[]"):
            self.refused, changed = refused, True
        if changed or _int(self.copies_gen) != self._copies_gen:
            self._copies_gen += changed
            self.copies_gen = str(self._copies_gen)

    def _outbox_set(self, cid: str, entry: dict[str, Any] | None) -> None:
        box = self._outbox_map()
        if entry is None:
            if box.pop(cid, None) is None:
                return
        else:
            box[cid] = entry
        self._outbox = box
        self._store_client_copies()

    def _set_draft(self, conv_id: int, text: str) -> None:
        drafts = self._draft_map()
        if text.strip():
            drafts[str(conv_id)] = text[:MAX_RAW_BODY]
        else:
            drafts.pop(str(conv_id), None)
        self._drafts = drafts
        self._store_client_copies()
        if conv_id == self.active_id:
            self._composer(text)

    # (Reflex sends every var that was assigned, changed or not: assign only real changes, so a
    # send costs the sender's tab only the vars that did change.)
    def _composer(self, text: str) -> None:
        if self.draft_len != len(text):
            self.draft_len = len(text)
        if self.draft_blank != (not text.strip()):
            self.draft_blank = not text.strip()

    # Page load, navigation, reconnect ---------------------------------------------------------
    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        """on_load of / and /c/<id>. A new websocket connection (first load, reconnect, server
        restart) rebuilds the whole view from the database: nothing missed, nothing twice. A
        navigation on the same connection only switches the conversation."""
        session = await self.get_state(SessionState)
        try:
            if not await session._ensure_signed_in():
                return rx.redirect("/login", replace=True)
            return await self._load()
        except Unavailable as exc:
            # The database is away: say so, keep what is on screen, try again shortly.
            session.outage = self.notice = f"{exc} Trying again…"
            return ChatState.retry_load

    @rx.event(background=True)
    async def retry_load(self):  # type: ignore[no-untyped-def]
        await asyncio.sleep(RETRY_SECONDS)
        yield ChatState.load

    async def _load(self) -> Any:
        uid = await self._user_id()
        if not uid:
            return rx.redirect("/login", replace=True)
        if self.notice.endswith("Trying again…"):
            self.notice = ""
        if not self.clock:
            return rx.call_script(CLOCK_JS, callback=ChatState.set_clock)
        target = self._route_conversation()
        sid = self.router.session.session_id
        self._client_copies()
        self._store_client_copies()  # (a route change may have sent older copies back)
        events: list[Any] = []
        if sid != self._sid:
            self._sid = sid
            await self._full_load(uid)
            if self._outbox_map() or _json_map(self.kept):
                events.append(ChatState.flush_outbox)
        elif target == self.active_id:
            return None
        if not target:
            await self._close()
            # A new account: straight to the search field.
            if self.no_conversations:
                events.append(rx.set_focus("people-search"))
            return events
        if target == self.active_id and await self._catch_up(uid, target):
            # The composer as _open leaves it (this conversation's draft, focused).
            draft = self._draft_map().get(str(target), "")
            self._composer(draft)
            self.composer_seed = draft
            return [rx.set_value("composer", draft), rx.set_focus("composer"), *events]
        opened = await self._open(uid, target)
        return [*(opened if isinstance(opened, list) else [opened]), *events]

    async def _catch_up(self, uid: int, conv_id: int) -> bool:
        """Back on a new connection with this conversation's view intact (a network blip, a
        restart of another process): ask what is new and what changed after what the view
        shows, and add only that; the reader keeps the older pages loaded and their place.
        False when the view must be rebuilt instead (nothing to start from, or too much
        missed)."""
        history, arrivals, sb = await self._views()
        cur = timeline.Cursor.load(self._cursor)
        after_id = timeline.catch_up_from(cur, history, arrivals)
        if not after_id or not cur.pages_used:
            return False
        try:
            row, page, changes = await db_call(
                messages.catch_up,
                user_id=uid,
                conversation_id=conv_id,
                after_id=after_id,
                after_seq=cur.seq,
                origin=self._token,
            )
        except ServiceError:
            return False
        if page.has_more or not changes.complete or row.left != bool(self.active.get("left")):
            return False
        clock = self._clock()
        for item in page.items:
            m = wire_message(item, page.quotes.get(item.reply_to_id or 0))
            if timeline.is_shown(cur, m):
                continue
            view = timeline.view_of(
                m,
                viewer=uid,
                clock=clock,
                prev_at=cur.last_at,
                prev_sender=cur.last_sender,
                reactions=page.reactions.get(item.id),
            )
            timeline.put(cur, history, arrivals, view)
            if item.sender_id == uid and not item.system:
                self._mine = [*raw(self._mine), item.id][-64:]
        self._add_writers(timeline.people_of(page.senders))
        for ch in changes.items:
            m = wire_message(ch.message, ch.quote)
            old = timeline.current(cur, history, arrivals, m["cid"], m["id"])
            if old is not None:
                timeline.replace(
                    cur, history, arrivals, timeline.changed(old, m, ch.reactions, uid)
                )
        cur.seq = max(cur.seq, changes.seq)
        self._cursor = cur.dump()
        online = await self._online([row.peer.id] if row.peer else [])
        item_row = conversation(row, uid, online, clock.short_when(_ms_of(row)))
        item_row["unread"] = 0
        sidebar.update(sb, conv_id, {"unread": 0})
        self.active = dict(item_row)
        await self._load_readers(uid, conv_id, left=row.left)
        return True

    def _route_conversation(self) -> int:
        match = CONV_PATH.match(self.router.url.path or "")
        return int(match.group(1)) if match else 0

    async def _ensure_view(self, uid: int) -> None:
        """An event on a connection this state has not built the view for: the server
        restarted, or the tab's state was lost (Redis restarted empty) and this event arrived
        before on_load. Rebuild it (every view var, so nothing stale stays in the browser)."""
        sid = self.router.session.session_id
        if sid == self._sid:
            return
        if not self._sid:
            history, arrivals, sb = await self._views()
            timeline.clear_all(history, arrivals)
            sidebar.reset(sb, [], clear_all=True)
            self._cursor = timeline.Cursor()
        self._sid = sid
        await self._full_load(uid)
        target = self._route_conversation()
        if target and not (target == self.active_id and await self._catch_up(uid, target)):
            await self._open(uid, target)
        # on_load will see this connection as built: the outbox is flushed from here instead.
        self._flush_after_send = bool(self._outbox_map() or _json_map(self.kept))

    @rx.event
    async def set_clock(self, spec: str):  # type: ignore[no-untyped-def]
        self.clock = str(spec)[:80] or "UTC|"
        return ChatState.load

    async def _full_load(self, uid: int) -> None:
        self._token = self.router.session.client_token
        await get_hub().tab_opened(uid, self._token)
        await read_marks.flush()  # so the unread counts below are current
        rows = await db_call(conversations.list_conversations, user_id=uid)
        online = await self._online([r.peer.id for r in rows if r.peer])
        clock = self._clock()
        _, _, sb = await self._views()
        sidebar.reset(sb, [conversation(r, uid, online, clock.short_when(_ms_of(r))) for r in rows])
        self.no_conversations = not rows
        await self._refresh_people(uid)

    async def _open(self, uid: int, conv_id: int) -> list[Any] | Any:
        try:
            row, page = await db_call(
                messages.open_conversation, user_id=uid, conversation_id=conv_id, origin=self._token
            )
        except ServiceError as exc:
            self.notice = str(exc)
            await self._close()
            return rx.redirect("/", replace=True)
        history, arrivals, sb = await self._views()
        clock = self._clock()
        online = await self._online([row.peer.id] if row.peer else [])
        item = conversation(row, uid, online, clock.short_when(_ms_of(row)))
        item["unread"] = 0
        if not sidebar.update(sb, conv_id, {"unread": 0}):
            sidebar.insert_top(sb, item)
            self.no_conversations = False
        cur = timeline.clear(timeline.Cursor.load(self._cursor), history, arrivals)
        before_at = _ms_dt(page.before_at)
        views = timeline.views_of(
            page.items,
            viewer=uid,
            clock=clock,
            prev_at=before_at,
            prev_sender=page.before_sender,
            reactions=page.reactions,
            quotes=page.quotes,
        )
        self.writers = timeline.people_of(page.senders)
        timeline.show_page(cur, history, views)
        cur.seq = page.seq
        self._mine = [m.id for m in page.items if m.sender_id == uid and not m.system][-64:]
        # This tab's unsent messages of this conversation come back, still retryable.
        for unsent in self._unsent.values():
            if unsent["conv"] == conv_id:
                timeline.put(cur, history, arrivals, unsent["view"])
        self._cursor = cur.dump()
        self._oldest = page.items[0].id if page.items else 0
        self.has_more = page.has_more
        self.active_id = conv_id
        self.active = dict(item)
        await self._load_readers(uid, conv_id, left=row.left)  # (after `active`: group or not)
        self.pill = False
        self.notice = ""
        self._near_bottom = True
        self._typers = {}
        self._update_typing()
        draft = self._draft_map().get(str(conv_id), "")
        self._composer(draft)
        # The box is drawn with this text (a reload draws it before set_value could reach it).
        self.composer_seed = draft
        return [rx.set_value("composer", draft), rx.set_focus("composer")]

    async def _load_readers(self, uid: int, conv_id: int, *, left: bool) -> None:
        markers = None
        if not left:
            try:
                markers = await db_call(
                    conversations.read_markers, user_id=uid, conversation_id=conv_id
                )
            except ServiceError:
                markers = None
        self._receipts = markers is not None
        self._readers = {r.user_id: (r.name, r.upto) for r in markers or []}
        self._update_seen()

    def _update_seen(self) -> None:
        """Which of the viewer's messages shows a read receipt, and what it says: in a direct
        conversation "Seen" on the newest one the other person has read; in a group "Seen by N"
        on the viewer's newest message."""
        seen_id, label, names = 0, "", []
        mine = raw(self._mine)
        readers = raw(self._readers)
        if mine and readers:
            if self.active.get("group"):
                last = mine[-1]
                names = sorted(n for n, upto in readers.values() if upto >= last)
                if names:
                    seen_id, label = last, f"Seen by {len(names)}"
            else:
                upto = max(u for _n, u in readers.values())
                read = [i for i in mine if i <= upto]
                if read:
                    seen_id, label = read[-1], "Seen"
        if self.seen_id != seen_id:
            self.seen_id = seen_id
        if self.seen_label != label:
            self.seen_label = label
        if raw(self.seen_names) != names:
            self.seen_names = names

    def _update_typing(self, drop: int = 0) -> None:
        """The header's "… is typing" from who typed in the last TYPING_SHOWN_S seconds."""
        now = time.time()
        typers = {
            u: (n, t)
            for u, (n, t) in raw(self._typers).items()
            if u != drop and now - t < TYPING_SHOWN_S
        }
        if typers != raw(self._typers):
            self._typers = typers
        names = sorted(n for n, _t in typers.values())
        if not names:
            label = ""
        elif len(names) == 1:
            label = f"{names[0]} is typing…"
        elif len(names) == 2:
            label = f"{names[0]} and {names[1]} are typing…"
        else:
            label = f"{len(names)} people are typing…"
        if self.typing_label != label:
            self.typing_label = label

    def _expire_typing(self) -> None:
        """Called a little after TYPING_SHOWN_S by the delivery (state/bridge.py)."""
        if raw(self._typers):
            self._update_typing()

    @rx.event
    async def typing(self, conversation_id: int):  # type: ignore[no-untyped-def]
        """The composer changed (throttled in the browser): tell the others, at most once every
        TYPING_EVERY_S seconds."""
        conv = _int(conversation_id)
        now = time.time()
        if not conv or conv != self.active_id or self.active.get("left"):
            return
        if now - self._typed_at < TYPING_EVERY_S:
            return
        uid = await self._user_id()
        if not uid:
            return
        self._typed_at = now
        session = await self.get_state(SessionState)
        try:
            await db_call(
                conversations.typing, user_id=uid, conversation_id=conv, name=session.display_name
            )
        except (ServiceError, events.NotAnnounced):
            pass  # (only a hint)

    async def _close(self) -> None:
        history, arrivals, _ = await self._views()
        self._cursor = timeline.clear(timeline.Cursor.load(self._cursor), history, arrivals).dump()
        self.active_id = 0
        self.active = {}
        self.writers = {}
        self.has_more = False
        self.pill = False

    async def _refresh_people(self, uid: int) -> None:
        found = (
            await db_call(conversations.search_people, user_id=uid, query=self.search)
            if len(self.search.strip()) >= 2
            else []
        )
        online = await self._online([p.id for p in found])
        self.people = [dict(person(p, p.id in online)) for p in found]
        get_hub().watch(self._token, [p.id for p in found])

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
        self.people = []
        return rx.redirect(f"/c/{conv_id}")

    @rx.event
    async def open_conversation(self, conversation_id: int):  # type: ignore[no-untyped-def]
        """Rows are links to /c/<id>; this is the same for a keyboard shortcut or a script."""
        uid = await self._user_id()
        if not uid:
            return rx.redirect("/login")
        return await self._open(uid, _int(conversation_id))

    @rx.event
    async def show_profile(self, user_id: int):  # type: ignore[no-untyped-def]
        """Another user's card (name, avatar, bio, presence), opened from the header."""
        uid = await self._user_id()
        if not uid:
            return
        target = _int(user_id)
        card = await db_call(
            conversations.person_card,
            user_id=target,
            viewer_id=uid,
            found=any(p.get("id") == target for p in self.people),
        )
        if card is None:
            self.notice = "That person does not exist."
            return
        online = await self._online([card.person.id])
        self.profile_card = {**person(card.person, card.person.id in online), "bio": card.bio}
        self.profile_open = True

    @rx.event
    def set_profile_open(self, value: bool) -> None:
        self.profile_open = bool(value)

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    # History and scrolling ---------------------------------------------------------------------
    @rx.event
    async def load_older(self):  # type: ignore[no-untyped-def]
        uid = await self._user_id()
        if not uid or not self.active_id or not self.has_more or self.loading_older:
            return
        self.loading_older = True
        yield
        try:
            await self._older_page(uid)
        except ServiceError as exc:
            self.notice = str(exc)
            return
        finally:
            self.loading_older = False
        if self.has_more:
            # Still at the top (a long jump up, or a short page)? Ask again: the browser sends
            # no scroll event while the reader does not move.
            yield rx.call_script(SCROLL_JS, callback=ChatState.scrolled)

    async def _older_page(self, uid: int) -> None:
        """Put the next older page above what is shown (ServiceError if refused)."""
        conv = self.active_id
        page = await db_call(
            messages.list_messages,
            user_id=uid,
            conversation_id=conv,
            before_id=self._oldest or None,
            limit=OLDER_PAGE,
        )
        if conv != self.active_id:
            return  # another conversation was opened meanwhile
        history, _, _ = await self._views()
        cur = timeline.Cursor.load(self._cursor)
        views = timeline.views_of(
            page.items,
            viewer=uid,
            clock=self._clock(),
            prev_at=_ms_dt(page.before_at),
            prev_sender=page.before_sender,
            reactions=page.reactions,
            quotes=page.quotes,
        )
        self._add_writers(timeline.people_of(page.senders))
        timeline.prepend_older(cur, history, views)
        self._cursor = cur.dump()
        if page.items:
            self._oldest = page.items[0].id
        self.has_more = page.has_more

    @rx.event
    async def jump_to(self, message_id: int):  # type: ignore[no-untyped-def]
        """A reply's quote was clicked: show the quoted message (loading older pages until it
        is there), scroll to it and highlight it."""
        uid = await self._user_id()
        target = _int(message_id)
        if not uid or not self.active_id or target <= 0:
            return None
        history, arrivals, _ = await self._views()
        for _ in range(JUMP_PAGES):
            if timeline.shows_id(timeline.Cursor.load(self._cursor), history, arrivals, target):
                self.highlight = target
                return rx.scroll_to(f"m{target}")
            if not self.has_more or (self._oldest and target >= self._oldest):
                break
            try:
                await self._older_page(uid)
            except ServiceError as exc:
                self.notice = str(exc)
                return None
        self.notice = "That message is not in the history you can see."
        return None

    @rx.event
    def scrolled(self, position: list[float]):  # type: ignore[no-untyped-def]
        """Throttled scroll reports: [scrollTop, scrollable height]. The list is laid out
        bottom-up (column-reverse), so 0 is the newest end and -height the oldest."""
        try:
            top, height = float(position[0]), float(position[1])
        except (TypeError, ValueError, IndexError):
            return None
        self._near_bottom = top > -80
        if self._near_bottom and self.pill:
            self.pill = False
        if height + top < 200 and self.has_more and not self.loading_older:
            return ChatState.load_older
        return None

    @rx.event
    def jump_to_newest(self):  # type: ignore[no-untyped-def]
        self.pill = False
        self._near_bottom = True
        return rx.scroll_to("messages-end")

    # Composer -----------------------------------------------------------------------------------
    @rx.event
    def set_draft(self, text: str, conversation_id: int = 0) -> None:
        """The composer's text (debounced), saved as the draft of the conversation it was typed
        in (the id is taken when the key is pressed, not when the save arrives)."""
        text = str(text)[:MAX_RAW_BODY]
        conv = _int(conversation_id) or self.active_id
        if not conv or conv != self.active_id:
            return  # typed in a conversation that is no longer open: its blur saved it already
        if self._sent_body and text == self._sent_body:
            return  # a late save of the text that was just sent
        self._set_draft(conv, text)

    @rx.event
    async def send(  # type: ignore[no-untyped-def]
        self, form: dict[str, Any], client_id: str = "", conversation_id: int = 0
    ):
        """The composer's submit. The form carries the conversation the browser showed when Send
        was pressed: a send queued while offline still goes to that person even if another
        conversation was opened before it reached the server (membership is checked on store)."""
        form = form if isinstance(form, dict) else {}
        body = form.get("body", "")
        conv = _int(conversation_id) or _int(form.get("conversation"))
        # The id the browser gave it when it kept it (KEEP_UNSENT_JS): a re-send of the kept
        # copy after a crash then stores it once.
        cid = str(client_id or form.get("cid") or "") or secrets.token_urlsafe(12)
        reply = _int(form.get("reply"))
        async for update in self._send(str(body), cid, conv, new=True, reply_to=reply):
            yield update

    @rx.event
    async def flush_outbox(self):  # type: ignore[no-untyped-def]
        """After a reconnect: send again what this tab had not seen confirmed — the outbox (what
        the server had answered as pending or failed) and what the browser kept when Send was
        pressed (KEEP_UNSENT_JS: also what the server received but never answered, or could not
        take at all) — with the same client ids, so what was stored before is not stored twice."""
        try:
            uid = await self._user_id()
            session = await self.get_state(SessionState)
            # (sessionStorage outlives a log-out in the tab: only this user's own entries)
            mine = {c: e for c, e in self._outbox_map().items() if e.get("u") == uid}
            box = {**self._kept_map(session.username), **mine} if uid else {}
            if not box:
                return
            card = sender_card(uid, session.display_name, session.username, session.avatar)
            # (Those stored in the last two minutes are announced again, on commit: the
            # process that stored one may have died before telling the others.)
            stored = await db_call(
                messages.stored_sends,
                sender_id=uid,
                client_ids=list(box),
                origin=self._token,
                sender=card,
            )
        except events.NotAnnounced as exc:
            stored = exc.result  # (the next reconnect announces them again)
        except Unavailable:
            return  # still away: the next reconnect tries again
        for result in stored:
            self._outbox_set(result.message.client_id, None)
            box.pop(result.message.client_id, None)
        for cid, entry in list(box.items())[:MAX_UNSENT]:
            async for update in self._send(
                str(entry.get("b", "")),
                cid,
                _int(entry.get("c")),
                media_id=str(entry.get("m", ""))[:32],
                reply_to=_int(entry.get("r")),
            ):
                yield update

    @rx.event(background=True)
    async def retry_failed_later(self):  # type: ignore[no-untyped-def]
        """Sends that failed because the database was away are tried again by themselves
        (after 2, 4, 8 … 30 s) while this tab stays open; Retry still works by hand."""
        delay = 2.0
        try:
            for _ in range(20):
                await asyncio.sleep(delay)
                async with self:
                    waiting = [c for c, u in self._unsent.items() if u.get("auto")]
                if not waiting:
                    return
                for cid in waiting[:MAX_UNSENT]:
                    yield ChatState.resend(cid)  # type: ignore[operator]
                delay = min(30.0, delay * 2)
        finally:
            async with self:
                self._auto_retrying = False

    @rx.event
    async def resend(self, client_id: str):  # type: ignore[no-untyped-def]
        unsent = self._unsent.get(str(client_id))
        if unsent is None:
            self.notice = "That message is no longer waiting to be sent."
            return
        async for update in self._send(
            unsent["body"],
            str(client_id),
            unsent["conv"],
            media_id=unsent["media"],
            reply_to=int(unsent.get("reply") or 0),
        ):
            yield update

    @rx.event
    async def discard(self, client_id: str):  # type: ignore[no-untyped-def]
        """Give up on a failed message."""
        cid = str(client_id)
        self._outbox_set(cid, None)
        if self._unsent.pop(cid, None) is None:
            return
        self._refuse_id(cid)  # (and never from the browser's kept copy)
        _, arrivals, _ = await self._views()
        cur = timeline.Cursor.load(self._cursor)
        timeline.drop(cur, arrivals, cid)
        self._cursor = cur.dump()

    # Attaching an image (state/uploads.py) ------------------------------------------------------
    @rx.event(background=True)
    async def attach_image(self, chunks: rx.UploadChunkIterator):  # type: ignore[no-untyped-def]
        async with self:
            uid = await self._user_id()
            self._upload_gen += 1
            gen = self._upload_gen
            if uid:
                self.attachment = uploads.progressed({}, {"progress": 0})
        result = await uploads.take(chunks, owner_id=uid, purpose="chat")
        if result is None:
            return
        async with self:
            if gen == self._upload_gen:  # not removed or replaced meanwhile
                self.attachment = result

    @rx.event
    def upload_progress(self, progress: dict[str, Any]) -> None:
        self.attachment = uploads.progressed(self.attachment, progress)

    @rx.event
    def upload_rejected(self, files: list[Any]) -> None:
        self._upload_gen += 1
        self.attachment = uploads.rejected(files)

    @rx.event
    def clear_attachment(self) -> None:
        self._upload_gen += 1
        self.attachment = {}

    def _refuse(self, message: str, body: str, cid: str = "") -> Any:
        self.notice = message
        self._refuse_id(cid)  # (the browser kept it: never send it from there)
        # Give the text back: refused, never silently cut.
        return rx.set_value("composer", body[:MAX_RAW_BODY])

    async def _send(  # type: ignore[no-untyped-def]
        self,
        body: str,
        cid: str,
        conv_id: int,
        *,
        media_id: str = "",
        new: bool = False,
        reply_to: int = 0,
    ):
        try:
            uid = await self._user_id()
            if uid:
                await self._ensure_view(uid)
                conv_id = conv_id or (self.active_id if new else 0)
        except Unavailable as exc:
            if new:
                yield self._refuse(f"{exc} Not sent: press Send again in a moment.", body, cid)
            else:
                self.notice = f"{exc} Not sent yet: it will be sent when the server is back."
            return
        if not uid:
            self.notice = "Your session has ended. Log in again to send."
            yield rx.redirect("/login")
            return
        if not conv_id:
            yield self._refuse("Open a conversation first.", body, cid)
            return
        if conv_id == self.active_id and self.active.get("left"):
            yield self._refuse(LEFT_NOTICE, body, cid)
            return
        if new:
            if self.attachment.get("busy"):
                yield self._refuse(
                    "The image is still uploading. Send when it is ready.", body, cid
                )
                return
            media_id = str(self.attachment.get("id") or "")
        if not body.strip() and not media_id:
            return  # an empty composer (e.g. the second press of a double press)
        what = "Captions" if media_id else "Messages"
        text = body.strip()
        if len(body) > MAX_RAW_BODY or len(text) > messages.MAX_BODY_CHARS:
            yield self._refuse(
                f"{what} can be at most {messages.MAX_BODY_CHARS:,} characters "
                f"(this one has {len(text):,}).",
                body,
            )
            return
        if not messages.CLIENT_ID_RE.fullmatch(cid):
            yield self._refuse("Invalid message id.", body, cid)
            return
        if new and len(self._unsent) >= MAX_UNSENT:
            yield self._refuse(
                "Too many messages are waiting to be sent. Retry those first.", body, cid
            )
            return
        if new:
            try:
                await limit_call(messages.admit_send, sender_id=uid)
            except Throttled as exc:
                yield self._refuse(str(exc), body, cid)
                return
        if self.notice:
            self.notice = ""
        history, arrivals, sb = await self._views()
        clock = self._clock()
        cur = timeline.Cursor.load(self._cursor)
        pending: WireMessage = {
            "id": 0,
            "cid": cid,
            "conv": conv_id,
            "sender": uid,
            "body": text,
            "at": _now_ms(),
            "img": f"/media/{media_id}/thumb" if media_id else "",
            "full": f"/media/{media_id}/full" if media_id else "",
            "w": int(self.attachment.get("w", 0)) if new else 0,
            "h": int(self.attachment.get("h", 0)) if new else 0,
        }
        if reply_to:
            actions = await self.get_state(ActionState)
            quoted = actions.replying
            if quoted.get("id") == reply_to:
                pending["reply"] = {
                    "id": reply_to,
                    "name": str(quoted.get("name", "")),
                    "body": str(quoted.get("body", "")),
                    "img": False,
                    "deleted": False,
                }
                actions.replying = {}
        if new:
            if self.attachment:
                self.attachment = {}
                self._upload_gen += 1
            self._sent_body = body
            key = str(conv_id)
            if self.draft_len or f'"{key}"' in self.drafts or key in raw(self._drafts):
                self._set_draft(conv_id, "")  # (else there is no draft to clear)
        view = timeline.view_of(
            pending,
            viewer=uid,
            clock=clock,
            prev_at=cur.last_at,
            prev_sender=cur.last_sender,
            status="pending",
        )
        shown = conv_id == self.active_id
        unsent = {"conv": conv_id, "body": text, "media": media_id, "view": view, "reply": reply_to}
        entry = {"c": conv_id, "b": text, "m": media_id, "u": uid}
        if reply_to:
            entry["r"] = reply_to  # (a re-send after a restart still answers it)
        scroll = rx.scroll_to("messages-end") if not self._near_bottom else None

        session = await self.get_state(SessionState)
        card = sender_card(uid, session.display_name, session.username, session.avatar)

        async def store() -> Any:
            if not new:  # (a new message was counted above)
                await limit_call(messages.admit_send, sender_id=uid)
            # Stored, then published to the members on commit (services/events.py).
            return await db_run(
                messages.send_message,
                sender_id=uid,
                conversation_id=conv_id,
                body=text,
                client_id=cid,
                media_ref=media_id or None,
                reply_to_id=reply_to or None,
                origin=self._token,
                sender=card,
            )

        storing = asyncio.ensure_future(store())
        # Most commits take a few ms: wait that long, and the tab gets one update (the bubble,
        # already sent) instead of two (pending, then sent), each a delta and a frame. A slow
        # database shows the pending bubble (and the outbox entry) after COMMIT_WAIT; one known
        # to be away shows it at once.
        wait = get_settings().send_commit_wait_ms / 1000
        quick = wait > 0 and not _database.away and await _settles(storing, wait)
        if not quick:
            if shown:
                timeline.put(cur, history, arrivals, view)
                self._cursor = cur.dump()
            self._unsent[cid] = unsent
            self._outbox_set(cid, entry)
            yield scroll  # the pending bubble goes out now; the database write follows
            scroll = None
        auto = False
        announced = True
        try:
            result = await storing
            error = ""
            _database.away = False
        except events.NotAnnounced as exc:
            # Stored, but not announced (the bus is away). It stays in the outbox, so this
            # tab's next connection announces it again (flush_outbox); tabs elsewhere catch up
            # when their bus is back. The sender sees it sent: it is stored.
            result, error, announced = exc.result, "", False
        except Throttled as exc:
            error, auto = str(exc), True
        except ServiceError as exc:
            error = str(exc)
            _database.away = isinstance(exc, Unavailable)
        except Exception:
            log.exception("send failed")
            error = "Check your connection and try again."
        cur = timeline.Cursor.load(self._cursor)
        if error:
            if error.startswith("Can't reach"):
                auto = True
                error = f"{error} It will be sent again when the server is back."
            failed = {**view, "status": "failed", "error": error}
            self._unsent[cid] = {**unsent, "view": failed, "auto": auto}
            if quick:
                self._outbox_set(cid, entry)  # kept for Retry, and re-sent after a restart
            if shown:
                timeline.put(cur, history, arrivals, failed)  # type: ignore[arg-type]
                self._cursor = cur.dump()
            if auto and not self._auto_retrying:
                self._auto_retrying = True
                yield [e for e in (scroll, ChatState.retry_failed_later) if e is not None]
            elif scroll is not None:
                yield scroll
            return
        # Committed: now (and only now) tell everyone.
        if cid in raw(self._unsent):
            self._unsent.pop(cid, None)
        # (A quick new send never went into the outbox: no round trip through it.)
        in_outbox = not (quick and new) or cid in self.outbox or cid in raw(self._outbox)
        wire = wire_message(result.message, result.quote)
        if "reply" in wire and "reply" not in view:  # (a re-send: the quote comes back stored)
            view = {**view, "reply": wire["reply"]}
        if shown:
            timeline.put(cur, history, arrivals, {**view, "id": wire["id"], "status": "sent"})
            self._cursor = cur.dump()
            if wire["id"] not in raw(self._mine):
                self._mine = [*raw(self._mine), wire["id"]][-64:]
                if self._readers:
                    self._update_seen()
        row = {
            "last_id": wire["id"],
            "when": clock.short_when(wire["at"]),
            "preview": preview(wire["body"], True, bool(wire["img"])),
            "unread": 0,
        }
        if not sidebar.update(sb, conv_id, row, to_top=True):
            await self._full_load(uid)
        if not announced:
            if not in_outbox:
                self._outbox_set(cid, entry)
            cid = ""
        if cid and in_outbox:
            self._outbox_set(cid, None)
        if self._flush_after_send:
            self._flush_after_send = False
            yield [e for e in (scroll, ChatState.flush_outbox) if e is not None]
        elif scroll is not None:
            yield scroll

    # Delivery (called by the bridge with this tab's state locked; no database here) ----------
    async def _apply_event(self, event: BusEvent) -> int:
        """Show a bus event in this tab. Returns a conversation id to mark read (the message
        arrived in the conversation on screen)."""
        uid = self._uid  # (the hub never delivers an event to the tab it came from)
        if not uid:
            return 0
        history, arrivals, sb = await self._views()
        if event["type"] == "message":
            mark = await self._apply_message(event, uid, history, arrivals, sb)
            await notify.on_event(self, event, sb)  # toast, notification (state/notify.py)
            return mark
        await notify.on_event(self, event, sb)  # mute, "show message text" (state/notify.py)
        if event["type"] == "change":
            self._apply_change(event, uid, history, arrivals, sb)
        elif event["type"] == "typing":
            if event["conv"] == self.active_id:
                self._typers = {**raw(self._typers), event["user"]: (event["name"], time.time())}
                self._update_typing()
        elif event["type"] == "seen":
            if event["conv"] == self.active_id and self._receipts:
                upto = max(event["upto"], raw(self._readers).get(event["user"], ("", 0))[1])
                self._readers = {**raw(self._readers), event["user"]: (event["name"], upto)}
                self._update_seen()
        elif event["type"] == "group":
            await self._apply_group(event, uid, sb)
        elif event["type"] == "read":
            sidebar.update(sb, event["conv"], {"unread": 0})
        elif event["type"] == "person":
            fields = {k: event[k] for k in ("title", "initials", "avatar")}  # type: ignore[literal-required]
            for conv in sidebar.update_people(sb, event["user"], fields):
                if conv == self.active_id:
                    self.active = {**self.active, **fields}
            self._update_people(event["user"], {"name": event["title"], **fields})
            if str(event["user"]) in self.writers:
                self._add_writers(
                    {
                        str(event["user"]): {
                            "name": event["title"],
                            "initials": event["initials"],
                            "avatar": event["avatar"],
                        }
                    }
                )
            if self.profile_card.get("id") == event["user"]:
                self.profile_card = {
                    **self.profile_card,
                    "name": event["title"],
                    "initials": event["initials"],
                    "avatar": event["avatar"],
                    "bio": event["bio"],
                }
        elif event["type"] == "presence":
            seen: dict[str, Any] = {"online": event["online"], "last_seen": event["last_seen"]}
            for conv in sidebar.update_people(sb, event["user"], seen):
                if conv == self.active_id:
                    self.active = {**self.active, **seen}
            self._update_people(event["user"], seen)
        return 0

    def _add_writers(self, people: dict[str, dict[str, str]]) -> None:
        """Add or update people of the open group's map; the var (the whole map) is sent again
        only when something in it changed."""
        have = raw(self.writers)
        new = {k: v for k, v in people.items() if have.get(k) != v}
        if new:
            self.writers = {**have, **new}

    def _update_people(self, user_id: int, fields: dict[str, Any]) -> None:
        if any(p.get("id") == user_id for p in self.people):
            self.people = [{**p, **fields} if p.get("id") == user_id else p for p in self.people]

    def _apply_change(
        self, event: ChangeEvent, uid: int, history: Any, arrivals: Any, sb: Any
    ) -> None:
        """A message was edited, deleted or reacted to: its bubble if shown (one var), and the
        sidebar preview if it is the conversation's last message."""
        m = event["message"]
        found = sidebar.find(sb, m["conv"])
        if found is not None and int(found[1].get("last_id") or 0) == m["id"]:
            text = "This message was deleted" if m.get("deleted") else m["body"]
            mine = m["sender"] == uid and not m.get("deleted")
            group = bool(found[1].get("group"))
            who = event["name"] if group and not mine else ""
            sidebar.update(sb, m["conv"], {"preview": preview(text, mine, bool(m["img"]), who=who)})
        if m["conv"] != self.active_id:
            return
        cur = timeline.Cursor.load(self._cursor)
        cur.seq = max(cur.seq, event["seq"])
        old = timeline.current(cur, history, arrivals, m["cid"], m["id"])
        if old is not None:
            view = timeline.changed(old, m, event["reactions"], uid)
            timeline.replace(cur, history, arrivals, view)
        if (
            old is None
            or old["body"] != m["body"]
            or bool(old.get("deleted")) != bool(m.get("deleted"))
        ):
            # Its text changed: so do the quotes of it in replies on screen.
            for reply in timeline.quoting(cur, history, arrivals, m["id"]):
                timeline.replace(cur, history, arrivals, timeline.requoted(reply, m))
        self._cursor = cur.dump()

    async def _apply_group(self, event: GroupEvent, uid: int, sb: Any) -> None:
        """A group changed: its row and header (name, picture, the viewer's role, whether the
        viewer is still in it), and Group info if it is open (state/groups.py)."""
        conv = event["conv"]
        info = await self.get_state(GroupState)
        if event.get("deleted"):
            sidebar.remove(sb, conv)
            if conv == self.active_id:
                await self._close()
                self.notice = "This group was deleted."
            info._forget(conv)
            return
        title = event.get("title", "")
        fields: dict[str, Any] = {
            "title": title,
            "initials": initials(title),
            "avatar": event.get("avatar", ""),
        }
        me = next((c for c in event.get("members", []) if c["id"] == uid), None)
        if me is not None:
            fields["left"] = not me["role"]
            fields["removed"] = not me["role"] and event.get("why") == "removed"
            if me["role"]:
                fields["role"] = me["role"]
        if not sidebar.update(sb, conv, fields) and me is not None and me["role"]:
            # Added to a group: its row comes now (its "… added you" line follows).
            sidebar.insert_top(
                sb,
                {
                    "id": conv,
                    "peer_id": 0,
                    "peer_username": "",
                    "online": False,
                    "last_seen": 0,
                    "preview": "",
                    "when": "",
                    "last_id": 0,
                    "unread": 0,
                    "group": True,
                    **fields,  # type: ignore[typeddict-item]
                },
            )
            self.no_conversations = False
        if conv == self.active_id:
            self.active = {**self.active, **fields}
            if fields.get("removed"):
                self.notice = "You were removed from this group."
        info._apply(event, uid)

    async def _apply_message(
        self, event: MessageEvent, uid: int, history: Any, arrivals: Any, sb: Any
    ) -> int:
        m = event["message"]
        mine = m["sender"] == uid
        conv = m["conv"]
        is_open = conv == self.active_id
        clock = self._clock()
        group = event.get("group")
        system = bool(m.get("sys"))
        s = event["sender"]
        row: dict[str, Any] = {
            "last_id": m["id"],
            "when": clock.short_when(m["at"]),
            "preview": preview(
                m["body"],
                mine,
                bool(m["img"]),
                who=s["name"] if group is not None else "",
                system=system,
            ),
        }
        found = sidebar.find(sb, conv)
        last_id = int(found[1].get("last_id") or 0) if found is not None else 0
        if found is not None and 0 < int(found[1].get("muted") or 0) <= _now_ms():
            row["muted"] = 0  # its mute has ended: the badge is not grey any more
        if is_open:
            row["unread"] = 0
        elif not mine and not system and found is not None:
            row["unread"] = int(found[1].get("unread", 0)) + 1
        if found is not None:
            if m["id"] == last_id:
                pass  # published again after a crash (flush_outbox): already in the row
            elif m["id"] < last_id:
                # Committed after a newer one (ids are given at insert): the row keeps the
                # newer preview; only the count changes. (Not for one announced again after a
                # reconnect: this tab most likely counted it when it first came.)
                if row.get("unread") and not event.get("again"):
                    sidebar.update(sb, conv, {"unread": row["unread"]})
            else:
                sidebar.update(sb, conv, row, to_top=True)
        elif group is not None:
            sidebar.insert_top(
                sb,
                {
                    "id": conv,
                    "title": group["title"],
                    "peer_id": 0,
                    "peer_username": "",
                    "initials": initials(group["title"]),
                    "avatar": group["avatar"],
                    "online": False,
                    "last_seen": 0,
                    "unread": 0 if mine or system else 1,
                    "group": True,
                    **row,  # type: ignore[typeddict-item]
                },
            )
            self.no_conversations = False
        else:
            other = not mine
            sidebar.insert_top(
                sb,
                {
                    "id": conv,
                    "title": s["name"] if other else "Conversation",
                    "peer_id": s["id"] if other else 0,
                    "peer_username": s["username"] if other else "",
                    "initials": s["initials"] if other else "?",
                    "avatar": s["avatar"] if other else "",
                    "online": other,
                    "last_seen": 0,
                    "unread": 0 if mine else 1,
                    **row,  # type: ignore[typeddict-item]
                },
            )
            self.no_conversations = False
        if not is_open:
            return 0
        if m["sender"] in raw(self._typers):
            self._update_typing(drop=m["sender"])  # their message came: no longer typing
        cur = timeline.Cursor.load(self._cursor)
        if timeline.is_shown(cur, m):
            return 0
        if group is not None and not system:  # (a member added since the group opened)
            card = {"name": s["name"], "initials": s["initials"], "avatar": s["avatar"]}
            self._add_writers({str(s["id"]): card})
        view = timeline.view_of(
            m,
            viewer=uid,
            clock=clock,
            prev_at=cur.last_at,
            prev_sender=cur.last_sender,
        )
        timeline.put(cur, history, arrivals, view)
        self._cursor = cur.dump()
        if not mine and not self._near_bottom and not self.pill:
            self.pill = True
        return 0 if mine else conv


def _json_map(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _ms_dt(dt: Any) -> int:
    return int(dt.timestamp() * 1000) if dt else 0


def _ms_of(row: ConversationOut) -> int:
    return _ms_dt(row.last_message.created_at) if row.last_message else 0


# The send path's wait for its commit (see ChatState._send) --------------------------------------


class _Database:
    __slots__ = ("away",)

    def __init__(self) -> None:
        # The last send found the database unreachable: show pending at once until one succeeds.
        self.away = False


_database = _Database()


async def _settles(fut: asyncio.Future[Any], seconds: float) -> bool:
    """Whether `fut` is done within `seconds` (it is not cancelled either way)."""
    done, _ = await asyncio.wait({fut}, timeout=seconds)
    return bool(done)
