"""python -m bench wire: bytes on the wire per message, and the cost of opening a conversation.

(a) Bytes a recipient tab receives per new message with 50, ~1,000 and ~5,000 messages loaded
    in its view (the conversation re-opened, then load_older, 100 a call), over N new messages
    each: median and max of the frame carrying the message and of all bytes received per
    message; the ratio ~5,000 / 50 of the medians (target <= 1.2); the largest frame
    (target <= 20 KB; the arrival slots fold into a page every 32 messages, in that frame).
    The same for the sender tab's status change pending -> sent (its second frame per send),
    and pending -> failed (a trigger in the throwaway database refuses marked bodies).
    And the bytes the recipient tab receives for a change to a message (issue 13): an edit, a
    deletion and a reaction, made through the sender tab's ActionState events as a browser
    makes them, to a message in the arrival slots and to one deep in the loaded history (drawn
    by a patch var), at the same sizes (target: no more than a new message, whatever is loaded).
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from bench import servers
from bench.db import BenchUser, TempDatabase, create_users
from bench.load import make_body
from bench.seed import direct_conversation, seed_messages
from bench.tabs import ARRIVALS, CHAT_STATE, HISTORY, ChatappTab, Op, Tab
from chatapp.services import conversations, messages

FAIL_MARK = "benchfail"  # bodies starting with this are refused by the database (trigger)
LEVELS = (0, 10, 50)  # load_older calls per level: 50, 1,050 and 5,050 messages in view
MAX_FRAME = 20_000
SETTLE_S = 0.15  # after a message's last expected frame, before the next send
ACTION_STATE = CHAT_STATE.replace("chat____chat_state", "actions____action_state")
N_SLOTS, N_PATCHES = 32, 16  # chatapp.state.view: arrival slots, patch vars
KINDS = ("edit", "delete", "react")
WHERE = ("arrival slot", "history")


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
        self.ids: dict[str, int] = {}  # client id -> message id, of the messages it was sent
        # (predicate on a bubble, future of (frame bytes, the var that carried the bubble))
        self.watches: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []
        self.action_errors: list[str] = []
        self.page_frames: list[bool] = []  # per frame: it carried a history page var

    def _on_event(self, name: str, data: Any, size: int) -> None:
        self.frames.append(size)
        self.page_frames.append(False)
        if name == "event" and isinstance(data, dict):
            delta = data.get("delta") or {}
            self.page_frames[-1] = bool(delta.get(HISTORY))
            self._match(delta, size)
            error = (delta.get(ACTION_STATE) or {}).get("error_rx_state_")
            if error:
                self.action_errors.append(str(error))
        super()._on_event(name, data, size)

    def _match(self, delta: dict[str, Any], size: int) -> None:
        """Resolve the watches whose bubble is in this frame (a slot, a patch var, a page)."""
        if not self.watches:
            return
        for state in (ARRIVALS, HISTORY):
            for key, value in (delta.get(state) or {}).items():
                for v in value if isinstance(value, list) else [value]:
                    if not isinstance(v, dict):
                        continue
                    for pred, fut in self.watches:
                        if not fut.done() and pred(v):
                            fut.set_result((size, key.removesuffix("_rx_state_")))
        self.watches = [(p, f) for p, f in self.watches if not f.done()]

    def watch(self, pred: Callable[[dict[str, Any]], bool]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.watches.append((pred, fut))
        return fut

    def action(self, handler: str, payload: dict[str, Any]) -> None:
        """An ActionState event (edit, delete, react), as the browser sends it."""
        self._emit(
            {"name": f"{ACTION_STATE}.{handler}", "payload": payload, "router_data": self.router}
        )

    def _on_op(self, op: Op, size: int) -> None:
        t = op.get("t")
        if t == "msg":
            item = op["item"]
            cid = str(item.get("cid"))
            if item.get("id"):
                self.ids[cid] = int(item["id"])
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


# Changes to a message (issue 13) ---------------------------------------------------------------
@dataclass
class ChangeSeries:
    """Bytes the recipient tab received per change of one kind, to one kind of bubble."""

    loaded: int
    where: str
    kind: str
    bytes: Series = field(default_factory=Series)
    carriers: Counter[str] = field(default_factory=Counter)  # var kind that carried the bubble


def _carrier(var: str) -> str:
    return {"a": "slot", "x": "patch", "p": "page"}.get(var[:1], var)


async def one_change(
    actor: WireTab,
    recipient: WireTab,
    out: ChangeSeries,
    kind: str,
    mid: int,
    *,
    text: str = "",
    on: bool = True,
) -> None:
    """Edit, delete or react to message `mid` from the actor's tab; wait until the recipient
    shows it; record the bytes the recipient received for it."""
    if kind == "edit":

        def pred(v: dict[str, Any]) -> bool:
            return v.get("id") == mid and v.get("body") == text and bool(v.get("edited"))

    elif kind == "delete":

        def pred(v: dict[str, Any]) -> bool:
            return v.get("id") == mid and bool(v.get("deleted"))

    else:

        def pred(v: dict[str, Any]) -> bool:
            chips = [c.get("e") for c in v.get("rx") or ()]
            return v.get("id") == mid and ("👍" in chips) == on

    r0, mark = recipient.client.bytes_in, len(recipient.frames)
    errors = len(actor.action_errors)
    fut = recipient.watch(pred)
    if kind == "edit":
        actor.action("start_edit", {"message_id": mid, "text": ""})
        actor.action("save_edit", {"form": {"text": text}})
    elif kind == "delete":
        actor.action("ask_delete", {"message_id": mid})
        actor.action("confirm_delete", {})
    else:
        actor.action("react", {"message_id": mid, "emoji": "👍"})
    try:
        frame, var = await asyncio.wait_for(fut, 30)
    except TimeoutError:
        raise RuntimeError(
            f"{kind} of message {mid} never reached the recipient "
            f"(actor's errors: {actor.action_errors[errors:]})"
        ) from None
    await asyncio.sleep(SETTLE_S)
    out.bytes.add(frame, recipient.client.bytes_in - r0, max(recipient.frames[mark:], default=0))
    out.carriers[_carrier(var)] += 1
    if any(recipient.page_frames[mark:]):
        out.carriers["a page re-sent"] += 1


def history_targets(engine: sa.Engine, conv: int, loaded: int, sender_id: int | None) -> list[int]:
    """The sender's (None: anyone's) messages among the `loaded` newest of `conv`, oldest
    first (the deepest history the recipient has loaded), not deleted."""
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT id, sender_id, deleted_at FROM messages WHERE conversation_id = :c"
                " ORDER BY id DESC LIMIT :n"
            ),
            {"c": conv, "n": loaded},
        ).all()
    return [int(i) for i, s, gone in reversed(rows) if sender_id in (None, s) and gone is None]


async def fresh_in_slots(sender: WireTab, recipient: WireTab, count: int) -> list[int]:
    """`count` new messages from the sender that sit in the recipient's arrival slots (a fold
    is forced first when they would not fit), oldest first."""
    used = len(recipient.view.slots)
    scratch = Level(0)
    if used + count > N_SLOTS:
        for _ in range(N_SLOTS + 1 - used):  # the 33rd arrival folds the 32 into a page
            await one_message(sender, recipient, scratch)
    cids = []
    for _ in range(count):
        before = set(recipient.ids)
        await one_message(sender, recipient, scratch)
        cids += [c for c in recipient.ids if c not in before]
    in_slots = set(recipient.view.slots.values())
    return [recipient.ids[c] for c in cids if c in in_slots]


async def bytes_per_change(
    engine: sa.Engine,
    sender: WireTab,
    recipient: WireTab,
    conv: int,
    loaded: int,
    deep: list[int],
    n: int,
    spread: int,
    anyone: list[int],
) -> list[ChangeSeries]:
    """`n` edits (of one message), `n` reactions (one message, toggled) and up to `n`
    deletions (each its own message): to the sender's messages in the recipient's arrival
    slots, then to the deepest ones of its loaded history (each bubble changed takes one of
    the N_PATCHES patch vars: deletions are capped so that none is folded back). Then one
    reaction on each of `spread` other history messages (of `anyone`, the deepest first):
    once the patch vars are all taken, each new one folds the oldest patch back into its page
    (that page's frame)."""
    out: list[ChangeSeries] = []
    fresh = await fresh_in_slots(sender, recipient, n + 2)
    n_hist = min(n, N_PATCHES - 2, max(0, len(deep) - 2))
    targets = {WHERE[0]: fresh[::-1], WHERE[1]: deep[: n_hist + 2]}
    for where, ids in targets.items():
        if len(ids) < 3:
            log(f"[wire] {where}: only {len(ids)} messages to change, skipped")
            continue
        edit_id, react_id, deletions = ids[0], ids[1], ids[2:]
        for kind in KINDS:
            series = ChangeSeries(loaded, where, kind)
            for i in range(n if kind != "delete" else len(deletions)):
                token = secrets.token_hex(4)
                if kind == "edit":
                    await one_change(sender, recipient, series, kind, edit_id, text=f"edit {token}")
                elif kind == "react":
                    await one_change(sender, recipient, series, kind, react_id, on=i % 2 == 0)
                else:
                    await one_change(sender, recipient, series, kind, deletions[i])
            out.append(series)
    used = set(targets[WHERE[1]])
    others = [i for i in anyone if i not in used][:spread]
    if others:
        series = ChangeSeries(loaded, f"history, {len(others)} more bubbles", "react")
        for mid in others:
            await one_change(sender, recipient, series, "react", mid)
        out.append(series)
    return out


def _fmt_change(c: ChangeSeries, new_message: Series) -> str:
    s = c.bytes
    carried = ", ".join(f"{k} {v}" for k, v in c.carriers.most_common())
    return (
        f"| {c.where} | {c.loaded:,} | {c.kind} ({len(s.frame)}) | {s.med('frame'):,.0f} "
        f"| {s.max('frame'):,} | {s.med():,.0f} | {s.mean():,.0f} | {s.max():,} | {s.largest:,} "
        f"| ×{s.med() / new_message.med():.2f} | {carried} |"
    )


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
    changes: list[tuple[Level, list[ChangeSeries]]] = []
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
        if args.changes:
            # (the deepest loaded history: what was loaded before the new messages came)
            window = lv.loaded + args.messages
            deep = history_targets(engine, conv_ab, window, a.id)
            anyone = history_targets(engine, conv_ab, window, None)
            got = await bytes_per_change(
                engine,
                tab_a,
                tab_b,
                conv_ab,
                lv.loaded,
                deep,
                args.changes,
                args.spread,
                anyone,
            )
            changes.append((lv, got))
            log(
                f"[wire] {lv.loaded:,} in view, changes: "
                + "; ".join(f"{c.where} {c.kind} {c.bytes.med():,.0f} B" for c in got)
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
    if changes:
        worst = max(
            ((c.bytes.med() / lv.recipient.med(), c) for lv, got in changes for c in got),
            key=lambda pair: pair[0],
        )
        lines += [
            "",
            f"(a2) bytes the recipient tab receives per change to a message ({args.changes} "
            "edits of one message, reactions toggled on one message, deletions of distinct "
            "messages; made from the sender's tab); 'vs new' = all median / the new-message "
            "all median at that size; carried by = the var that carried the changed bubble",
            "| bubble | messages in the tab's view | change (n) | frame median | frame max "
            "| all median | all mean | all max | largest frame | vs new | carried by |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *(_fmt_change(c, lv.recipient) for lv, got in changes for c in got),
            f"worst median vs a new message: ×{worst[0]:.2f} ({worst[1].where} "
            f"{worst[1].kind} at {worst[1].loaded:,}; target <= 1)",
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
    p.add_argument(
        "--changes", type=int, default=10, help="edits/reactions/deletions per kind and bubble"
    )
    p.add_argument(
        "--spread",
        type=int,
        default=N_PATCHES,
        help="reactions on that many more distinct history bubbles (patch vars run out)",
    )
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
