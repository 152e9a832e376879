"""Authorisation over the real websocket protocol: a signed-in user who crafts events naming
someone else's conversation gets an error and no data, and nothing is stored.

Uses the benchmark's protocol client (bench/tabs.py), which connects exactly as a browser does
(Reflex's socket.io protocol, session cookie in the handshake)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from bench.db import BenchUser
from bench.tabs import ChatappTab
from chatapp.db import make_engine
from chatapp.services import accounts, conversations, messages
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e


class RecordingTab(ChatappTab):
    """Keeps every delta and every feed op it receives."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.deltas: list[dict[str, Any]] = []
        self.ops: list[dict[str, Any]] = []

    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name == "event" and isinstance(data, dict):
            self.deltas.append(data.get("delta") or {})
        super()._on_event(name, data, size)

    def _on_op(self, op: dict[str, Any], size: int) -> None:
        self.ops.append(op)
        super()._on_op(op, size)

    def notices(self) -> list[str]:
        out = []
        for delta in self.deltas:
            for fields in delta.values():
                for key, value in fields.items():
                    if key.startswith("notice") and value:
                        out.append(str(value))
        return out


class NullSink:
    def delivered(self, tab: Any, item: Any, frame_bytes: int) -> None: ...
    def confirmed(self, tab: Any, item: Any) -> None: ...
    def error(self, tab: Any, what: str) -> None: ...


def _user(engine: sa.Engine, prefix: str) -> BenchUser:
    name = f"{prefix}{secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        user = accounts.sign_up(
            session=s, username=name, email=f"{name}@x.example", password="x" * 10
        )
        ticket = accounts.start_session(session=s, user_id=user.id)
        issued = accounts.activate_session(session=s, ticket=ticket)
        assert issued is not None
        s.commit()
    return BenchUser(id=user.id, username=name, token=issued.token)


def test_crafted_events_for_someone_elses_conversation(app_server: AppServer) -> None:
    engine = make_engine(app_server.database_url)
    a, b, c = _user(engine, "ca"), _user(engine, "cb"), _user(engine, "cc")
    secret_text = f"secret {secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        conv = conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        messages.send_message(
            session=s,
            sender_id=a.id,
            conversation_id=conv,
            body=secret_text,
            client_id="crafted-0001",
        )
        s.commit()

    async def scenario() -> RecordingTab:
        tab = RecordingTab(index=0, user=c, peer=a, port=app_server.port, sink=NullSink())
        await tab.connect()
        # Open A and B's conversation by id; page older messages; retry or discard a message
        # that is not its own; scroll and draft into it; send into it.
        tab.emit("open_conversation", {"conversation_id": conv})
        tab.emit("load_older", {})
        tab.emit("resend", {"client_id": "crafted-0001"})
        tab.emit("discard", {"client_id": "crafted-0001"})
        tab.emit("scrolled", {"position": [-100000, 100000]})
        tab.emit("set_draft", {"text": "let me in"})
        tab.emit("jump_to_newest", {})
        tab.emit("send", {"form": {"body": "hello?"}, "client_id": "crafted-0003"})
        await asyncio.sleep(3)
        tab.close()
        return tab

    tab = asyncio.run(scenario())
    # An error message came back...
    assert any("not in this conversation" in n for n in tab.notices()), tab.notices()
    # ...and no data: no message list of that conversation, nothing of its text anywhere.
    assert not [op for op in tab.ops if op.get("t") in ("msgs_reset", "msgs_older")]
    assert secret_text not in repr(tab.deltas)
    assert not [op for op in tab.ops if op.get("t") == "msg" and op["item"].get("id")]
    # Nothing was stored by the intruder.
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE sender_id = :u"), {"u": c.id}
        ).scalar()
        members = conn.execute(
            sa.text("SELECT COUNT(*) FROM conversation_members WHERE user_id = :u"), {"u": c.id}
        ).scalar()
    engine.dispose()
    assert rows == 0
    assert members == 0
