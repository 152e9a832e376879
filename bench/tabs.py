"""Browser tabs for the three targets, behind one interface.

A :class:`Tab` is one user's browser tab: it connects, opens the conversation with its peer,
sends messages, and reports every incoming message to a :class:`Sink`. Both relays and chatapp
deliver a message as a feed op ``{"t": "msg", "item": {id, cid, sender, body, ...}}`` inside an
``event`` update's delta, so the parsing is shared; only connecting and emitting differ.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from abc import ABC, abstractmethod
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
ROUTER = {"pathname": "/", "asPath": "/"}
ON_LOAD = f"{ROOT_STATE}.reflex___state____on_load_internal_state.on_load_internal"
CONV_PATH = re.compile(r"^/c/(\d+)/?$")  # chatapp's URL of an open conversation
CONTEXT_JS = Path(__file__).resolve().parent.parent / ".web" / "utils" / "context.jsx"

Op = dict[str, Any]


class Sink(Protocol):
    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None: ...
    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None: ...
    def error(self, tab: Tab, what: str) -> None: ...


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
        for op in chatapp_ops(delta, self):
            self._on_op(op, size)
        for ev in data.get("events") or ():
            self._on_server_event(ev)

    def _set_hydrated(self) -> None:
        """Reflex's on_load chain finished (chatapp only; relays never send the flag)."""
        if self._hydrated is not None and not self._hydrated.done():
            self._hydrated.set_result(None)

    def _on_server_event(self, ev: dict[str, Any]) -> None:
        name = str(ev.get("name", ""))
        if name == "_redirect":
            self.sink.error(self, f"redirected to {ev.get('payload', {}).get('path')}")
        elif name == "_call_function" and "error occurred" in json.dumps(ev):
            self.sink.error(self, "server error (backend exception toast)")
            self._fail_waiters("the server raised an exception handling this tab's event")

    def _on_op(self, op: Op, size: int) -> None:
        t = op.get("t")
        if t == "msg":
            item = op["item"]
            if item.get("sender") != self.user.id:
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


def _var(fields: dict[str, Any], name: str) -> Any:
    return fields.get(f"{name}_rx_state_")


def chatapp_ops(delta: dict[str, Any], tab: Tab) -> list[Op]:
    """chatapp's numbered view vars (chatapp/state/view.py) as the ops the load tool counts:
    an arrival slot is one message ("msg", or "msg_failed"), the opened page "msgs_reset", an
    older page "msgs_older", the sidebar's order "convs_reset"."""
    ops: list[Op] = []
    chat = delta.get(CHAT_STATE) or {}
    active = _var(chat, "active_id")
    if isinstance(active, int) and active:
        tab.conv = active
    history = delta.get(HISTORY) or {}
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
    for value in (delta.get(ARRIVALS) or {}).values():
        if isinstance(value, dict) and value.get("key"):
            if value.get("status") == "failed":
                ops.append(
                    {"t": "msg_failed", "cid": value.get("cid"), "error": value.get("error")}
                )
            else:
                ops.append({"t": "msg", "item": {**value, "conv": tab.conv}})
    sidebar = delta.get(SIDEBAR) or {}
    if "order_rx_state_" in sidebar:
        ops.append({"t": "convs_reset", "items": [], "order": sidebar["order_rx_state_"]})
    return ops


class ChatappTab(Tab):
    """A signed-in browser tab on chatapp's page `/` (Reflex's socket.io protocol)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.router: dict[str, str] = dict(ROUTER)  # the page the tab is on
        self._redirected: asyncio.Future[str] | None = None

    def _event(self, handler: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"name": f"{CHAT_STATE}.{handler}", "payload": payload, "router_data": self.router}

    async def connect(self) -> None:
        self._hydrated = asyncio.get_running_loop().create_future()
        hashes, schema = _frontend_boot()
        boot: dict[str, Any] = {"name": f"{ROOT_STATE}.hydrate_and_load", "router_data": ROUTER}
        boot["payload"] = {"vars": CLOCK}
        if hashes:
            boot["payload"]["hashes"] = hashes
        auth: dict[str, Any] = {"event": boot}
        if schema:
            auth["state_schema"] = schema
        sidebar = self.expect(lambda op: op.get("t") == "convs_reset")
        await self.client.connect(
            "127.0.0.1",
            self.port,
            path="/_event",
            query={"token": self.token},
            headers={
                "cookie": f"chatapp_session={self.user.token}",
                "origin": f"http://127.0.0.1:{self.port}",
                "user-agent": "chatapp-bench",
            },
            subprotocols=[version("reflex")],
            auth=auth,
        )
        await asyncio.wait_for(asyncio.gather(self._hydrated, sidebar), 60)

    def _on_server_event(self, ev: dict[str, Any]) -> None:
        if ev.get("name") == "_redirect" and self._redirected is not None:
            path = str((ev.get("payload") or {}).get("path", ""))
            if not self._redirected.done():
                self._redirected.set_result(path)
            return
        super()._on_server_event(ev)

    async def open_conversation(self) -> None:
        """Click the peer (open_person answers with a redirect to /c/<id>), then follow the
        redirect as the browser does: navigate, which runs the page's on_load chain
        (require_login, ChatState.load) for /c/<id>; done when the opened page arrives."""
        self._redirected = asyncio.get_running_loop().create_future()
        try:
            self.client.emit("event", self._event("open_person", {"user_id": self.peer.id}))
            path = await asyncio.wait_for(self._redirected, 60)
        finally:
            self._redirected = None
        match = CONV_PATH.match(path)
        if match is None:
            raise ConnectionError(f"open_person redirected to {path!r}, not to a conversation")
        conv = int(match.group(1))
        opened = self.expect(lambda op: op.get("t") == "msgs_reset" and op.get("conv") == conv)
        self.navigate(path)
        await asyncio.wait_for(opened, 60)
        self.conv = conv

    def navigate(self, path: str) -> None:
        """A client-side route change: Reflex's frontend sends on_load_internal for the new
        route (.web/utils/state.js, onLoadInternalEvent)."""
        self.router = {"pathname": path, "asPath": path}
        self.client.emit("event", {"name": ON_LOAD, "payload": {}, "router_data": self.router})

    def send(self, body: str, cid: str) -> None:
        self.client.emit("event", self._event("send", {"form": {"body": body}, "client_id": cid}))

    def emit(self, handler: str, payload: dict[str, Any] | None = None) -> None:
        """Any other ChatState handler (the wire benchmark uses load_older/open_conversation)."""
        self.client.emit("event", self._event(handler, payload or {}))


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
