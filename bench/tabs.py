"""Browser tabs for the three targets, behind one interface.

A :class:`Tab` is one user's browser tab: it connects, opens the conversation with its peer,
sends messages, and reports every incoming message to a :class:`Sink`. Both relays and chatapp
deliver a message as a feed op ``{"t": "msg", "item": {id, cid, sender, body, ...}}`` inside an
``event`` update's delta, so the parsing is shared; only connecting and emitting differ.

A :class:`ChatappTab` can also behave like the browser when the connection drops
(``reconnect=True``): it reconnects with the browser's back-off (a new socket, the same token,
the hydrate event carrying the client-storage values it last received: clock, drafts, outbox),
queues what is sent meanwhile and sends it after reconnecting; and like a person
(``retry=True``): it presses Retry on a failed bubble and Send again when a send was refused
(the text came back to the composer). Every message it shows is classified as delivered LIVE
(an arrival slot) or recovered by CATCH-UP (a page written when the view was rebuilt, or the
state replayed by a reconnect's hydrate), and a message shown twice at once is reported.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from bench.db import BenchUser
from bench.sio import SioClient

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
CHAT_STATE = f"{ROOT_STATE}.chatapp___state___chat____chat_state"
VIEW = f"{ROOT_STATE}.chatapp___state___view"
ARRIVALS = f"{VIEW}____arrival_state"
HISTORY = f"{VIEW}____history_state"
SIDEBAR = f"{VIEW}____sidebar_state"
OPEN_PAGE = "p50"  # chatapp.state.view.OPEN_PAGE
CLOCK = {f"{CHAT_STATE}.clock_rx_state_": "UTC|h23"}  # what a browser keeps in localStorage
# ChatState's client-storage vars (rx.LocalStorage / rx.SessionStorage): the browser stores
# what the server sends and hands them back in the hydrate event of every (re)connection.
STORAGE_FIELDS = ("clock_rx_state_", "drafts_rx_state_", "outbox_rx_state_", "refused_rx_state_")
OUTBOX = f"{CHAT_STATE}.outbox_rx_state_"
# What the browser keeps of each message when Send is pressed, before the event leaves it
# (chatapp's KEEP_UNSENT_JS, sessionStorage "chat_unsent": the newest 16; never written by the
# server, handed back in every hydrate).
KEPT = f"{CHAT_STATE}.kept_rx_state_"
KEPT_MAX = 16
BACKOFF_S = 0.2  # the browser retries a failed connection after 0.2 s × attempts (at most 10)
MAX_ATTEMPTS_FACTOR = 10
RETRY_FIRST_S = 2.0  # a person presses Retry / Send again after this, then less often
RETRY_MAX_S = 8.0
TRACE_LEN = 400
ROUTER = {"pathname": "/", "asPath": "/"}
ON_LOAD = f"{ROOT_STATE}.reflex___state____on_load_internal_state.on_load_internal"
UPDATE_VARS = "reflex___state____update_vars_internal_state.update_vars_internal"
CONV_PATH = re.compile(r"^/c/(\d+)/?$")  # chatapp's URL of an open conversation
CONTEXT_JS = Path(__file__).resolve().parent.parent / ".web" / "utils" / "context.jsx"

Op = dict[str, Any]


class Sink(Protocol):
    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None: ...
    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None: ...
    def error(self, tab: Tab, what: str) -> None: ...
    # A peer's message first shown by a rebuilt view (catch-up), not by a live arrival slot.
    def recovered(self, tab: Tab, item: dict[str, Any]) -> None: ...
    # The same message shown twice in the tab's view at once.
    def shown_twice(self, tab: Tab, cid: str) -> None: ...


class Tab(ABC):
    """One tab of `user`, talking to `peer`, on the server at 127.0.0.1:`port`."""

    def __init__(self, *, index: int, user: BenchUser, peer: BenchUser, port: int, sink: Sink):
        self.index = index
        self.user = user
        self.peer = peer
        self.port = port
        self.sink = sink
        self.token = str(uuid.uuid4())
        self.conv = 0
        self.client = SioClient(namespace=NAMESPACE, on_event=self._on_event, on_close=self._closed)
        self._hydrated: asyncio.Future[None] | None = None
        self.hydrated_at = 0.0  # (monotonic) the last time the page's on_load chain finished
        # (predicate, future) pairs resolved by the first op that matches.
        self._waiters: list[tuple[Callable[[Op], bool], asyncio.Future[Op]]] = []

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def open_conversation(self) -> None: ...

    @abstractmethod
    def send(self, body: str, cid: str) -> None: ...

    def close(self) -> None:
        self.client.close()

    # Waiting for ops ----------------------------------------------------------------------------
    def expect(self, predicate: Callable[[Op], bool]) -> asyncio.Future[Op]:
        fut: asyncio.Future[Op] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        return fut

    # Receiving ----------------------------------------------------------------------------------
    def _closed(self, why: str) -> None:
        self.sink.error(self, f"socket closed: {why}")
        self._fail_waiters(why)

    def _fail_waiters(self, why: str) -> None:
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(ConnectionError(why))
        self._waiters.clear()

    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name != "event" or not isinstance(data, dict):
            return
        delta = data.get("delta") or {}
        for state, fields in delta.items():
            if state == ROOT_STATE and fields.get("is_hydrated_rx_state_") is True:
                self._set_hydrated()
            feed = fields.get("feed_rx_state_", fields.get("feed"))
            if isinstance(feed, str) and feed:
                feed = json.loads(feed)  # the relays send a JSON feed of ops
            if isinstance(feed, dict):
                for op in feed.get("ops", ()):
                    self._on_op(op, size)
        for ev in data.get("events") or ():
            self._on_server_event(ev)

    def _set_hydrated(self) -> None:
        """Reflex's on_load chain finished (chatapp only; relays never send the flag)."""
        self.hydrated_at = time.monotonic()
        log = getattr(self, "_log", None)
        if log is not None:
            log("hydrated (on_load finished)")
        if self._hydrated is not None and not self._hydrated.done():
            self._hydrated.set_result(None)

    def own(self, item: dict[str, Any]) -> bool:
        """A message this tab's user sent (its status changes are confirmations), not one
        delivered to it. A group's system line ("alice added bob") carries its actor as sender
        but is delivered to every member, the actor's tabs included (chatapp shows it as nobody's
        own: ``sys``), so it is never one's own."""
        return item.get("sender") == self.user.id and not item.get("sys")

    def _on_server_event(self, ev: dict[str, Any]) -> None:
        name = str(ev.get("name", ""))
        if name == "_redirect":
            self.sink.error(self, f"redirected to {ev.get('payload', {}).get('path')}")
        elif name == "_call_function" and _error_toast(ev):
            self.sink.error(self, "server error (backend exception toast)")
            self._fail_waiters("the server raised an exception handling this tab's event")

    def _on_op(self, op: Op, size: int) -> None:
        t = op.get("t")
        if t == "msg":
            item = op["item"]
            if not self.own(item):
                self.sink.delivered(self, item, size)
            elif item.get("status") == "sent":
                self.sink.confirmed(self, item)
        elif t == "msg_failed":
            self.sink.error(self, f"send failed: {op.get('error')}")
        if self._waiters:
            keep = []
            for pred, fut in self._waiters:
                if fut.done():
                    continue
                if pred(op):
                    fut.set_result(op)
                else:
                    keep.append((pred, fut))
            self._waiters = keep


