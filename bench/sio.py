"""A minimal Socket.IO v5 / Engine.IO v4 client over one websocket, as a browser tab speaks it.

Why not python-socketio's AsyncClient: it needs aiohttp (not installed) and one HTTP session
per client; a thousand of them would cost the load generator more CPU than the servers under
test. This client is an ``asyncio.Protocol`` driving ``wsproto`` (already a dependency of
python-engineio), shares nothing between tabs, and counts the exact bytes of every frame it
receives (needed for the wire figures).

Only what the three targets use is implemented: text frames, one namespace, events without
binary attachments or acks, and answering the server's pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

# on_event(name, data, frame_bytes): frame_bytes is the size on the wire (header + payload).
EventHandler = Callable[[str, Any, int], None]
CONNECT_TIMEOUT = 30.0


def frame_size(payload_len: int) -> int:
    """Bytes of an unmasked server-to-client frame carrying `payload_len` bytes."""
    if payload_len < 126:
        return 2 + payload_len
    if payload_len < 65536:
        return 4 + payload_len
    return 10 + payload_len


class SioClient(asyncio.Protocol):
    """One socket.io connection (one browser tab)."""

    def __init__(
        self,
        *,
        namespace: str,
        on_event: EventHandler,
        on_close: Callable[[str], None] | None = None,
    ) -> None:
        self.namespace = namespace
        self.on_event = on_event
        self.on_close = on_close
        self.bytes_in = 0  # payload + frame header bytes of every text frame received
        self.frames_in = 0
        self.closed = False
        # The server said goodbye on the namespace (socket.io DISCONNECT): a browser does not
        # reconnect after that ("io server disconnect"), unlike after a lost transport.
        self.server_disconnected = False
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._transport: asyncio.Transport | None = None
        self._parts: list[str] = []
        self._accepted: asyncio.Future[None] | None = None
        self._ns_connected: asyncio.Future[dict[str, Any]] | None = None
        self._auth: Any = None
        self._request: Request | None = None
        self._prefix = "" if namespace == "/" else f"{namespace},"

    # Connecting -------------------------------------------------------------------------------
    async def connect(
        self,
        host: str,
        port: int,
        *,
        path: str,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        auth: Any = None,
        local_host: str | None = None,
    ) -> dict[str, Any]:
        """Open the websocket, then the namespace (sending `auth` in the CONNECT packet).

        `local_host` binds the client side (e.g. 127.0.0.7: every 127/8 address is loopback on
        Linux), so one machine can stand for many client addresses (per-address limits)."""
        loop = asyncio.get_running_loop()
        self._accepted = loop.create_future()
        self._ns_connected = loop.create_future()
        self._auth = auth
        target = f"{path.rstrip('/')}/?" + urlencode(
            {**query, "EIO": "4", "transport": "websocket"}
        )
        self._request = Request(
            host=f"{host}:{port}",
            target=target,
            extra_headers=[(k.encode(), v.encode()) for k, v in (headers or {}).items()],
            subprotocols=subprotocols or [],
        )
        async with asyncio.timeout(CONNECT_TIMEOUT):
            local = (local_host, 0) if local_host else None
            await loop.create_connection(lambda: self, host, port, local_addr=local)
            await self._accepted
            return await self._ns_connected

    @property
    def stage(self) -> str:
        """How far the last connect got: to explain one that failed or hung."""
        if self._transport is None:
            return "TCP connect"
        if self._accepted is None or not self._accepted.done():
            return "websocket upgrade (no 101 yet)"
        if self._ns_connected is None or not self._ns_connected.done():
            return "socket.io namespace connect (no CONNECT answer yet)"
        return "connected"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        assert self._request is not None
        transport.write(self._ws.send(self._request))

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone(f"connection lost: {exc}" if exc else "connection closed")

    def _gone(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        for fut in (self._accepted, self._ns_connected):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError(why))
        if self.on_close is not None:
            self.on_close(why)

    # Receiving --------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for ev in self._ws.events():
            if isinstance(ev, TextMessage):
                self._parts.append(ev.data)
                if ev.message_finished:
                    text = "".join(self._parts)
                    self._parts.clear()
                    size = frame_size(len(text.encode()))
                    self.bytes_in += size
                    self.frames_in += 1
                    self._on_eio(text, size)
            elif isinstance(ev, AcceptConnection):
                if self._accepted and not self._accepted.done():
                    self._accepted.set_result(None)
            elif isinstance(ev, RejectConnection):
                self._gone(f"websocket rejected: HTTP {ev.status_code}")
            elif isinstance(ev, Ping):
                self._write(ev.response())
            elif isinstance(ev, CloseConnection):
                self._write(ev.response())
                self._gone(f"closed by server: {ev.code} {ev.reason}")
                if self._transport is not None:
                    self._transport.close()

    def _on_eio(self, text: str, size: int) -> None:
        kind, rest = text[:1], text[1:]
        if kind == "0":  # engine.io open: now open the namespace
            self._send_text(f"40{self._prefix}" + (json.dumps(self._auth) if self._auth else ""))
        elif kind == "2":  # ping -> pong
            self._send_text("3" + rest)
        elif kind == "4":
            self._on_sio(rest, size)
        elif kind == "1":
            self._gone("engine.io close")

    def _on_sio(self, text: str, size: int) -> None:
        kind, rest = text[:1], text[1:]
        if self._prefix and rest.startswith(self._prefix):
            rest = rest[len(self._prefix) :]
        if kind == "2":
            name, *args = json.loads(rest)
            self.on_event(name, args[0] if args else None, size)
        elif kind == "0":
            if self._ns_connected and not self._ns_connected.done():
                self._ns_connected.set_result(json.loads(rest) if rest else {})
        elif kind == "4":
            self._gone(f"namespace connect refused: {rest[:200]}")
        elif kind == "1":
            self.server_disconnected = True
            self._gone("namespace disconnect")

    # Sending ----------------------------------------------------------------------------------
    def _write(self, event: Any) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self._ws.send(event))

    def _send_text(self, text: str) -> None:
        self._write(TextMessage(data=text))

    def emit(self, name: str, data: Any) -> None:
        if self.closed:
            raise ConnectionError("socket is closed")
        payload = json.dumps([name, data], separators=(",", ":"))
        self._send_text(f"42{self._prefix}{payload}")

    @property
    def connected(self) -> bool:
        """The namespace is open (socket.io's ``socket.connected``): events can be sent."""
        fut = self._ns_connected
        return (
            not self.closed
            and fut is not None
            and fut.done()
            and not fut.cancelled()
            and fut.exception() is None
        )

    @property
    def local_port(self) -> int:
        if self._transport is None:
            return 0
        return int(self._transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            with contextlib.suppress(LocalProtocolError, OSError):  # already half-closed
                self._send_text(f"41{self._prefix}")
                self._write(CloseConnection(code=1000))
            self._transport.close()
        self.closed = True
