"""python -m bench group: fan-out into one group of 200 members (issue 12, "Fan-out, measured").

One group of ``--members`` users (default 200), every member online in one protocol tab
(bench/tabs.py's ChatappTab: it connects and hydrates as a browser does) with the group open.
At each of ``--rates`` (default 5 and 20 messages/s), for ``--duration`` s, messages are sent into
the group by members chosen at random (``ChatState.send``, as the composer does). Meanwhile two
members of the group talk in their direct conversation (``--direct-rate``, default 1 message/s),
each in a second tab that shows it: their frames give the bytes a recipient receives for a
direct message, side by side with a group message's, under the same load.

Figures per step:

- **delivery latency** from the sender's emit to every member's tab: each of the other members
  receiving it (the frame whose arrival slot shows it) and the sender's own confirmation (its
  bubble shown as sent); p50/p95/p99/max over all of them; the recipients and the confirmations
  apart; and per message the time until the *last* member had it;
- **lost / duplicated**: every other member must get each message exactly once (counted by
  client id and by message id, and shown twice at once); every send must be confirmed; every
  message stored once (rows by client id in MariaDB);
- **server CPU** (the server processes' trees, psutil, as the load benchmark measures it) per
  delivered message (a delivery = one message shown in one recipient tab) and per message sent;
  MariaDB's and the tool's own CPU;
- **bytes per recipient per message**: the websocket frame that carries a new group message to
  a recipient tab, against the frame that carries a direct message to its recipient (median,
  mean, max; and one frame of each, var by var);
- the machine's 1-minute load average before and after each step.

``--processes 2`` runs two app processes on Redis (tabs spread over both, as the load benchmark
does); every process runs the production backend only (``reflex run --env prod --backend-only``:
protocol tabs need no frontend), with the per-user send limit lifted (bench/servers.py).
``--profile gil`` samples the first process with py-spy during each step (bench/profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bench import servers
from bench.db import BenchUser, TempDatabase, create_users
from bench.load import make_body, sent_ns
from bench.probe import PingProbe
from bench.procs import OUT, Server, mariadb_cpu, self_cpu
from bench.profile import Sampler, summarize
from bench.seed import direct_conversation
from bench.stats import fmt, percentile
from bench.tabs import ChatappTab, Tab
from bench.targets import CONNECT_CONCURRENCY, Target
from chatapp.services import groups

GROUP = "group"
DIRECT = "direct"
IDLE_S = 5.0  # drain: stop waiting when nothing arrived for this long ...
DRAIN_LIMIT_S = 300.0  # ... or after this long
SETTLE_S = 5.0  # between steps (read markers flushed, queues empty)
SAMPLED_TABS = 10  # group tabs whose frames are accounted for var by var


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class FanoutTab(ChatappTab):
    """A chatapp tab that keeps the delta of the update being read (for the var-by-var account
    of a frame)."""

    last_delta: dict[str, Any] | None = None
    sampled = False  # account for its frames var by var
    frame_no = 0  # updates received so far: which deliveries shared a frame

    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name == "event" and isinstance(data, dict):
            self.last_delta = data.get("delta") or {}
            self.frame_no += 1
        super()._on_event(name, data, size)


@dataclass
class Sent:
    kind: str  # GROUP | DIRECT
    sender: int  # tab index
    recipients: tuple[int, ...]  # tab indices that must show it


class FanoutRecorder:
    """The Sink of one step: what each tab got, when, in which frame."""

    def __init__(self) -> None:
        self.active = False
        self.reset()

    def reset(self) -> None:
        self.sent: dict[str, Sent] = {}
        self.got: Counter[tuple[int, str]] = Counter()  # (tab, cid) -> times shown live
        self.ids: Counter[tuple[int, int]] = Counter()  # (tab, message id) -> times
        self.lat: dict[str, list[float]] = {GROUP: [], DIRECT: []}  # recipients, ms
        self.last: dict[str, float] = {}  # cid -> latest delivery or confirmation so far, ms
        self.confirm: dict[str, float] = {}  # cid -> the sender's confirmation, ms
        self.sent_at: dict[str, float] = {}  # cid -> seconds into the step when it was sent
        # kind -> (tab, frame number, frame bytes) of each delivery: a frame that carries several
        # messages (the hub sends what queued up for a tab together) is shared among them.
        self.frames: dict[str, list[tuple[int, int, int]]] = {GROUP: [], DIRECT: []}
        # What the frames carrying a message are made of (a sample of tabs: JSON costs the
        # tool CPU): kind -> vars in the frame -> frames; kind -> var -> JSON bytes of each.
        self.shapes: dict[str, Counter[str]] = {GROUP: Counter(), DIRECT: Counter()}
        self.var_bytes: dict[str, dict[str, list[int]]] = {GROUP: {}, DIRECT: {}}
        self.caught_up: set[tuple[int, str]] = set()
        self.twice: set[tuple[int, str]] = set()
        self.errors: Counter[str] = Counter()
        self.arrived = 0  # deliveries + confirmations (drain progress)

    # Sink ------------------------------------------------------------------------------------
    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        cid = str(item.get("cid"))
        sent = self.sent.get(cid)
        if not self.active or sent is None:
            return  # system lines, messages of an earlier step
        now = time.time_ns()
        self.got[(tab.index, cid)] += 1
        self.ids[(tab.index, int(item.get("id") or 0))] += 1
        if self.got[(tab.index, cid)] > 1:
            return
        ms = (now - sent_ns(str(item.get("body", "")))) / 1e6
        self.lat[sent.kind].append(ms)
        self.frames[sent.kind].append((tab.index, getattr(tab, "frame_no", 0), frame_bytes))
        self.last[cid] = max(self.last.get(cid, 0.0), ms)
        self.arrived += 1
        if isinstance(tab, FanoutTab) and tab.last_delta and (sent.kind == DIRECT or tab.sampled):
            parts = _by_var(tab.last_delta)
            self.shapes[sent.kind][" + ".join(sorted(parts))] += 1
            for var, n in parts.items():
                self.var_bytes[sent.kind].setdefault(var, []).append(n)

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        cid = str(item.get("cid"))
        if not self.active or cid not in self.sent or cid in self.confirm:
            return
        ms = (time.time_ns() - sent_ns(str(item.get("body", "")))) / 1e6
        self.confirm[cid] = ms
        self.last[cid] = max(self.last.get(cid, 0.0), ms)
        self.arrived += 1

    def error(self, tab: Tab, what: str) -> None:
        if self.active:
            self.errors[what[:120]] += 1

    def recovered(self, tab: Tab, item: dict[str, Any]) -> None:
        cid = str(item.get("cid"))
        if self.active and cid in self.sent:
            self.caught_up.add((tab.index, cid))

    def shown_twice(self, tab: Tab, cid: str) -> None:
        if self.active:
            self.twice.add((tab.index, cid))

    # Counting ---------------------------------------------------------------------------------
    def expected(self) -> int:
        return sum(len(s.recipients) + 1 for s in self.sent.values())

    def lost(self, kind: str) -> int:
        return sum(
            1
            for cid, s in self.sent.items()
            if s.kind == kind
            for r in s.recipients
            if self.got[(r, cid)] == 0 and (r, cid) not in self.caught_up
        )

    def caught_up_count(self, kind: str) -> int:
        return sum(1 for _, cid in self.caught_up if self.sent[cid].kind == kind)

    def duplicated(self) -> int:
        by_id = sum(n - 1 for (_, mid), n in self.ids.items() if n > 1 and mid)
        by_cid = sum(n - 1 for n in self.got.values() if n > 1)
        return max(by_id, by_cid, len(self.twice))

    def unconfirmed(self) -> int:
        return sum(1 for cid in self.sent if cid not in self.confirm)


def _per_message(frames: list[tuple[int, int, int]]) -> list[float]:
    """Bytes per delivery: a frame's bytes divided among the messages it carried."""
    shared = Counter((tab, no) for tab, no, _ in frames)
    return [size / shared[(tab, no)] for tab, no, size in frames]


