"""python -m bench wire: bytes on the wire per message, and the cost of opening a conversation.

(a) Bytes a recipient tab receives per new message with 50, ~1,000 and ~5,000 messages loaded
    in its view (the conversation re-opened, then load_older, 100 a call), over N new messages
    each: median and max of the frame carrying the message and of all bytes received per
    message; the ratio ~5,000 / 50 of the medians (target <= 1.2); the largest frame
    (target <= 20 KB; the arrival slots fold into a page every 32 messages, in that frame).
    The same for the sender tab's status change pending -> sent (its second frame per send),
    and pending -> failed (a trigger in the throwaway database refuses marked bodies).
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
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from bench import servers
from bench.db import BenchUser, TempDatabase, create_users
from bench.load import make_body
from bench.seed import direct_conversation, seed_messages
from bench.tabs import ChatappTab, Op, Tab
from chatapp.services import conversations, messages

FAIL_MARK = "benchfail"  # bodies starting with this are refused by the database (trigger)
LEVELS = (0, 10, 50)  # load_older calls per level: 50, 1,050 and 5,050 messages in view
MAX_FRAME = 20_000
SETTLE_S = 0.15  # after a message's last expected frame, before the next send


class Sink:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        pass

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        pass

    def error(self, tab: Tab, what: str) -> None:
        self.errors.append(what)

    def recovered(self, tab: Tab, item: dict[str, Any]) -> None:
        pass  # pages of history (re-open, load older): not per-message figures

    def shown_twice(self, tab: Tab, cid: str) -> None:
        self.errors.append(f"message {cid} shown twice")


class WireTab(ChatappTab):
    """A chatapp tab that remembers the size of every frame, and which frame carried what:
    (client id, "msg" | "pending" | "sent" | "failed") -> frame bytes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frames: list[int] = []
        self.carried: dict[tuple[str, str], int] = {}
        self.seen: dict[tuple[str, str], asyncio.Event] = {}

    def _on_event(self, name: str, data: Any, size: int) -> None:
        self.frames.append(size)
        super()._on_event(name, data, size)

    def _on_op(self, op: Op, size: int) -> None:
        t = op.get("t")
        if t == "msg":
            item = op["item"]
            cid = str(item.get("cid"))
            what = str(item.get("status")) if self.own(item) else "msg"
            self._mark(cid, what, size)
        elif t == "msg_failed":
            self._mark(str(op.get("cid")), "failed", size)
        super()._on_op(op, size)

    def _mark(self, cid: str, what: str, size: int) -> None:
        self.carried.setdefault((cid, what), size)
        self.seen.setdefault((cid, what), asyncio.Event()).set()

    async def saw(self, cid: str, what: str) -> int:
        async with asyncio.timeout(30):
            await self.seen.setdefault((cid, what), asyncio.Event()).wait()
        return self.carried[(cid, what)]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Series:
    """Bytes per message over one measurement."""

    frame: list[int] = field(default_factory=list)  # the frame carrying the message/status
    total: list[int] = field(default_factory=list)  # all bytes the tab received per message
    largest: int = 0  # the largest single frame the tab received meanwhile

    def add(self, frame: int, total: int, largest: int) -> None:
        self.frame.append(frame)
        self.total.append(total)
        self.largest = max(self.largest, largest)

    def med(self, which: str = "total") -> float:
        return statistics.median(getattr(self, which)) if getattr(self, which) else float("nan")

    def mean(self, which: str = "total") -> float:
        return statistics.fmean(getattr(self, which)) if getattr(self, which) else float("nan")

    def max(self, which: str = "total") -> int:
        return max(getattr(self, which), default=0)


@dataclass
class Level:
    loaded: int
    recipient: Series = field(default_factory=Series)
    sent: Series = field(default_factory=Series)  # the sender's second frame: pending -> sent
    pending: Series = field(default_factory=Series)  # the sender's first frame