@lru_cache(maxsize=1)
def _frontend_boot() -> tuple[list[str] | None, str | None]:
    """The compiled frontend's initial state hashes and state schema, as a browser sends them."""
    try:
        text = CONTEXT_JS.read_text()
    except OSError:
        return None, None
    hashes = re.search(r"export const initialStateHashes = (\[.*?\])", text)
    schema = re.search(r'export const stateSchema = "([0-9a-f]+)"', text)
    return (
        json.loads(hashes.group(1)) if hashes else None,
        schema.group(1) if schema else None,
    )


def _error_toast(ev: dict[str, Any]) -> bool:
    """Reflex's toast for a handler that raised, or chatapp's for an event that could not run
    (chatapp/state/outage.py)."""
    text = json.dumps(ev)
    return "error occurred" in text or "Can't reach the server right now" in text


def _var(fields: dict[str, Any], name: str) -> Any:
    return fields.get(f"{name}_rx_state_")


def _what(event: dict[str, Any]) -> str:
    """An event as the trace shows it: handler name and client id."""
    payload = event.get("payload") or {}
    form = payload.get("form")
    cid = payload.get("client_id") or (form.get("cid", "") if isinstance(form, dict) else "")
    return f"{event['name'].rsplit('.', 1)[-1]} {cid}".rstrip()


