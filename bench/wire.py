"""python -m bench wire: issue 3's figures.

(a) Bytes a recipient tab receives per new message with 50 vs 1,000 messages loaded in view
    (19 x load_older), and their ratio (target <= 1.5).
(b) Time to open a conversation with 100 vs 100,000 messages on MariaDB: the service calls
    (list_messages + mark_read) and the ChatState.open_conversation websocket round trip,
    median of N runs each, and their ratio (target <= 2).
(c) Also: the sidebar query (list_conversations) when the 100,000 are unread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from bench import servers
from bench.db import BenchUser, TempDatabase, create_users
from bench.load import make_body
from bench.seed import direct_conversation, seed_messages
from bench.tabs import ChatappTab, Tab
from chatapp.services import conversations, messages


class Sink:
    """Remembers which frame carried each delivered message (by client id)."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}
        self.arrived: dict[str, asyncio.Event] = {}
        self.errors: list[str] = []

    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        cid = str(item.get("cid"))
        self.frames[cid] = frame_bytes
        self.arrived.setdefault(cid, asyncio.Event()).set()

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        pass

    def error(self, tab: Tab, what: str) -> None:
        self.errors.append(what)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def bytes_per_message(
    sender: ChatappTab, recipient: ChatappTab, sink: Sink, n: int
) -> tuple[float, float]:
    """(median bytes of the frame carrying the message, median of all bytes the recipient
    received from the send until 300 ms after the message arrived)."""
    frames, totals = [], []
    for _ in range(n):
        cid = secrets.token_hex(16)
        got = sink.arrived.setdefault(cid, asyncio.Event())
        before = recipient.client.bytes_in
        sender.send(make_body(cid), cid)
        await asyncio.wait_for(got.wait(), 30)
        await asyncio.sleep(0.3)
        frames.append(sink.frames[cid])
        totals.append(recipient.client.bytes_in - before)
    return statistics.median(frames), statistics.median(totals)


async def load_older(tab: ChatappTab, times: int) -> int:
    loaded = 0
    for _ in range(times):
        fut = tab.expect(lambda op: op.get("t") == "msgs_older")
        tab.emit("load_older")
        op = await asyncio.wait_for(fut, 60)
        loaded += len(op.get("items", ()))
    return loaded


def time_service(engine: sa.Engine, uid: int, conv: int, runs: int) -> float:
    """Median ms of list_messages + mark_read in one transaction (what opening costs the DB)."""
    out = []
    for _ in range(runs):
        with Session(engine) as s:
            t0 = time.perf_counter()
            messages.list_messages(session=s, user_id=uid, conversation_id=conv)
            conversations.mark_read(session=s, user_id=uid, conversation_id=conv)
            s.commit()
            out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def time_call(fn: Callable[[Session], object], engine: sa.Engine, runs: int) -> float:
    out = []
    for _ in range(runs):
        with Session(engine) as s:
            t0 = time.perf_counter()
            fn(s)
            out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def _reset_of(conv: int) -> Callable[[dict[str, Any]], bool]:
    return lambda op: op.get("t") == "msgs_reset" and op.get("conv") == conv


async def time_open_ws(tab: ChatappTab, convs: list[int], runs: int) -> dict[int, float]:
    """Median ms from emitting open_conversation to the msgs_reset op arriving, per conv
    (alternating, so each open really switches conversation)."""
    out: dict[int, list[float]] = {c: [] for c in convs}
    for _ in range(runs):
        for conv in convs:
            fut = tab.expect(_reset_of(conv))
            t0 = time.perf_counter()
            tab.emit("open_conversation", {"conversation_id": conv})
            await asyncio.wait_for(fut, 60)
            out[conv].append((time.perf_counter() - t0) * 1000)
    return {c: statistics.median(v) for c, v in out.items()}


