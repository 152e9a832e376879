"""Baseline: a minimal python-socketio chat relay (no database, no auth, no state).

Run: ``python -m granian --interface asgi bench.relay_py:app``. Same wire protocol as the
Node relay (bench/node_relay/server.js): a tab connects to namespace ``/_event`` with query
``user=<id>`` and joins room ``u<id>``; ``send {to, cid, body}`` is stamped with an id and
emitted to both members' rooms as an ``event`` shaped like chatapp's feed update, so the frames
are about as large as chatapp's.
"""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import parse_qs

import socketio

NS = "/_event"
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", transports=["websocket"])
_ids = itertools.count(1)


async def _ping(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'"pong"'})


app = socketio.ASGIApp(sio, other_asgi_app=_ping, socketio_path="_event")


@sio.on("connect", namespace=NS)  # type: ignore[untyped-decorator]
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    user = parse_qs(environ.get("QUERY_STRING", "")).get("user", ["0"])[0]
    await sio.save_session(sid, {"user": int(user)}, namespace=NS)
    await sio.enter_room(sid, f"u{user}", namespace=NS)


@sio.on("send", namespace=NS)  # type: ignore[untyped-decorator]
async def send(sid: str, data: dict[str, Any]) -> None:
    me = (await sio.get_session(sid, namespace=NS))["user"]
    to = int(data["to"])
    at = int(time.time() * 1000)
    item = {
        "id": next(_ids),
        "cid": data["cid"],
        "conv": data.get("conv", 0),
        "sender": me,
        "body": data["body"],
        "at": at,
        "status": "sent",
    }
    row = {"id": item["conv"], "last_id": item["id"], "last_at": at, "preview": data["body"][:80]}
    update = {
        "delta": {
            "chat": {"feed": {"ops": [{"t": "msg", "item": item}, {"t": "conv", "item": row}]}}
        }
    }
    await sio.emit("event", update, room=[f"u{to}", f"u{me}"], namespace=NS)