def _summary(delta: dict[str, Any], me: int) -> str:
    """A short account of an update for the trace: own bubbles, outbox, notice, rebuilds."""
    out: list[str] = []
    chat = delta.get(CHAT_STATE) or {}
    if OUTBOX.rsplit(".", 1)[1] in chat:
        try:
            box = json.loads(chat["outbox_rx_state_"] or "{}")
        except ValueError:
            box = {}
        out.append(f"outbox={sorted(box)}")
    if chat.get("notice_rx_state_"):
        out.append(f"notice={chat['notice_rx_state_']!r}")
    for key, value in (delta.get(HISTORY) or {}).items():
        if value:
            out.append(f"{key.removesuffix('_rx_state_')}[{len(value)}]")
    for key, value in (delta.get(ARRIVALS) or {}).items():
        if isinstance(value, dict) and value.get("sender") == me:
            out.append(f"{key.removesuffix('_rx_state_')}={value.get('cid')}:{value.get('status')}")
    if (delta.get(ROOT_STATE) or {}).get("is_hydrated_rx_state_") is True:
        out.append("hydrated")
    return " ".join(out) or "-"


class View:
    """What one chatapp tab shows, as the browser holds it: the page vars of HistoryState and
    the arrival slots of ArrivalState (chatapp/state/view.py), by client id. Kept to classify
    what the tab sees and to catch a message shown twice at once."""

    def __init__(self) -> None:
        self.pages: dict[str, list[str]] = {}  # page var -> client ids, in order
        self.slots: dict[str, str] = {}  # slot var -> client id
        self.status: dict[str, str] = {}  # client id -> the last status shown
        self.newest_id = 0  # the newest stored message id shown

    def duplicates(self) -> list[str]:
        counts: Counter[str] = Counter()
        for cids in self.pages.values():
            counts.update(cids)
        counts.update(self.slots.values())
        return [cid for cid, n in counts.items() if n > 1]