async def one_message(
    sender: WireTab, recipient: WireTab, lv: Level, *, fail: bool = False
) -> tuple[int, int]:
    """Send one message; wait for what each tab should receive; record the bytes."""
    cid = secrets.token_hex(16)
    r0, s0 = recipient.client.bytes_in, sender.client.bytes_in
    rf0, sf0 = len(recipient.frames), len(sender.frames)
    body = make_body(cid)
    sender.send(f"{FAIL_MARK} {body}" if fail else body, cid)
    if fail:
        status = await sender.saw(cid, "failed")
    else:
        status = await sender.saw(cid, "sent")
        got = await recipient.saw(cid, "msg")
    await asyncio.sleep(SETTLE_S)
    # A send whose commit is quick shows its bubble as sent in one frame: no pending frame.
    pending = sender.carried.get((cid, "pending"), 0)
    r_total, s_total = recipient.client.bytes_in - r0, sender.client.bytes_in - s0
    r_max = max(recipient.frames[rf0:], default=0)
    s_frames = sender.frames[sf0:]
    if not fail:
        lv.recipient.add(got, r_total, r_max)
        lv.sent.add(status, s_total - pending, max(s_frames, default=0))
        if pending:
            lv.pending.add(pending, pending, pending)
    return status, s_total


async def load_older(tab: ChatappTab, times: int) -> int:
    loaded = 0
    for _ in range(times):
        fut = tab.expect(lambda op: op.get("t") == "msgs_older")
        tab.emit("load_older")
        op = await asyncio.wait_for(fut, 60)
        loaded += len(op.get("items", ()))
    return loaded


async def reopen(tab: ChatappTab, conv: int) -> int:
    """Open `conv` again: the view is rebuilt with the newest page only. Returns the number of
    messages in view."""
    fut = tab.expect(_reset_of(conv))
    tab.emit("open_conversation", {"conversation_id": conv})
    op = await asyncio.wait_for(fut, 60)
    return len(op.get("items") or ())


async def bytes_per_message(
    sender: WireTab, recipient: WireTab, conv: int, older: int, n: int
) -> tuple[Level, list[int]]:
    """Both tabs re-open `conv` and load `older` older pages; then `n` new messages."""
    loaded = 0
    big: list[int] = []
    for tab in (sender, recipient):
        mark = len(tab.frames)
        shown = await reopen(tab, conv)
        shown += await load_older(tab, older)
        big.append(max(tab.frames[mark:], default=0))
        loaded = shown if tab is recipient else loaded
    lv = Level(loaded)
    for _ in range(n):
        await one_message(sender, recipient, lv)
    return lv, big


def _fmt_row(label: str, s: Series) -> str:
    return (
        f"| {label} | {s.med('frame'):,.0f} | {s.max('frame'):,} | {s.med():,.0f} "
        f"| {s.mean():,.0f} | {s.max():,} | {s.largest:,} |"
    )


