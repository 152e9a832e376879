"""Authorisation over the real websocket protocol: a signed-in user who crafts events naming
someone else's conversation gets an error and no data, and nothing is stored.

Uses the benchmark's protocol client (bench/tabs.py), which connects exactly as a browser does
(Reflex's socket.io protocol, session cookie in the handshake)."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from bench.db import BenchUser, make_user
from bench.tabs import CHAT_STATE, HISTORY, ChatappTab
from chatapp.db import make_engine
from chatapp.services import accounts, conversations, groups, lifecycle, messages
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
    return make_user(engine, f"{prefix}{secrets.token_hex(4)}")


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
        await _answered(tab)  # (the events are answered in order)
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


def test_a_replayed_tab_token_without_the_cookie_gets_nothing(app_server: AppServer) -> None:
    """Issue 11 finding 3: a tab's Reflex token (sessionStorage, readable by page scripts)
    replayed on a new websocket without the session cookie must not sign anyone in: not by
    sending, and not by the state snapshot the server sends when a connection hydrates."""
    engine = make_engine(app_server.database_url)
    a, b = _user(engine, "ra"), _user(engine, "rb")
    secret_text = f"secret {secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        conv = conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        messages.send_message(
            session=s,
            sender_id=a.id,
            conversation_id=conv,
            body=secret_text,
            client_id="replayed-0001",
        )
        s.commit()

    async def scenario() -> tuple[RecordingTab, RecordingTab]:
        victim = RecordingTab(index=0, user=a, peer=b, port=app_server.port, sink=NullSink())
        await victim.connect()
        await victim.open_conversation()
        victim.close()  # the victim's tab goes away (or is merely offline) ...
        await asyncio.sleep(0.5)
        # ... and someone who read its token connects with it, without the cookie.
        thief_user = BenchUser(id=a.id, username=a.username, token="")
        thief = RecordingTab(
            index=1, user=thief_user, peer=b, port=app_server.port, sink=NullSink()
        )
        thief.token = victim.token
        thief.router = dict(victim.router)  # on the victim's conversation page
        thief._redirected = asyncio.get_running_loop().create_future()
        await thief._open(app_server.port, first=True)
        # The page's on_load sends the thief to /login (a positive signal that it is done).
        assert await asyncio.wait_for(thief._redirected, 20) == "/login"
        thief.emit("send", {"form": {"body": "as the victim", "conversation": str(conv)}})
        thief.emit("load_older", {})
        await _answered(thief)
        thief.close()
        return victim, thief

    victim, thief = asyncio.run(scenario())
    assert secret_text in repr(victim.deltas)  # (the victim's tab did show it)
    assert thief.deltas, "the replayed connection got no answer at all"
    assert secret_text not in repr(thief.deltas)
    assert a.username not in repr(thief.deltas)
    with engine.connect() as conn:
        sent = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE body = 'as the victim'")
        ).scalar()
    engine.dispose()
    assert sent == 0


def _second_device(engine: sa.Engine, user: BenchUser) -> BenchUser:
    """The same person signed in on another device (another session, another cookie)."""
    with Session(engine, expire_on_commit=False) as s:
        ticket = accounts.start_session(session=s, user_id=user.id)
        issued = accounts.activate_session(session=s, ticket=ticket)
        assert issued is not None
        s.commit()
    return BenchUser(id=user.id, username=user.username, token=issued.token)


SESSION_STATE = "reflex___state____state.chatapp___state___session____session_state"


def test_log_out_of_all_devices_reaches_an_idle_tab_at_once(app_server: AppServer) -> None:
    """Issue 11 finding 2: a tab of a revoked session, open and idle on a conversation, is
    emptied and sent to /login right away, and nothing is delivered to it afterwards."""
    engine = make_engine(app_server.database_url)
    a, b = _user(engine, "va"), _user(engine, "vb")
    a_phone = _second_device(engine, a)
    after = f"after revocation {secrets.token_hex(4)}"

    async def scenario() -> tuple[RecordingTab, float, int]:
        idle = RecordingTab(
            index=0, user=a, peer=b, port=app_server.port, sink=NullSink(), reconnect=True
        )
        phone = RecordingTab(index=1, user=a_phone, peer=b, port=app_server.port, sink=NullSink())
        peer = RecordingTab(index=2, user=b, peer=a, port=app_server.port, sink=NullSink())
        for t in (idle, phone, peer):
            await t.connect()
        await asyncio.gather(idle.open_conversation(), peer.open_conversation())
        peer.send("before revocation", "rv-before-0001")
        await asyncio.wait_for(idle.expect(lambda op: op.get("t") == "msg"), 20)
        seen = len(idle.deltas)
        idle._redirected = asyncio.get_running_loop().create_future()
        t0 = time.monotonic()
        phone._emit(
            {"name": f"{SESSION_STATE}.log_out_everywhere", "payload": {}, "router_data": {}}
        )
        # The idle tab reconnects by itself and its page load sends it to /login.
        assert await asyncio.wait_for(idle._redirected, 20) == "/login"
        elapsed = time.monotonic() - t0
        peer.send(after, "rv-after-0001")
        await asyncio.wait_for(
            peer.expect(lambda op: op.get("t") == "msg" and op["item"].get("status") == "sent"), 20
        )
        for t in (idle, phone, peer):
            t.close()
        return idle, elapsed, seen

    idle, elapsed, seen = asyncio.run(scenario())
    print(f"revoked tab on /login after {elapsed * 1000:.0f} ms")
    # The first update after the revocation empties what the tab showed ...
    assert "before revocation" in repr(idle.deltas[:seen])
    assert "before revocation" not in repr(idle.deltas[seen:])
    assert any((d.get(HISTORY) or {}).get("p50_rx_state_") == [] for d in idle.deltas[seen:]), (
        "the tab's messages were not taken away"
    )
    # ... and nothing sent after it reaches the tab.
    assert after not in repr(idle.deltas)
    engine.dispose()


def test_a_strangers_profile_and_last_seen_are_not_shown(app_server: AppServer) -> None:
    """Issue 11 finding 9: presence and last seen are shown only to people who share a
    conversation with that person, or who found them by search; a crafted show_profile for
    anyone else gets no card (and does not confirm that the account exists)."""
    engine = make_engine(app_server.database_url)
    a, b, stranger = _user(engine, "pa"), _user(engine, "pb"), _user(engine, "ps")
    with Session(engine) as s:
        conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        s.commit()

    async def scenario() -> RecordingTab:
        tab = RecordingTab(index=0, user=a, peer=b, port=app_server.port, sink=NullSink())
        await tab.connect()
        tab.emit("show_profile", {"user_id": stranger.id})
        tab.emit("show_profile", {"user_id": 10**9})  # nobody
        tab.emit("show_profile", {"user_id": b.id})  # a contact: shown
        await _card_of(tab, b.username)  # (the events are answered in order)
        tab.close()
        return tab

    tab = asyncio.run(scenario())
    cards = [
        fields["profile_card_rx_state_"]
        for d in tab.deltas
        for fields in d.values()
        if fields.get("profile_card_rx_state_")
    ]
    assert [c["username"] for c in cards] == [b.username]
    assert stranger.username not in repr(tab.deltas)
    assert tab.notices().count("That person does not exist.") == 2
    engine.dispose()


async def _answered(tab: RecordingTab) -> None:
    """Instead of sleeping: send a harmless marker event (open the profile panel, which needs
    no sign-in) and wait, bounded, for its answer. A tab's events are answered in order, so
    everything sent before the marker has been answered by then."""
    tab.emit("set_profile_open", {"value": True})
    for _ in range(400):
        if any(fields.get("profile_open_rx_state_") for d in tab.deltas for fields in d.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the marker event was not answered within 20 s")


async def _card_of(tab: RecordingTab, username: str) -> None:
    """A bounded wait for a positive signal: the card of `username` arrived."""
    for _ in range(400):
        for d in tab.deltas:
            for fields in d.values():
                if username in repr(fields.get("profile_card_rx_state_")):
                    return
        await asyncio.sleep(0.05)


GROUP_STATE = CHAT_STATE.replace("chat____chat_state", "groups____group_state")


def _group_event(tab: RecordingTab, handler: str, payload: dict[str, Any]) -> None:
    tab._emit({"name": f"{GROUP_STATE}.{handler}", "payload": payload, "router_data": tab.router})


def _group_snapshot(engine: sa.Engine, conv: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        members = conn.execute(
            sa.text(
                "SELECT user_id, role, left_at IS NULL FROM conversation_members"
                " WHERE conversation_id = :c ORDER BY user_id"
            ),
            {"c": conv},
        ).all()
        group = conn.execute(
            sa.text("SELECT title, members_can_add, picture_ref FROM conversations WHERE id = :c"),
            {"c": conv},
        ).one()
        lines = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE conversation_id = :c"), {"c": conv}
        ).scalar()
    return tuple(members), tuple(group), lines


def test_crafted_group_events_without_the_right(app_server: AppServer) -> None:
    """Issue 12: a member who tries to remove an admin, promote themselves, add people or
    change the group, and someone outside the group who tries to read it, send into it or list
    its members, are refused over the real protocol, and nothing changes."""
    engine = make_engine(app_server.database_url)
    owner, admin, member, outsider = (
        _user(engine, "go"),
        _user(engine, "ga"),
        _user(engine, "gm"),
        _user(engine, "gx"),
    )
    secret_text = f"group secret {secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        made = groups.create_group(
            session=s, user_id=owner.id, name="Closed", member_ids=[admin.id, member.id]
        )
        groups.set_role(
            session=s, user_id=owner.id, conversation_id=made.id, member_id=admin.id, role="admin"
        )
        s.commit()
    messages.send_message(
        engine=engine,
        sender_id=owner.id,
        conversation_id=made.id,
        body=secret_text,
        client_id="group-secret-1",
    )
    before = _group_snapshot(engine, made.id)

    async def scenario() -> tuple[RecordingTab, RecordingTab]:
        m = RecordingTab(index=0, user=member, peer=owner, port=app_server.port, sink=NullSink())
        x = RecordingTab(index=1, user=outsider, peer=owner, port=app_server.port, sink=NullSink())
        await m.connect()
        await x.connect()
        _group_event(m, "open_info", {"conversation_id": made.id})  # allowed: a member
        _group_event(m, "remove", {"user_id": admin.id})
        _group_event(m, "set_role", {"user_id": member.id, "role": "admin"})
        _group_event(m, "set_role", {"user_id": admin.id, "role": "member"})
        _group_event(m, "set_role", {"user_id": member.id, "role": "owner"})
        _group_event(m, "add", {"user_id": outsider.id})
        _group_event(m, "transfer", {"user_id": member.id})
        _group_event(m, "rename", {"form": {"name": "Mine now"}})
        _group_event(m, "set_can_add", {"value": True})
        _group_event(m, "delete", {})
        # The outsider: read, list members, send, leave, remove someone.
        x.emit("open_conversation", {"conversation_id": made.id})
        x.emit("load_older", {})
        x.emit(
            "send", {"form": {"body": "let me in", "conversation": made.id}, "client_id": "x" * 16}
        )
        _group_event(x, "open_info", {"conversation_id": made.id})
        _group_event(x, "remove", {"user_id": member.id})
        _group_event(x, "leave", {})
        await _answered(m)
        await _answered(x)
        m.close()
        x.close()
        return m, x

    m, x = asyncio.run(scenario())
    assert _group_snapshot(engine, made.id) == before  # nothing changed
    errors = [
        str(v)
        for d in m.deltas
        for fields in d.values()
        for k, v in fields.items()
        if k.startswith("info_error") and v
    ]
    assert any("Only the owner" in e for e in errors), errors
    assert any("Only the group's admins" in e for e in errors), errors
    # The outsider learned nothing: not the text, not who is in it.
    seen = repr(x.deltas)
    assert secret_text not in seen
    assert admin.username not in seen and member.username not in seen
    assert any("not in this conversation" in n for n in x.notices()), x.notices()
    with engine.connect() as conn:
        sent = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE sender_id = :u"), {"u": outsider.id}
        ).scalar()
    engine.dispose()
    assert sent == 0


ACTION_STATE = CHAT_STATE.replace("chat____chat_state", "actions____action_state")


def _action_event(tab: RecordingTab, handler: str, payload: dict[str, Any]) -> None:
    tab._emit({"name": f"{ACTION_STATE}.{handler}", "payload": payload, "router_data": tab.router})


def _action_answers(tab: RecordingTab) -> list[str]:
    """What ActionState told the tab: its errors and the reactor lines it was shown."""
    out: list[str] = []
    for d in tab.deltas:
        fields = d.get(ACTION_STATE) or {}
        if fields.get("error_rx_state_"):
            out.append(str(fields["error_rx_state_"]))
        out += [str(line) for line in fields.get("reactors_rx_state_") or ()]
    return out


def _lifecycle_snapshot(engine: sa.Engine, convs: list[int]) -> tuple[Any, ...]:
    """Every message of these conversations as stored, their change numbers, and the reaction
    and edit rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, sender_id, body, media_ref, edited_at, deleted_at, deleted_by,"
                " change_seq, reply_to_id FROM messages WHERE conversation_id IN :c ORDER BY id"
            ).bindparams(sa.bindparam("c", expanding=True)),
            {"c": convs},
        ).all()
        seqs = conn.execute(
            sa.text(
                "SELECT id, change_seq FROM conversations WHERE id IN :c ORDER BY id"
            ).bindparams(sa.bindparam("c", expanding=True)),
            {"c": convs},
        ).all()
        reactions = conn.execute(
            sa.text("SELECT message_id, user_id, emoji FROM message_reactions ORDER BY 1, 2, 3")
        ).all()
        edits = conn.execute(sa.text("SELECT COUNT(*) FROM message_edits")).scalar()
    return tuple(rows), tuple(seqs), tuple(reactions), edits