def chatapp_ops(delta: dict[str, Any], tab: Tab, view: View | None = None) -> list[Op]:
    """chatapp's numbered view vars (chatapp/state/view.py) as the ops the load tool counts:
    an arrival slot is one message ("msg", or "msg_failed") when its status changed, the opened
    page "msgs_reset", an older page "msgs_older", the sidebar's order "convs_reset". A page
    item the tab had not shown yet becomes a "caught_up" op (a "msg" op in a newer page: it
    arrived and was folded in by one update)."""
    view = view if view is not None else View()
    ops: list[Op] = []
    chat = delta.get(CHAT_STATE) or {}
    active = _var(chat, "active_id")
    if isinstance(active, int) and active:
        tab.conv = active
    history = delta.get(HISTORY) or {}
    for key, value in history.items():
        items = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
        page = key.removesuffix("_rx_state_")
        view.pages[page] = [str(v.get("cid")) for v in items]
        # A page newer than the opened one holds arrivals folded in when the slots ran out:
        # one new there arrived and was folded in the same update (the hub sends messages
        # that queued up for a tab together), i.e. live. Other pages are a rebuild's.
        live = page > OPEN_PAGE
        for v in items:
            cid = str(v.get("cid"))
            view.newest_id = max(view.newest_id, int(v.get("id") or 0))
            if view.status.get(cid) != "sent":
                view.status[cid] = "sent"  # pages hold stored messages only
                ops.append({"t": "msg" if live else "caught_up", "item": {**v, "conv": tab.conv}})
    opened = bool(active) or (
        OPEN_PAGE + "_rx_state_" in history and bool(history[OPEN_PAGE + "_rx_state_"])
    )
    if opened and tab.conv:
        items = _var(history, OPEN_PAGE) or []
        ops.append(
            {
                "t": "msgs_reset",
                "conv": tab.conv,
                "items": items,
                "has_more": _var(chat, "has_more"),
            }
        )
    for key, value in history.items():
        page = key.removesuffix("_rx_state_")
        if page < OPEN_PAGE and value:
            ops.append({"t": "msgs_older", "conv": tab.conv, "items": value})
    for key, value in (delta.get(ARRIVALS) or {}).items():
        slot = key.removesuffix("_rx_state_")
        if not slot.startswith("a"):
            continue  # a patch var (x00…): a changed history bubble, drawn instead of its copy
        if not (isinstance(value, dict) and value.get("key")):
            view.slots.pop(slot, None)
            continue
        cid = str(value.get("cid"))
        status = str(value.get("status"))
        view.slots[slot] = cid
        view.newest_id = max(view.newest_id, int(value.get("id") or 0))
        if view.status.get(cid) == status:
            continue  # moved to another slot, or sent again unchanged: nothing new shown
        view.status[cid] = status
        if status == "failed":
            ops.append({"t": "msg_failed", "cid": cid, "error": value.get("error")})
        else:
            ops.append({"t": "msg", "item": {**value, "conv": tab.conv}})
    sidebar = delta.get(SIDEBAR) or {}
    if "order_rx_state_" in sidebar:
        ops.append({"t": "convs_reset", "items": [], "order": sidebar["order_rx_state_"]})
    return ops