def _by_var(delta: dict[str, Any]) -> dict[str, int]:
    """JSON bytes of each var in one update (what a frame is made of), by kind of var:
    ``arrival.aNN`` (a message's slot), ``sidebar.rNN`` (a row), ``history.pNN`` (a page: the
    arrivals folded in), ``sidebar.order``..."""
    out: dict[str, int] = {}
    for state, fields in delta.items():
        short = state.rsplit(".", 1)[-1].rsplit("____", 1)[-1].removesuffix("_state")
        for var, value in fields.items():
            name = f"{short}.{re.sub(r'[0-9]+', 'NN', var.removesuffix('_rx_state_'))}"
            out[name] = out.get(name, 0) + len(json.dumps(value, separators=(",", ":")))
    return out


@dataclass
class StepFigures:
    processes: int
    members: int
    rate: float
    duration: float
    sent: int = 0
    achieved_rate: float = 0.0
    expected: int = 0  # deliveries to recipients + confirmations
    delivered: int = 0  # to recipients (first time)
    confirmed: int = 0
    p50: float = math.nan  # recipients + confirmations
    p95: float = math.nan
    p99: float = math.nan
    max: float = math.nan
    recipients_p50: float = math.nan
    recipients_p99: float = math.nan
    confirm_p50: float = math.nan
    confirm_p99: float = math.nan
    last_p50: float = math.nan  # per message: until every member had it
    last_p99: float = math.nan
    slowest: list[tuple[float, float]] = field(default_factory=list)  # (sent at s, last ms)
    last_max: float = math.nan
    lost: int = 0
    caught_up: int = 0
    duplicated: int = 0
    unconfirmed: int = 0
    not_stored: int = 0
    stored_twice: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    deliveries_per_s: float = 0.0
    server_cpu_pct: float = 0.0
    cpu_ms_per_delivery: float = math.nan
    cpu_ms_per_message: float = math.nan
    db_cpu_pct: float | None = None
    client_cpu_pct: float = 0.0
    server_rss_mb: float = 0.0
    ping_p99: float = math.nan
    crossed: int | None = None  # deliveries from a tab of one process to a tab of the other
    bytes_group_p50: float = math.nan
    bytes_group_mean: float = math.nan
    bytes_group_max: float = 0
    messages_per_frame: float = math.nan  # group messages per frame a recipient got
    direct_sent: int = 0
    direct_lost: int = 0
    direct_p50: float = math.nan
    direct_p99: float = math.nan
    bytes_direct_p50: float = math.nan
    bytes_direct_mean: float = math.nan
    bytes_direct_max: float = 0
    frame_shapes: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> vars -> n
    var_bytes_p50: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> var -> B
    load_before: float = 0.0
    load_after: float = 0.0
    seconds: float = 0.0  # sending + draining
    profile: str = ""