async def failed_status(engine: sa.Engine, sender: WireTab, recipient: WireTab, n: int) -> Series:
    """pending -> failed: a trigger refuses bodies that start with FAIL_MARK (the INSERT raises,
    the send handler shows the bubble as failed)."""
    with engine.begin() as c:
        c.execute(sa.text("DROP TRIGGER IF EXISTS bench_refuse"))
        c.execute(
            sa.text(
                "CREATE TRIGGER bench_refuse BEFORE INSERT ON messages FOR EACH ROW "
                f"IF NEW.body LIKE '{FAIL_MARK}%' THEN "
                "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'bench: refused on purpose'; END IF"
            )
        )
    out = Series()
    try:
        for _ in range(n):
            mark = len(sender.frames)
            status, total = await one_message(sender, recipient, Level(0), fail=True)
            out.add(status, total, max(sender.frames[mark:], default=0))
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DROP TRIGGER IF EXISTS bench_refuse"))
    return out


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
    seed_messages(engine, conv_ab, a.id, b.id, 100 * max(LEVELS) + 300)
    sink = Sink()
    tab_a = WireTab(index=0, user=a, peer=b, port=port, sink=sink)
    tab_b = WireTab(index=1, user=b, peer=a, port=port, sink=sink)
    for t in (tab_a, tab_b):
        await t.connect()
        await t.open_conversation()
    levels: list[Level] = []
    history_frames: list[int] = []
    for older in LEVELS:
        lv, big = await bytes_per_message(tab_a, tab_b, conv_ab, older, args.messages)
        levels.append(lv)
        history_frames += big
        log(
            f"[wire] {lv.loaded:,} in view: recipient median {lv.recipient.med():,.0f} B, "
            f"max {lv.recipient.max():,} B; sender's 'sent' frame median "
            f"{lv.sent.med('frame'):,.0f} B"
        )
    failed = await failed_status(engine, tab_a, tab_b, args.failed) if args.failed else None
    first, last = levels[0], levels[-1]
    ratio = last.recipient.med() / first.recipient.med()
    s_ratio_sent = last.sent.med() / first.sent.med()
    largest = max(max(lv.recipient.largest, lv.sent.largest) for lv in levels)
    n = args.messages
    lines += [
        f"(a) bytes per new message (120-byte body; {n} new messages per row; median / max over "
        "them; frame = the websocket frame carrying it; all = every byte the tab received per "
        "message; largest = the largest single frame the tab received meanwhile)",
        "| messages in the tab's view | frame median | frame max | all median | all mean "
        "| all max | largest frame |",
        "|---|---|---|---|---|---|---|",
        "| **recipient: new message** | | | | | | |",
        *(_fmt_row(f"{lv.loaded:,}", lv.recipient) for lv in levels),
        "| **sender: the bubble as sent (its only frame when the commit is quick, else the "
        "2nd)** | | | | | | |",
        *(_fmt_row(f"{lv.loaded:,}", lv.sent) for lv in levels),
        "| sender: the pending bubble (1st frame; only when the commit is slow) | | | | | | |",
        *(_fmt_row(f"{lv.loaded:,}", lv.pending) for lv in levels),
    ]
    if failed is not None:
        lines.append(
            f"| **sender: failed ({len(failed.frame)} sends refused by "
            "the database)** | | | | | | |"
        )
        lines.append(_fmt_row(f"{last.loaded:,} + {n}", failed))
    lines += [
        f"ratio {last.loaded:,} / {first.loaded} of the medians: recipient ×{ratio:.2f} "
        f"(target <= 1.2), sender's status change ×{s_ratio_sent:.2f}; largest frame for a new "
        f"message or a status change: {largest:,} B (target <= {MAX_FRAME:,})",
        f"(frames that open the conversation or load older pages: up to "
        f"{max(history_frames):,} B; they are not per-message)",
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
    # The refused sends are expected to fail; anything else is an error.
    errors = [e for e in sink.errors if not e.startswith("send failed:")][: len(sink.errors)]
    refused = len(sink.errors) - len(errors)
    if failed is not None and refused != len(failed.frame):
        errors.append(f"{refused} sends failed, {len(failed.frame)} were refused on purpose")
    if errors:
        lines.append(f"errors: {errors[:5]}")
    lines.append(
        f"wire: bytes/new message median {first.recipient.med():,.0f} -> "
        f"{last.recipient.med():,.0f} B (×{ratio:.2f}, {first.loaded} -> {last.loaded:,} loaded), "
        f"max {max(lv.recipient.max() for lv in levels):,} B, largest frame {largest:,} B; "
        f"sent status {last.sent.med('frame'):,.0f} B; open ×{s_ratio:.2f} service, "
        f"×{w_ratio:.2f} websocket (100 -> {args.big:,} messages)"
    )
    return lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench wire", description=__doc__)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--messages", type=int, default=100, help="new messages per measurement")
    p.add_argument("--failed", type=int, default=10, help="sends refused by the database")
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