class ChatappTab(Tab):
    """A signed-in browser tab on chatapp's page `/` (Reflex's socket.io protocol).

    ``reconnect``: after a lost connection, reconnect as the browser does (to the next of
    ``ports`` when one refuses, as a load balancer would). ``retry``: press Retry on a failed
    bubble and Send again when a send was refused, as a person would."""

    def __init__(
        self,
        *,
        reconnect: bool = False,
        retry: bool = False,
        ports: list[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.router: dict[str, str] = dict(ROUTER)  # the page the tab is on
        self._redirected: asyncio.Future[str] | None = None
        self.storage: dict[str, str] = dict(CLOCK)  # client storage, as the browser keeps it
        self.view = View()
        self.has_more = False
        self.notice = ""
        self.reconnect = reconnect
        self.retry = retry
        self.ports = list(ports or [self.port])
        self.reconnects = 0  # successful reconnections
        self.retries = 0  # Retry presses (resend)
        self.resends = 0  # Send pressed again after a refusal
        self.queued = 0  # events sent while disconnected (sent after reconnecting)
        self.gave_up = ""  # why the tab stopped reconnecting, as a browser would
        self._queue: list[dict[str, Any]] = []
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self._replay = False  # the next update is a (re)connection's hydrate: the whole state
        self._rebuilt_from = 0  # after a reconnect: newest id shown before (scroll back to it)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tries: dict[str, int] = {}
        # What this tab did and saw lately, to explain a lost message: (seconds, what).
        self.trace: deque[tuple[float, str]] = deque(maxlen=TRACE_LEN)

    def _log(self, what: str) -> None:
        self.trace.append((time.monotonic(), what))

    def _event(self, handler: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"name": f"{CHAT_STATE}.{handler}", "payload": payload, "router_data": self.router}

    # Connecting -------------------------------------------------------------------------------
    async def connect(self) -> None:
        sidebar = self.expect(lambda op: op.get("t") == "convs_reset")
        await self._open(self.port, first=True)
        await asyncio.wait_for(asyncio.gather(self._hydrated, sidebar), 60)  # type: ignore[arg-type]

    async def _open(self, port: int, *, first: bool) -> None:
        """Open a socket and hydrate, as .web/utils/state.js does: the hydrate event rides in
        the CONNECT packet with the client-storage values (and, on the first connection only,
        the compiled defaults' hashes) and the page the tab is on."""
        self._hydrated = asyncio.get_running_loop().create_future()
        hashes, schema = _frontend_boot()
        boot: dict[str, Any] = {
            "name": f"{ROOT_STATE}.hydrate_and_load",
            "router_data": dict(self.router),
            "payload": {"vars": dict(self.storage)},
        }
        if first and hashes:
            boot["payload"]["hashes"] = hashes
        auth: dict[str, Any] = {"event": boot}
        if schema:
            auth["state_schema"] = schema
        self._replay = True
        await self.client.connect(
            "127.0.0.1",
            port,
            path="/_event",
            query={"token": self.token},
            headers={
                "cookie": f"chatapp_session={self.user.token}",
                "origin": f"http://127.0.0.1:{port}",
                "user-agent": "chatapp-bench",
            },
            subprotocols=[version("reflex")],
            auth=auth,
        )

    def _closed(self, why: str) -> None:
        if self._reconnecting is not None:
            return  # a failed attempt of a reconnection under way
        self._log(f"closed: {why}")
        super()._closed(why)
        if not self.reconnect or self._closing:
            return
        if self.client.server_disconnected:
            # socket.io's "io server disconnect": the browser does not reconnect by itself.
            self.gave_up = "the server closed the namespace"
            self.sink.error(self, "the server closed the namespace: a browser stays offline")
            return
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """A new socket with the same token; on failure retry after 0.2 s × attempts (capped
        at 10), to the next port when this one refuses; then send what was queued."""
        attempts = 0
        rebuilt_from = self.view.newest_id
        try:
            while not self._closing:
                port = self.ports[0]
                self.client = SioClient(
                    namespace=NAMESPACE, on_event=self._on_event, on_close=self._closed
                )
                try:
                    await self._open(port, first=False)
                    if self.client.closed:  # closed again in the same read as the CONNECT ack
                        raise ConnectionError("closed right after connecting")
                except (ConnectionError, OSError, TimeoutError) as exc:
                    self.client.close()
                    if isinstance(exc, ConnectionRefusedError) and len(self.ports) > 1:
                        self.ports.append(self.ports.pop(0))  # the balancer tries another
                    attempts = min(attempts + 1, MAX_ATTEMPTS_FACTOR)
                    await asyncio.sleep(BACKOFF_S * attempts)
                    continue
                self.port = port
                self.reconnects += 1
                self._log(f"reconnected to :{port} after {attempts} failed attempts")
                self._rebuilt_from = rebuilt_from
                queued, self._queue = self._queue, []
                for event in queued:
                    self._log(f"emit {_what(event)} (queued)")
                    self.client.emit("event", event)
                return
        finally:
            self._reconnecting = None

    @property
    def offline(self) -> bool:
        return not self.client.connected

    def _emit(self, event: dict[str, Any]) -> None:
        if self.reconnect and (self.offline or self._queue) and not self.gave_up:
            self._log(f"queue {_what(event)}")
            self._queue.append(event)  # the browser's event queue, sent once connected
            self.queued += 1
            return
        self._log(f"emit {_what(event)}")
        self.client.emit("event", event)

    def close(self) -> None:
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        super().close()

    # Receiving --------------------------------------------------------------------------------
    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name != "event" or not isinstance(data, dict):
            return
        replay, self._replay = self._replay, False
        delta = data.get("delta") or {}
        self._log(f"update{' (hydrate)' if replay else ''}: {_summary(delta, self.user.id)}")
        root = delta.get(ROOT_STATE) or {}
        if root.get("is_hydrated_rx_state_") is True:
            self._set_hydrated()
        chat = delta.get(CHAT_STATE) or {}
        for field in STORAGE_FIELDS:
            if field in chat:
                self.storage[f"{CHAT_STATE}.{field}"] = str(chat[field])
        if "has_more_rx_state_" in chat:
            self.has_more = bool(chat["has_more_rx_state_"])
        notice = chat.get("notice_rx_state_")
        if isinstance(notice, str) and notice != self.notice:
            self.notice = notice
            if notice:
                self.sink.error(self, f"notice: {notice}")
        for op in chatapp_ops(delta, self, self.view):
            if replay:
                if op.get("t") == "msg":
                    op = {**op, "t": "caught_up"}  # replayed by the hydrate, not pushed live
                elif op.get("t") in ("msgs_reset", "msgs_older"):
                    continue  # the state as it was; the page's on_load rebuilds it next
            self._on_op(op, size)
        if HISTORY in delta or ARRIVALS in delta:
            for cid in self.view.duplicates():
                self.sink.shown_twice(self, cid)
        for ev in data.get("events") or ():
            self._on_server_event(ev)

    def _on_op(self, op: Op, size: int) -> None:
        t = op.get("t")
        if t == "caught_up":
            item = op["item"]
            if not self.own(item):
                self.sink.recovered(self, item)
            else:
                self.sink.confirmed(self, item)
            self._settled(str(item.get("cid")))
        elif t == "msg" and op["item"].get("status") == "sent":
            self._settled(str(op["item"].get("cid")))
        elif t == "msg_failed" and self.retry:
            self._later(str(op.get("cid")), self._press_retry)
        elif t == "msgs_reset" and self._rebuilt_from:
            self._scroll_back(op)
        elif t == "msgs_older" and self._rebuilt_from:
            self._scroll_back(op)
        super()._on_op(op, size)

    def _scroll_back(self, op: Op) -> None:
        """After a reconnect the rebuilt view starts at the newest page: scroll up (load older)
        until what was on screen before is reached, as a reader catching up would."""
        items = op.get("items") or []
        oldest = min((int(v.get("id") or 0) for v in items if isinstance(v, dict)), default=0)
        if self.has_more and oldest > self._rebuilt_from:
            self.emit("load_older")
        else:
            self._rebuilt_from = 0

    def _on_server_event(self, ev: dict[str, Any]) -> None:
        name = ev.get("name")
        if name == "_call_function" and _error_toast(ev):
            self._log("server error toast (the handler raised)")
        elif name in ("_redirect", "_set_value"):
            self._log(f"{name} {json.dumps(ev.get('payload'))[:90]}")
        if name == "_redirect" and self._redirected is not None:
            path = str((ev.get("payload") or {}).get("path", ""))
            if not self._redirected.done():
                self._redirected.set_result(path)
            return
        if name == "_set_value":
            # A refused send gives its text back to the composer (nothing was stored or queued).
            value = str((ev.get("payload") or {}).get("value", ""))
            parts = value.split(" ", 2)
            if len(parts) == 3 and parts[0] == "bench":
                self.sink.error(self, "send refused: text back in the composer")
                if self.retry:
                    self._later(parts[1], lambda cid: self._press_send_again(cid, value))
            return
        super()._on_server_event(ev)

    # A person at the keyboard --------------------------------------------------------------------
    def _later(self, cid: str, action: Callable[[str], None]) -> None:
        if cid in self._timers:
            return
        n = self._tries[cid] = self._tries.get(cid, 0) + 1
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (n - 1))

        def fire() -> None:
            self._timers.pop(cid, None)
            if not self._closing:
                action(cid)

        self._timers[cid] = asyncio.get_running_loop().call_later(delay, fire)

    def _settled(self, cid: str) -> None:
        timer = self._timers.pop(cid, None)
        if timer is not None:
            timer.cancel()

    def _press_retry(self, cid: str) -> None:
        if self.view.status.get(cid) == "failed":
            self.retries += 1
            self.emit("resend", {"client_id": cid})

    def _press_send_again(self, cid: str, body: str) -> None:
        if self.view.status.get(cid) not in ("pending", "sent"):
            self.resends += 1
            self.send(body, cid)

    def outbox(self) -> dict[str, Any]:
        """The outbox as the browser holds it (client id -> entry)."""
        try:
            box = json.loads(self.storage.get(OUTBOX) or "{}")
        except ValueError:
            return {}
        return box if isinstance(box, dict) else {}

    # Acting -------------------------------------------------------------------------------------
    async def open_conversation(self) -> None:
        """Click the peer (open_person answers with a redirect to /c/<id>), then follow the
        redirect as the browser does: navigate, which runs the page's on_load chain
        (require_login, ChatState.load) for /c/<id>; done when the opened page arrives."""
        self._redirected = asyncio.get_running_loop().create_future()
        try:
            self.emit("open_person", {"user_id": self.peer.id})
            path = await asyncio.wait_for(self._redirected, 60)
        finally:
            self._redirected = None
        match = CONV_PATH.match(path)
        if match is None:
            raise ConnectionError(f"open_person redirected to {path!r}, not to a conversation")
        await self.open_conversation_id(int(match.group(1)))

    async def open_conversation_id(self, conv: int) -> None:
        """Go to /c/<conv> (a sidebar row is a link: a group is opened this way); done when
        the opened page arrives."""
        opened = self.expect(lambda op: op.get("t") == "msgs_reset" and op.get("conv") == conv)
        self.navigate(f"/c/{conv}")
        await asyncio.wait_for(opened, 60)
        self.conv = conv

    def navigate(self, path: str) -> None:
        """A client-side route change: Reflex's frontend sends update_vars_internal with the
        client-storage values, then on_load_internal for the new route (.web/utils/context.js,
        onLoadInternalEvent)."""
        self.router = {"pathname": path, "asPath": path}
        self._emit(
            {
                "name": f"{ROOT_STATE}.{UPDATE_VARS}",
                "payload": {"vars": dict(self.storage)},
                "router_data": self.router,
            }
        )
        self._emit({"name": ON_LOAD, "payload": {}, "router_data": self.router})

    def send(self, body: str, cid: str) -> None:
        """Press Send: the browser keeps the message (with its id) first, then queues the
        event (chatapp's KEEP_UNSENT_JS)."""
        try:
            kept = json.loads(self.storage.get(KEPT) or "{}")
        except ValueError:
            kept = {}
        kept[cid] = {"c": self.conv or 0, "b": body, "m": "", "u": self.user.username}
        self.storage[KEPT] = json.dumps(dict(list(kept.items())[-KEPT_MAX:]))
        form = {
            "body": body,
            "cid": cid,
            "conversation": str(self.conv or 0),
            "media": "",
            "who": self.user.username,
        }
        self._emit(self._event("send", {"form": form}))

    def emit(self, handler: str, payload: dict[str, Any] | None = None) -> None:
        """Any other ChatState handler (the wire benchmark uses load_older/open_conversation)."""
        self._emit(self._event(handler, payload or {}))


class RelayTab(Tab):
    """A tab on one of the baseline relays (python-socketio or Node Socket.IO)."""

    async def connect(self) -> None:
        await self.client.connect(
            "127.0.0.1",
            self.port,
            path="/_event",
            query={"token": self.token, "user": str(self.user.id)},
            headers={"origin": f"http://127.0.0.1:{self.port}", "user-agent": "chatapp-bench"},
        )

    async def open_conversation(self) -> None:
        self.conv = min(self.user.id, self.peer.id)

    def send(self, body: str, cid: str) -> None:
        self.client.emit("send", {"to": self.peer.id, "cid": cid, "body": body, "conv": self.conv})