def test_crafted_message_changes_without_the_right(app_server: AppServer) -> None:
    """Issue 13: editing or deleting someone else's message (a direct conversation's other
    person; a group's plain member), editing after 24 hours, and, by someone outside the
    conversation, editing, deleting, reacting to, replying to, asking who reacted to and
    jumping to its message are refused over the real protocol, with a message; nothing changes
    and the outsider receives nothing of that conversation."""
    engine = make_engine(app_server.database_url)
    a, b, m, o, x = (_user(engine, p) for p in ("la", "lb", "lm", "lo", "lx"))
    secret = f"direct secret {secrets.token_hex(4)}"
    old_text = f"said yesterday {secrets.token_hex(4)}"
    group_text = f"group note {secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        direct = conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        made = groups.create_group(session=s, user_id=o.id, name="Mods", member_ids=[m.id])
        s.commit()

    def send(sender: BenchUser, conv: int, body: str) -> int:
        return messages.send_message(
            engine=engine,
            sender_id=sender.id,
            conversation_id=conv,
            body=body,
            client_id=secrets.token_urlsafe(12),
        ).message.id

    target = send(a, direct, secret)
    old = send(a, direct, old_text)
    group_msg = send(o, made.id, group_text)
    with Session(engine) as s:
        lifecycle.react(session=s, user_id=b.id, message_id=target, emoji="👍")
        s.execute(
            sa.text("UPDATE messages SET created_at = :at WHERE id = :m"),
            {"at": datetime.now(UTC) - timedelta(hours=25), "m": old},
        )
        s.commit()
    before = _lifecycle_snapshot(engine, [direct, made.id])

    async def scenario() -> list[RecordingTab]:
        tabs = [
            RecordingTab(index=i, user=u, peer=p, port=app_server.port, sink=NullSink())
            for i, (u, p) in enumerate(((a, b), (b, a), (m, o), (x, a)))
        ]
        ta, tb, tm, tx = tabs
        for t in tabs:
            await t.connect()
        # The sender, a day later: edit.
        _action_event(ta, "start_edit", {"message_id": old, "text": old_text})
        _action_event(ta, "save_edit", {"form": {"text": "rewritten history"}})
        # The other person of the direct conversation: edit and delete the sender's message.
        _action_event(tb, "start_edit", {"message_id": target, "text": secret})
        _action_event(tb, "save_edit", {"form": {"text": "put words in a's mouth"}})
        _action_event(tb, "ask_delete", {"message_id": target})
        _action_event(tb, "confirm_delete", {})
        # A plain member of the group: edit and delete the owner's message.
        _action_event(tm, "start_edit", {"message_id": group_msg, "text": group_text})
        _action_event(tm, "save_edit", {"form": {"text": "the owner agrees with me"}})
        _action_event(tm, "ask_delete", {"message_id": group_msg})
        _action_event(tm, "confirm_delete", {})
        # Someone in neither conversation (in one with a of their own, open).
        await tx.open_conversation()
        for mid in (target, group_msg):
            _action_event(tx, "start_edit", {"message_id": mid, "text": ""})
            _action_event(tx, "save_edit", {"form": {"text": "mine now"}})
            _action_event(tx, "ask_delete", {"message_id": mid})
            _action_event(tx, "confirm_delete", {})
            _action_event(tx, "react", {"message_id": mid, "emoji": "😂"})
            _action_event(tx, "show_reactors", {"message_id": mid})
            tx.emit("jump_to", {"message_id": mid})
        # ... and reply to the direct conversation's message from their own conversation.
        _action_event(tx, "start_reply", {"message_id": target, "name": "a", "text": "guess"})
        tx.emit(
            "send",
            {
                "form": {"body": "a reply", "conversation": str(tx.conv), "reply": target},
                "client_id": "crafted-reply-01",
            },
        )
        for t in tabs:
            await _answered(t)
            t.close()
        return tabs

    ta, tb, tm, tx = asyncio.run(scenario())
    assert _lifecycle_snapshot(engine, [direct, made.id]) == before  # nothing changed
    assert "Messages can be edited for 24 hours after sending." in _action_answers(ta)
    for t in (tb, tm):
        assert "You can only edit your own messages." in _action_answers(t), _action_answers(t)
        assert "You can only delete your own messages." in _action_answers(t)
    # The outsider: refused each time, the same answer as for no such message ...
    # (a var set again to the same value may not be sent again: "in", not a count)
    assert set(_action_answers(tx)) == {lifecycle.NOT_FOUND}, _action_answers(tx)
    assert "That message is not in the history you can see." in tx.notices()
    failed = [op for op in tx.ops if op.get("t") == "msg_failed"]
    assert [op["cid"] for op in failed] == ["crafted-reply-01"]
    assert lifecycle.NOT_FOUND in failed[0]["error"]
    # ... and nothing of either conversation: not the texts, not who reacted.
    seen = repr(tx.deltas)
    for text in (secret, old_text, group_text):
        assert text not in seen
    assert b.username not in seen and o.username not in seen
    with engine.connect() as conn:
        sent = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE sender_id = :u"), {"u": x.id}
        ).scalar()
    engine.dispose()
    assert sent == 0