async def measure(port: int, engine: sa.Engine, users: list[BenchUser], args: Any) -> list[str]:
    a, b, c, d = users
    lines: list[str] = []
    # (a) bytes per new message ----------------------------------------------------------------
    conv_ab = direct_conversation(engine, a.id, b.id)
    seed_messages(engine, conv_ab, a.id, b.id, 1100)
    sink = Sink()
    tab_a = ChatappTab(index=0, user=a, peer=b, port=port, sink=sink)
    tab_b = ChatappTab(index=1, user=b, peer=a, port=port, sink=sink)
    for t in (tab_a, tab_b):
        await t.connect()
        await t.open_conversation()
    f50, t50 = await bytes_per_message(tab_a, tab_b, sink, args.messages)
    loaded = 50 + await load_older(tab_b, 19)
    f1k, t1k = await bytes_per_message(tab_a, tab_b, sink, args.messages)
    lines += [
        "(a) bytes a recipient tab receives per new message (120-byte body, median of "
        f"{args.messages})",
        "| messages loaded in view | frame carrying the message | all bytes per message |",
        "|---|---|---|",
        f"| 50 | {f50:.0f} | {t50:.0f} |",
        f"| {loaded} | {f1k:.0f} | {t1k:.0f} |",
        f"ratio {loaded} / 50: frame ×{f1k / f50:.2f}, all bytes ×{t1k / t50:.2f} (target <= 1.5)",
    ]
    # (b) opening a conversation with 100 vs 100,000 messages ---------------------------------
    conv_small = direct_conversation(engine, a.id, c.id)
    conv_big = direct_conversation(engine, a.id, d.id)
    t0 = time.monotonic()
    seed_messages(engine, conv_small, a.id, c.id, 100)
    seed_messages(engine, conv_big, a.id, d.id, args.big)
    log(f"[wire] seeded {args.big:,} messages in {time.monotonic() - t0:.1f} s")
    svc = {conv: time_service(engine, a.id, conv, args.runs) for conv in (conv_small, conv_big)}
    ws = await time_open_ws(tab_a, [conv_small, conv_big], args.runs)
    s_ratio = svc[conv_big] / svc[conv_small]
    w_ratio = ws[conv_big] / ws[conv_small]
    lines += [
        "",
        f"(b) time to open a conversation on MariaDB (median of {args.runs})",
        "| messages in conversation | list_messages + mark_read ms | open_conversation round "
        "trip ms |",
        "|---|---|---|",
        f"| 100 | {svc[conv_small]:.2f} | {ws[conv_small]:.1f} |",
        f"| {args.big:,} | {svc[conv_big]:.2f} | {ws[conv_big]:.1f} |",
        f"ratio: service ×{s_ratio:.2f}, websocket ×{w_ratio:.2f} (target <= 2)",
    ]

    # (c) the sidebar when the big conversation is all unread -----------------------------------
    def sidebar(s: Session) -> object:
        return conversations.list_conversations(session=s, user_id=d.id)

    read = time_call(sidebar, engine, args.runs)
    with engine.begin() as cx:
        cx.execute(
            sa.text(
                "UPDATE conversation_members SET last_read_message_id = 0 "
                "WHERE conversation_id = :c AND user_id = :u"
            ),
            {"c": conv_big, "u": d.id},
        )
    unread = time_call(sidebar, engine, args.runs)
    lines += [
        "",
        "(c) list_conversations (sidebar, also run on every page load) for the 100,000's peer",
        f"all read: {read:.2f} ms; {args.big:,} unread: {unread:.2f} ms (×{unread / read:.1f})",
    ]
    for t in (tab_a, tab_b):
        t.close()
    if sink.errors:
        lines.append(f"errors: {sink.errors[:5]}")
    w = f1k / f50
    lines.append(
        f"wire: bytes/message ×{w:.2f} (50 -> {loaded} loaded); open ×{s_ratio:.2f} service, "
        f"×{w_ratio:.2f} websocket (100 -> {args.big:,} messages)"
    )
    return lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench wire", description=__doc__)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--messages", type=int, default=10, help="new messages per measurement")
    p.add_argument("--big", type=int, default=100_000, help="messages in the big conversation")
    args = p.parse_args(argv)
    db = TempDatabase(prefix="bench_wire")
    srv = None
    try:
        users = create_users(db.engine, 4)
        srv = servers.chatapp(database_url=db.url, jwt_secret=os.environ["JWT_SECRET"])
        log(f"[wire] database {db.name}; starting chatapp (log: {srv.log_path})")
        srv.start()
        lines = asyncio.run(measure(srv.port, db.engine, users, args))
    finally:
        if srv is not None:
            srv.stop()
        db.drop()
    from bench.run import git_describe

    print(f"chatapp at {git_describe()}")
    print("\n".join(lines))
    return 0