@dataclass
class Setup:
    target: Target
    group_tabs: list[FanoutTab]
    direct_tabs: list[FanoutTab]  # [a, b]: two members' second tabs, on their conversation
    group_id: int
    direct_id: int


async def _drive(
    tabs: list[FanoutTab],
    rec: FanoutRecorder,
    *,
    kind: str,
    rate: float,
    duration: float,
    rng: random.Random,
    recipients: dict[int, tuple[int, ...]],
) -> float:
    """Send at `rate` for `duration` s from a tab chosen at random (direct: the two take turns).
    Returns the achieved rate."""
    total = max(1, int(rate * duration))
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tab = rng.choice(tabs) if kind == GROUP else tabs[i % len(tabs)]
        cid = secrets.token_hex(16)
        rec.sent[cid] = Sent(kind, tab.index, recipients[tab.index])
        rec.sent_at[cid] = time.perf_counter() - start
        try:
            tab.send(make_body(cid), cid)
        except ConnectionError as exc:
            rec.error(tab, f"send on a closed socket: {exc}")
    await asyncio.sleep(max(0.0, start + total / rate - time.perf_counter()))
    return total / (time.perf_counter() - start)


async def _drain(rec: FanoutRecorder) -> None:
    deadline = time.monotonic() + DRAIN_LIMIT_S
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if rec.arrived >= rec.expected():
            return
        if rec.arrived != last:
            last, since = rec.arrived, time.monotonic()
        elif time.monotonic() - since > IDLE_S:
            return
        await asyncio.sleep(0.05)


async def run_step(setup: Setup, rec: FanoutRecorder, args: Any, rate: float) -> StepFigures:
    target = setup.target
    members = len(setup.group_tabs)
    fig = StepFigures(args.processes, members, rate, args.duration)
    all_group = tuple(t.index for t in setup.group_tabs)
    to_group = {i: tuple(j for j in all_group if j != i) for i in all_group}
    a, b = setup.direct_tabs
    to_direct = {a.index: (b.index,), b.index: (a.index,)}
    rng = random.Random(args.seed + int(rate * 1000))
    rec.reset()
    rec.active = True
    fig.load_before = os.getloadavg()[0]
    sampler = None
    if args.profile:
        pids = [pid for s in target.servers for pid in s.worker_pids()]
        extra = ("--gil",) if args.profile == "gil" else ()
        label = f"group-p{args.processes}-{members}m-{rate:g}r-{int(time.time())}-{args.profile}"
        sampler = Sampler(pids[0], label, args.duration, extra) if pids else None
    usage0, client0, db0 = target.usage(), self_cpu(), mariadb_cpu()
    probe = PingProbe(target.servers[0].port)
    probe.start()
    t0 = time.monotonic()
    jobs = [
        _drive(
            setup.group_tabs,
            rec,
            kind=GROUP,
            rate=rate,
            duration=args.duration,
            rng=rng,
            recipients=to_group,
        )
    ]
    if args.direct_rate > 0:
        jobs.append(
            _drive(
                setup.direct_tabs,
                rec,
                kind=DIRECT,
                rate=args.direct_rate,
                duration=args.duration,
                rng=rng,
                recipients=to_direct,
            )
        )
    achieved = await asyncio.gather(*jobs)
    await _drain(rec)
    wall = time.monotonic() - t0
    pings = await probe.stop()
    usage1, client1, db1 = target.usage(), self_cpu(), mariadb_cpu()
    rec.active = False
    fig.load_after = os.getloadavg()[0]
    if sampler is not None and (path := await sampler.wait()) is not None:
        fig.profile = str(path)

    group_cids = [c for c, s in rec.sent.items() if s.kind == GROUP]
    direct_cids = [c for c, s in rec.sent.items() if s.kind == DIRECT]
    fig.seconds = wall
    fig.sent = len(group_cids)
    fig.achieved_rate = achieved[0]
    fig.expected = sum(len(rec.sent[c].recipients) + 1 for c in group_cids)
    fig.delivered = len(rec.lat[GROUP])
    fig.confirmed = sum(1 for c in group_cids if c in rec.confirm)
    confirms = [rec.confirm[c] for c in group_cids if c in rec.confirm]
    every = rec.lat[GROUP] + confirms
    fig.p50, fig.p95, fig.p99 = (percentile(every, q) for q in (50, 95, 99))
    fig.max = max(every, default=math.nan)
    fig.recipients_p50 = percentile(rec.lat[GROUP], 50)
    fig.recipients_p99 = percentile(rec.lat[GROUP], 99)
    fig.confirm_p50, fig.confirm_p99 = percentile(confirms, 50), percentile(confirms, 99)
    # Time until every member had it: only for messages that reached everyone (else lost).
    complete = [
        rec.last[c]
        for c in group_cids
        if c in rec.confirm and all(rec.got[(r, c)] for r in rec.sent[c].recipients)
    ]
    fig.last_p50, fig.last_p99 = percentile(complete, 50), percentile(complete, 99)
    fig.last_max = max(complete, default=math.nan)
    # The slowest messages and when they were sent (a tail that recurs every few seconds points
    # at periodic work: the read markers' flush every 2 s, a garbage collection).
    whole = [c for c in group_cids if c in rec.confirm and c in rec.sent_at]
    fig.slowest = [
        (round(rec.sent_at[c], 2), round(rec.last[c], 1))
        for c in sorted(whole, key=lambda c: rec.last[c], reverse=True)[:6]
    ]
    fig.lost = rec.lost(GROUP)
    fig.caught_up = rec.caught_up_count(GROUP)
    fig.duplicated = rec.duplicated()
    fig.unconfirmed = rec.unconfirmed()
    fig.errors = dict(rec.errors)
    deliveries = len(rec.lat[GROUP]) + len(rec.lat[DIRECT])
    fig.deliveries_per_s = len(rec.lat[GROUP]) / wall
    cpu_s = usage1.cpu_s - usage0.cpu_s
    fig.server_cpu_pct = 100 * cpu_s / wall
    fig.cpu_ms_per_delivery = 1000 * cpu_s / deliveries if deliveries else math.nan
    fig.cpu_ms_per_message = 1000 * cpu_s / len(rec.sent) if rec.sent else math.nan
    fig.client_cpu_pct = 100 * (client1 - client0) / wall
    if db0 is not None and db1 is not None and db1 >= db0:  # (not restarted meanwhile)
        fig.db_cpu_pct = 100 * (db1 - db0) / wall
    fig.server_rss_mb = usage1.rss / 2**20
    fig.ping_p99 = percentile(pings, 99)
    if probe.reconnects:
        fig.errors["/ping connection closed by the server (idle timeout)"] = probe.reconnects
    if len(set(target.placement.values())) > 1:
        where = target.placement
        fig.crossed = sum(
            1
            for (tab, cid), n in rec.got.items()
            if n and cid in rec.sent and where.get(rec.sent[cid].sender) != where.get(tab)
        )
    g, d = _per_message(rec.frames[GROUP]), _per_message(rec.frames[DIRECT])
    fig.messages_per_frame = len(rec.frames[GROUP]) / max(
        1, len({f[:2] for f in rec.frames[GROUP]})
    )
    fig.bytes_group_p50 = percentile(g, 50)
    fig.bytes_group_mean = statistics.fmean(g) if g else math.nan
    fig.bytes_group_max = max(g, default=0)
    fig.direct_sent = len(direct_cids)
    fig.direct_lost = rec.lost(DIRECT) + sum(1 for c in direct_cids if c not in rec.confirm)
    fig.direct_p50 = percentile(rec.lat[DIRECT], 50)
    fig.direct_p99 = percentile(rec.lat[DIRECT], 99)
    fig.bytes_direct_p50 = percentile(d, 50)
    fig.bytes_direct_mean = statistics.fmean(d) if d else math.nan
    fig.bytes_direct_max = max(d, default=0)
    fig.frame_shapes = {k: dict(v.most_common()) for k, v in rec.shapes.items()}
    fig.var_bytes_p50 = {
        k: {var: statistics.median(ns) for var, ns in v.items()} for k, v in rec.var_bytes.items()
    }
    closed = sum(1 for t in target.tabs if t.client.closed)
    if closed:
        fig.errors["tabs disconnected"] = closed
    check = target.storage_check(list(rec.sent))
    if check is not None:
        fig.not_stored, fig.stored_twice = check
    return fig


# Setting up ----------------------------------------------------------------------------------
def make_group(engine: Any, users: list[BenchUser]) -> int:
    """The group, made through the service layer: users[0] owns it, everyone else a member."""
    with Session(engine) as s:
        out = groups.create_group(
            session=s,
            user_id=users[0].id,
            name="Bench group",
            member_ids=[u.id for u in users[1:]],
        )
        s.commit()
    return out.id


async def connect(
    srvs: list[Server], engine: Any, users: list[BenchUser], rec: FanoutRecorder
) -> Setup:
    group_id = await asyncio.to_thread(make_group, engine, users)
    a, b = users[1], users[2]
    direct_id = await asyncio.to_thread(direct_conversation, engine, a.id, b.id)
    target = Target(name="chatapp", servers=srvs, kind=FanoutTab, engine=engine)
    n = len(users)
    group_tabs = [
        FanoutTab(index=i, user=u, peer=users[(i + 1) % n], port=target.port_for(i), sink=rec)
        for i, u in enumerate(users)
    ]
    for tab in group_tabs[:: max(1, n // SAMPLED_TABS)]:
        tab.sampled = True
    direct_tabs = [
        FanoutTab(index=n + k, user=u, peer=p, port=target.port_for(n + k), sink=rec)
        for k, (u, p) in enumerate(((a, b), (b, a)))
    ]
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(tab: FanoutTab, conv: int) -> None:
        async with sem:
            await tab.connect()
            await tab.open_conversation_id(conv)

    t0 = time.monotonic()
    await asyncio.gather(*(one(t, group_id) for t in group_tabs))
    log(f"[group] {n} tabs connected, group {group_id} open, in {time.monotonic() - t0:.1f} s")
    await asyncio.gather(*(one(t, direct_id) for t in direct_tabs))
    target.tabs = [*group_tabs, *direct_tabs]
    await asyncio.sleep(2.0)  # presence fan-out, the read markers of the opening
    target.locate()
    if len(srvs) > 1:
        log(f"[group] tabs per server process (pid: tabs): {target.spread()}")
    return Setup(target, group_tabs, direct_tabs, group_id, direct_id)


def start_servers(args: Any, db_url: str) -> list[Server]:
    redis = args.redis_url if args.processes > 1 else ""
    started: list[Server] = []
    try:
        for i in range(args.processes):
            srv = servers.chatapp(
                database_url=db_url,
                jwt_secret=os.environ["JWT_SECRET"],
                redis_url=redis,
                backend_only=True,  # protocol tabs: no frontend needed
                name=f"group-chatapp{i + 1}",
            )
            log(f"[group] starting {' '.join(srv.cmd[3:])} (log: {srv.log_path})")
            srv.start()
            started.append(srv)
    except BaseException:
        for s in started:
            s.stop()
        raise
    return started


# Reporting -----------------------------------------------------------------------------------
HEADER = (
    "| processes | members | msg/s | sent/s | deliveries/s | p50 ms | p99 ms | max ms "
    "| last member p50 / p99 ms | lost | dup | unconfirmed | server CPU % | CPU ms / delivery "
    "| B / recipient: group (median) | direct (median) | direct p50 / p99 ms "
    "| load before → after |"
)
RULE = "|" + "---|" * 18


def row(f: StepFigures) -> str:
    return (
        f"| {f.processes} | {f.members} | {fmt(f.rate, 0)} | {fmt(f.achieved_rate)} "
        f"| {fmt(f.deliveries_per_s, 0)} | {fmt(f.p50)} | {fmt(f.p99)} | {fmt(f.max)} "
        f"| {fmt(f.last_p50)} / {fmt(f.last_p99)} | {f.lost} | {f.duplicated} | {f.unconfirmed} "
        f"| {fmt(f.server_cpu_pct, 0)} | {fmt(f.cpu_ms_per_delivery, 2)} "
        f"| {fmt(f.bytes_group_p50, 0)} | {fmt(f.bytes_direct_p50, 0)} "
        f"| {fmt(f.direct_p50)} / {fmt(f.direct_p99)} "
        f"| {f.load_before:.2f} → {f.load_after:.2f} |"
    )


def details(f: StepFigures) -> list[str]:
    out = [
        f"  {fmt(f.rate, 0)}/s: sent {f.sent}, expected {f.expected} (deliveries + confirmations),"
        f" delivered {f.delivered} live + {f.caught_up} by catch-up, confirmed {f.confirmed};"
        f" recipients p50 {fmt(f.recipients_p50)} p99 {fmt(f.recipients_p99)} ms, confirmation"
        f" p50 {fmt(f.confirm_p50)} p99 {fmt(f.confirm_p99)} ms; last member max"
        f" {fmt(f.last_max)} ms",
        f"  not stored {f.not_stored}, stored twice {f.stored_twice}; errors {f.errors or 0};"
        f" CPU ms / message sent {fmt(f.cpu_ms_per_message, 1)}; MariaDB CPU"
        f" {fmt(f.db_cpu_pct, 0)} %; tool CPU {fmt(f.client_cpu_pct, 0)} %; server RSS"
        f" {fmt(f.server_rss_mb, 0)} MB; /ping p99 {fmt(f.ping_p99)} ms"
        + (f"; {f.crossed} deliveries crossed processes" if f.crossed is not None else ""),
        f"  bytes per recipient per message: group median {fmt(f.bytes_group_p50, 0)} mean"
        f" {fmt(f.bytes_group_mean, 0)} max {f.bytes_group_max:.0f}"
        f" ({fmt(f.messages_per_frame, 2)} messages per frame); direct median"
        f" {fmt(f.bytes_direct_p50, 0)} mean {fmt(f.bytes_direct_mean, 0)} max"
        f" {f.bytes_direct_max:.0f} ({f.direct_sent} direct messages, {f.direct_lost} lost or"
        " unconfirmed)",
    ]
    if f.slowest:
        out.append(
            "  slowest messages (sent at s into the step: until the last member had it, ms): "
            + ", ".join(f"{at:.2f}: {ms:.0f}" for at, ms in f.slowest)
        )
    for kind, shapes in f.frame_shapes.items():
        made = "; ".join(f"{shape} ×{n}" for shape, n in shapes.items())
        sizes = ", ".join(f"{var} {n:.0f}" for var, n in f.var_bytes_p50[kind].items())
        out.append(f"  {kind} frames (a sample of tabs) carry: {made}; median JSON B: {sizes}")
    return out


def report(args: Any, figs: list[StepFigures], setup_s: float) -> None:
    from bench.run import git_describe

    print(
        f"\npython -m bench group: {args.members} members, processes {args.processes}"
        f"{' (Redis)' if args.processes > 1 else ''}; chatapp at {git_describe()};"
        f" set-up {setup_s:.0f} s"
    )
    print("\n" + HEADER + "\n" + RULE)
    for f in figs:
        print(row(f))
    print()
    for f in figs:
        print("\n".join(details(f)))
        if f.profile:
            print(f"\n  server profile at {fmt(f.rate, 0)}/s (py-spy):")
            print("\n".join("  " + line for line in summarize(Path(f.profile))))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"group-p{args.processes}-{args.members}m-{int(time.time())}.json"
    data = {"options": vars(args), "chatapp": git_describe(), "steps": [asdict(f) for f in figs]}
    path.write_text(json.dumps(data, indent=1, default=lambda o: None))
    print(f"results: {path.relative_to(OUT.parent.parent)}")
    for f in figs:
        print(
            f"group {f.members} members, {fmt(f.rate, 0)} msg/s, {f.processes} process"
            f"{'es' if f.processes > 1 else ''}: p50 {fmt(f.p50)} ms p99 {fmt(f.p99)} ms;"
            f" lost {f.lost + f.not_stored} duplicated {f.duplicated + f.stored_twice};"
            f" {fmt(f.cpu_ms_per_delivery, 2)} ms CPU / delivery; bytes / recipient group"
            f" {fmt(f.bytes_group_p50, 0)} vs direct {fmt(f.bytes_direct_p50, 0)}"
            f" (load {f.load_before:.2f} → {f.load_after:.2f})"
        )


async def amain(args: Any) -> list[StepFigures]:
    db = TempDatabase(prefix="bench_group")
    target: Target | None = None
    try:
        log(f"[group] database {db.name}")
        t0 = time.monotonic()
        users = await asyncio.to_thread(create_users, db.engine, args.members)
        srvs = await asyncio.to_thread(start_servers, args, db.url)
        rec = FanoutRecorder()
        setup = await connect(srvs, db.engine, users, rec)
        target = setup.target
        setup_s = time.monotonic() - t0
        figs = []
        for rate in args.rates:
            await asyncio.sleep(SETTLE_S)
            log(f"[group] {rate:g} messages/s into the group for {args.duration:g} s")
            f = await run_step(setup, rec, args, rate)
            log(row(f))
            figs.append(f)
        report(args, figs, setup_s)
        return figs
    finally:
        if target is not None:
            target.close()
        db.drop()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench group", description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=200, help="group members, one tab each")
    p.add_argument(
        "--rates",
        type=lambda s: [float(r) for r in s.split(",")],
        default=[5.0, 20.0],
        help="comma-separated messages/s into the group (default 5,20)",
    )
    p.add_argument("--duration", type=float, default=25.0, help="seconds of sending per rate")
    p.add_argument("--processes", type=int, default=1, help="app processes (>1 uses Redis)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    p.add_argument(
        "--direct-rate",
        type=float,
        default=1.0,
        help="messages/s in the two members' direct conversation meanwhile (0: none)",
    )
    p.add_argument("--seed", type=int, default=12, help="who sends is chosen with this seed")
    p.add_argument(
        "--profile",
        nargs="?",
        const="gil",
        choices=["threads", "gil"],
        help="py-spy the first process's worker during each step",
    )
    args = p.parse_args(argv)
    if args.members < 3:
        p.error("--members must be at least 3 (two of them also talk directly)")
    asyncio.run(amain(args))
    return 0
