"""python -m bench faults [--scenario NAME ...]: messages under faults, counted.

Each scenario starts chatapp on its own MariaDB (and Redis) instance on other ports (never the
shared ones: they are stopped, killed and restarted here), connects tabs that behave like the
browser and the person in front of it (bench/tabs.py: reconnect with back-off and the client
storage, queue sends while offline, press Retry on a failed bubble, Send again when a send was
refused), sends a bounded number of messages at a fixed rate, injects the fault mid-traffic,
waits (bounded) until everything settled, and counts:

- sent: client ids the tabs sent; stored / stored twice: rows per client id in the database;
- delivered live (an arrival slot) / by catch-up (a page written when the view was rebuilt);
- lost: sent and never stored, or stored and never shown to its recipient (live or by catch-up);
- shown twice: a message on screen twice at once in one tab; duplicated = stored twice + that;
- unconfirmed: the sender's tab never showed it as sent; left in outbox: the browser's outbox
  still holds it at the end.

The servers are the app's production backend (``reflex run --env prod --backend-only``, what
``python -m chatapp.serve`` serves without the built frontend, which these tabs do not need:
building it per port would cost minutes per scenario). Logs: bench/out/faults-*.log.

``--url URL --database-url DB --fault-command CMD`` runs one such scenario against an app that
is already running, e.g. the compose stack through its proxy (scripts/test-containers.sh
restarts one replica with ``podman restart``): the users are made in its database (export its
JWT_SECRET), the tabs connect to URL and reconnect to URL, and CMD is the fault.
``--back-within S`` also fails the run unless tabs moved and were all back within S seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench import servers
from bench.db import BenchUser, create_users, stored_counts
from bench.instances import OwnMariaDB, OwnRedis, ThrowawayDatabase
from bench.load import Recorder, drive
from bench.procs import OUT, Server
from bench.tabs import ChatappTab, Tab
from bench.targets import Target

SETTLE_LIMIT_S = 120.0  # after the traffic and the fault: at most this long for things to settle
SETTLE_IDLE_S = 15.0  # ...or until nothing changed for this long (> a person's Retry back-off)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Env:
    """What a fault acts on."""

    servers: list[Server]
    mariadb: OwnMariaDB | None  # None against a running stack (--url)
    redis: OwnRedis | None
    notes: list[str] = field(default_factory=list)
    fault_end: float = 0.0  # monotonic: the fault is over (server back, database back, ...)

    def note(self, msg: str) -> None:
        log(f"[faults] {msg}")
        self.notes.append(msg)


Fault = Callable[[Env], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fault: Fault
    users: int = 50
    rate: float = 20.0
    duration: float = 20.0  # seconds of traffic (rate × duration messages in all)
    at: float = 6.0  # the fault starts this long into the traffic
    processes: int = 1
    redis: bool = False


# Faults -----------------------------------------------------------------------------------------
async def _restart(env: Env, *, kill: bool) -> None:
    srv = env.servers[0]
    t0 = time.monotonic()
    if kill:
        srv.kill()
    else:
        await asyncio.to_thread(srv.stop)
    env.note(f"{srv.name} {'killed (-9)' if kill else 'stopped (SIGTERM)'}; restarting")
    await asyncio.to_thread(srv.start)
    env.fault_end = time.monotonic()
    env.note(f"{srv.name} answering again after {env.fault_end - t0:.1f} s")


async def kill_app(env: Env) -> None:
    await _restart(env, kill=True)


async def graceful_restart(env: Env) -> None:
    await _restart(env, kill=False)


def database_outage(seconds: float) -> Fault:
    async def outage(env: Env) -> None:
        assert env.mariadb is not None
        await asyncio.to_thread(env.mariadb.stop)
        env.note(f"MariaDB stopped for {seconds:g} s")
        await asyncio.sleep(seconds)
        await asyncio.to_thread(env.mariadb.start)
        env.fault_end = time.monotonic()
        env.note("MariaDB back (the app was not restarted)")

    return outage


async def kill_one_process(env: Env) -> None:
    victim = env.servers[-1]
    victim.kill()
    env.fault_end = time.monotonic()
    env.note(f"{victim.name} killed (-9); its tabs go to {env.servers[0].name}")


async def restart_redis_empty(env: Env) -> None:
    assert env.redis is not None
    await asyncio.to_thread(env.redis.kill)
    await asyncio.to_thread(env.redis.start)
    env.fault_end = time.monotonic()
    env.note("Redis killed and restarted empty")


def command(cmd: str) -> Fault:
    """Run a shell command as the fault (``--fault-command``), e.g. restart one replica of a
    running stack. The other replicas serve throughout, so the fault counts as over when the
    command starts: "tabs back" is the time from then until the last moved tab's view was
    rebuilt on another replica."""

    async def run(env: Env) -> None:
        env.fault_end = t0 = time.monotonic()
        env.note(f"running: {cmd}")
        proc = await asyncio.create_subprocess_shell(cmd)
        code = await proc.wait()
        env.note(f"the command exited with {code} after {time.monotonic() - t0:.1f} s")
        if code != 0:
            raise RuntimeError(f"--fault-command failed with exit code {code}: {cmd}")

    return run


SCENARIOS = [
    Scenario("kill", "kill -9 the app mid-traffic and restart it", kill_app),
    Scenario("db10", "MariaDB stopped for 10 s mid-traffic", database_outage(10), duration=25.0),
    Scenario("db40", "MariaDB stopped for 40 s mid-traffic", database_outage(40), duration=55.0),
    Scenario(
        "redis-kill",
        "two processes on Redis, kill -9 one (its tabs reconnect to the other)",
        kill_one_process,
        processes=2,
        redis=True,
    ),
    Scenario(
        "redis-restart",
        "two processes on Redis, Redis restarted empty",
        restart_redis_empty,
        processes=2,
        redis=True,
    ),
    Scenario(
        "reconnect500",
        "500 tabs reconnect after a restart (SIGTERM, as a deploy does)",
        graceful_restart,
        users=500,
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}


# Counting ---------------------------------------------------------------------------------------
class FaultRecorder(Recorder):
    """The load Recorder, plus what the sender saw confirmed."""

    def reset(self) -> None:
        super().reset()
        self.confirmed_cids: set[str] = set()

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        super().confirmed(tab, item)
        if self.active:
            self.confirmed_cids.add(str(item.get("cid")))

    def shown(self, rcpt: int, cid: str) -> bool:
        return self.got[(rcpt, cid)] > 0 or (rcpt, cid) in self.caught_up


@dataclass
class FaultResult:
    scenario: str
    title: str
    users: int
    rate: float
    duration: float
    sent: int = 0
    stored: int = 0
    stored_twice: int = 0
    live: int = 0
    caught_up: int = 0
    not_stored: int = 0
    not_shown: int = 0  # stored, never shown to its recipient
    shown_twice: int = 0
    unconfirmed: int = 0
    stuck_sending: int = 0  # stored, but its sender's tab never showed it as sent
    left_in_outbox: int = 0
    reconnects: int = 0
    queued: int = 0
    retries: int = 0
    resends: int = 0
    tabs_offline: int = 0  # tabs that ended disconnected
    back_s: float = float("nan")  # fault over -> every tab's view rebuilt (reconnects only)
    settle_s: float = 0.0  # end of traffic -> everything settled
    errors: dict[str, int] = field(default_factory=dict)
    server_errors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lost_cids: list[str] = field(default_factory=list)
    slowest_back: list[str] = field(default_factory=list)  # the last moved tab's trace
    lost_kinds: dict[str, int] = field(default_factory=dict)
    twice_cids: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.not_stored + self.not_shown

    @property
    def duplicated(self) -> int:
        return self.stored_twice + self.shown_twice

    def line(self) -> str:
        return (
            f"{self.scenario}: sent {self.sent}, stored {self.stored}, stored twice "
            f"{self.stored_twice}, delivered live {self.live}, by catch-up {self.caught_up}, "
            f"lost {self.lost}, duplicated {self.duplicated}"
        )


HEADER = (
    "| scenario | tabs | msg/s × s | sent | stored | stored twice | live | catch-up | lost "
    "| shown twice | unconfirmed | reconnects | Retry / Send again | tabs back s | settled s |"
)
RULE = "|" + "---|" * 15


def row(r: FaultResult) -> str:
    back = "–" if r.back_s != r.back_s else f"{r.back_s:.1f}"
    return (
        f"| {r.scenario} | {r.users} | {r.rate:g} × {r.duration:g} | {r.sent} | {r.stored} "
        f"| {r.stored_twice} | {r.live} | {r.caught_up} | **{r.lost}** | {r.shown_twice} "
        f"| {r.unconfirmed} | {r.reconnects} | {r.retries} / {r.resends} | {back} "
        f"| {r.settle_s:.1f} |"
    )


def _server_errors(srvs: list[Server], since: dict[str, int]) -> dict[str, int]:
    """ERROR/WARNING lines the servers logged during the scenario, by their first words."""
    out: Counter[str] = Counter()
    for s in srvs:
        with contextlib.suppress(OSError):
            text = s.log_path.read_text(errors="replace")[since.get(str(s.log_path), 0) :]
            for line in text.splitlines():
                if "ERROR" in line or "WARNING" in line or "Traceback" in line:
                    out[line.split(" - ", 1)[-1][:100]] += 1
    return dict(out.most_common(12))


def _settled(rec: FaultRecorder, counts: dict[str, int]) -> int:
    """Messages not yet stored, shown to their recipient and confirmed to their sender."""
    return sum(
        1
        for cid, (_, rcpt) in rec.sent.items()
        if not (counts.get(cid) and rec.shown(rcpt, cid) and cid in rec.confirmed_cids)
    )


async def settle(rec: FaultRecorder, target: Target) -> float:
    """Wait until every message is stored, shown and confirmed, or nothing changes for a while
    (bounded). Returns the seconds it took."""
    assert target.engine is not None
    t0 = last_change = time.monotonic()
    last = -1
    while time.monotonic() - t0 < SETTLE_LIMIT_S:
        counts = await asyncio.to_thread(stored_counts, target.engine, list(rec.sent))
        left = _settled(rec, counts)
        if left == 0:
            break
        if left != last:
            last, last_change = left, time.monotonic()
        elif time.monotonic() - last_change > SETTLE_IDLE_S:
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - t0


# Why a message was lost, from its sender's trace (bench/tabs.py) and the database.
IN_FLIGHT = "in flight: the connection closed before the server answered the send"
RAISED = "the send raised in the server (error toast, no bubble, no Retry)"
STRANDED = "pending in the outbox, never sent again"
FAILED = "failed with Retry, nobody pressed it"
NOT_SHOWN = "stored, never shown to its recipient"
UNEXPLAINED = "unexplained"


def lost_kind(cid: str, stored: int, tab: ChatappTab, shown: bool) -> str:
    """Why `cid` (sent by `tab`) was lost: one of the constants above."""
    if stored:
        return NOT_SHOWN if not shown else ""
    if tab.view.status.get(cid) == "failed":
        return FAILED
    if cid in tab.outbox():
        return STRANDED
    trace = [what for _, what in tab.trace]
    sent_at = [i for i, what in enumerate(trace) if what.startswith("emit ") and cid in what]
    if sent_at:
        for what in trace[sent_at[-1] + 1 :]:
            if what.startswith("closed:"):
                return IN_FLIGHT
            if "error toast" in what:
                return RAISED
            if cid in what:
                break
    return UNEXPLAINED


TRACE_MARKS = ("hydrate", "reconnected", "closed", "notice", "toast", "_redirect", "_set_value")


def _explain(
    cid: str, rec: FaultRecorder, counts: dict[str, int], tabs: dict[int, ChatappTab]
) -> str:
    """One lost message, as the two tabs saw it, with the sender's recent trace."""
    sender, rcpt = rec.sent[cid]
    s = tabs[sender]
    head = (
        f"{cid} (tab {sender}, token {s.token[:8]} -> tab {rcpt}): "
        f"stored {counts.get(cid, 0)}, sender's bubble {s.view.status.get(cid, 'never shown')}, "
        f"in its outbox {'yes' if cid in s.outbox() else 'no'}, "
        f"sender queued {s.queued} events offline and reconnected {s.reconnects}x, "
        f"recipient saw it {'yes' if rec.shown(rcpt, cid) else 'no'}"
    )
    t0 = s.trace[0][0] if s.trace else 0.0
    steps = [
        f"{t - t0:7.2f} {what}"
        for t, what in s.trace
        if cid in what or any(mark in what for mark in TRACE_MARKS)
    ]
    return "\n      ".join([head, "sender's trace:", *steps[-25:]])


async def measure(
    sc: Scenario, target: Target, env: Env, users: list[BenchUser], since: dict[str, int]
) -> FaultResult:
    """Connect the tabs, send while the fault happens, settle, and count."""
    assert target.engine is not None
    res = FaultResult(sc.name, sc.title, sc.users, sc.rate, sc.duration)
    srvs = target.servers
    rec = FaultRecorder(active=False)
    rec.reset()
    rec.active = False
    rep = await target.connect(users, rec)
    log(f"[faults] {sc.name}: {rep.users} tabs connected in {rep.seconds:.1f} s")
    if rep.failed:
        raise RuntimeError(f"{rep.failed} tabs failed to connect before the fault")
    rec.reset()
    tabs = target.tabs

    async def fault() -> None:
        await asyncio.sleep(sc.at)
        await sc.fault(env)

    log(f"[faults] {sc.name}: {sc.rate:g} msg/s for {sc.duration:g} s; fault at {sc.at:g} s")
    fault_task = asyncio.create_task(fault())
    await drive(tabs, rec, rate=sc.rate, duration=sc.duration)
    await fault_task
    res.settle_s = await settle(rec, target)
    rec.active = False
    # Figures.
    counts = await asyncio.to_thread(stored_counts, target.engine, list(rec.sent))
    res.sent = len(rec.sent)
    res.stored = sum(1 for c in rec.sent if counts.get(c))
    res.stored_twice = sum(n - 1 for n in counts.values() if n > 1)
    res.live = sum(1 for cid, (_, r) in rec.sent.items() if rec.got[(r, cid)] > 0)
    res.caught_up = sum(
        1
        for cid, (_, r) in rec.sent.items()
        if rec.got[(r, cid)] == 0 and (r, cid) in rec.caught_up
    )
    unstored = [c for c in rec.sent if not counts.get(c)]
    unshown = [c for c, (_, r) in rec.sent.items() if counts.get(c) and not rec.shown(r, c)]
    res.not_stored, res.not_shown = len(unstored), len(unshown)
    by_index = {t.index: t for t in tabs if isinstance(t, ChatappTab)}
    kinds: Counter[str] = Counter(
        lost_kind(c, counts.get(c, 0), by_index[rec.sent[c][0]], False) for c in unstored + unshown
    )
    res.lost_kinds = dict(kinds)
    res.lost_cids = [_explain(cid, rec, counts, by_index) for cid in (unstored + unshown)[:20]]
    twice = {cid for _, cid in rec.twice}
    res.shown_twice = len(twice)
    res.twice_cids = sorted(twice)[:20]
    res.unconfirmed = sum(1 for c in rec.sent if c not in rec.confirmed_cids)
    res.stuck_sending = sum(1 for c in rec.sent if c not in rec.confirmed_cids and counts.get(c))
    chat_tabs = [t for t in tabs if isinstance(t, ChatappTab)]
    res.left_in_outbox = sum(len(t.outbox()) for t in chat_tabs)
    res.reconnects = sum(t.reconnects for t in chat_tabs)
    res.queued = sum(t.queued for t in chat_tabs)
    res.retries = sum(t.retries for t in chat_tabs)
    res.resends = sum(t.resends for t in chat_tabs)
    res.tabs_offline = sum(1 for t in chat_tabs if t.offline)
    moved = [t.hydrated_at for t in chat_tabs if t.reconnects]
    if moved and env.fault_end:
        res.back_s = max(moved) - env.fault_end
        last = max((t for t in chat_tabs if t.reconnects), key=lambda t: t.hydrated_at)
        res.slowest_back = [
            f"{t - env.fault_end:7.2f} {what}"
            for t, what in last.trace
            if t >= env.fault_end - 1 and any(mark in what for mark in TRACE_MARKS)
        ][-30:]
    res.errors = dict(rec.errors.most_common(12))
    res.server_errors = _server_errors(srvs, since)
    res.notes = env.notes
    return res


async def run_scenario(
    sc: Scenario, mariadb: OwnMariaDB, jwt_secret: str, *, retry: bool = True
) -> FaultResult:
    rds: OwnRedis | None = None
    db: ThrowawayDatabase | None = None
    srvs: list[Server] = []
    target: Target | None = None
    try:
        if sc.redis:
            rds = OwnRedis()
            rds.start()
        db = mariadb.server().throwaway(f"faults_{sc.name.replace('-', '_')}")
        t0 = time.monotonic()
        users = await asyncio.to_thread(create_users, db.engine, sc.users)
        took = time.monotonic() - t0
        log(f"[faults] {sc.name}: database {db.name}, {sc.users} users in {took:.1f} s")
        for i in range(sc.processes):
            srv = servers.chatapp(
                database_url=db.url,
                jwt_secret=jwt_secret,
                redis_url=rds.url if rds else "",
                backend_only=True,
                name=f"faults-{sc.name}-{i + 1}",
            )
            log(f"[faults] starting {srv.name} (log: {srv.log_path})")
            await asyncio.to_thread(srv.start)
            srvs.append(srv)
        since = {str(s.log_path): s.log_path.stat().st_size for s in srvs}
        env = Env(servers=srvs, mariadb=mariadb, redis=rds)
        target = Target(
            name="chatapp",
            servers=srvs,
            kind=ChatappTab,
            engine=db.engine,
            tab_options={"reconnect": True, "retry": retry},
        )
        return await measure(sc, target, env, users, since)
    finally:
        if target is not None:
            target.close()
        else:
            for s in srvs:
                s.stop()
        if db is not None:
            with contextlib.suppress(Exception):
                db.drop()
        if rds is not None:
            rds.close()


async def run_external(
    sc: Scenario, url: str, database_url: str, *, retry: bool = True
) -> FaultResult:
    """The scenario against a running chatapp (a compose stack behind its proxy): users are made
    in its database (JWT_SECRET must be the app's), tabs connect to `url`, and a reconnecting
    tab goes back to `url` (the proxy sends it to a replica that is up)."""
    import sqlalchemy as sa

    from bench.run import _user_offset

    port = urlsplit(url).port or 80
    engine = sa.create_engine(database_url, pool_pre_ping=True)
    target: Target | None = None
    try:
        t0 = time.monotonic()
        users = await asyncio.to_thread(
            create_users, engine, sc.users, await asyncio.to_thread(_user_offset, engine)
        )
        log(f"[faults] {sc.name}: {sc.users} users in {time.monotonic() - t0:.1f} s ({url})")
        srv = Server("chatapp-external", [], {}, port)
        target = Target(
            name="chatapp",
            servers=[srv],
            kind=ChatappTab,
            engine=engine,
            tab_options={"reconnect": True, "retry": retry},
        )
        env = Env(servers=[srv], mariadb=None, redis=None)
        return await measure(sc, target, env, users, {})
    finally:
        if target is not None:
            target.close()
        engine.dispose()


def report(results: list[FaultResult]) -> None:
    print("\n" + HEADER + "\n" + RULE)
    for r in results:
        print(row(r))
    for r in results:
        print(f"\n{r.scenario} — {r.title}")
        for n in r.notes:
            print(f"  {n}")
        print(
            f"  queued while offline {r.queued}, left in outboxes {r.left_in_outbox}, "
            f"tabs offline at the end {r.tabs_offline}, stored but never shown as sent to "
            f"the sender {r.stuck_sending}"
        )
        if r.lost_kinds:
            print(f"  lost, by cause: {r.lost_kinds}")
        if r.lost_cids:
            print(f"  lost (first {len(r.lost_cids)}):")
            for line in r.lost_cids:
                print(f"    {line}")
        if r.slowest_back:
            print("  the last tab back, from the fault on (s):")
            for line in r.slowest_back:
                print(f"    {line}")
        if r.twice_cids:
            print(f"  shown twice (first {len(r.twice_cids)}): {', '.join(r.twice_cids)}")
        if r.errors:
            print(f"  tab errors: {r.errors}")
        if r.server_errors:
            print(f"  server log: {r.server_errors}")
    OUT.mkdir(exist_ok=True)
    path = OUT / f"faults-{int(time.time())}.json"
    path.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    print(f"\nresults: {path.relative_to(OUT.parent.parent)}")
    for r in results:
        print(r.line())


async def run_all(names: list[str], *, retry: bool = True) -> list[FaultResult]:
    mariadb = OwnMariaDB()
    mariadb.start()
    log(f"[faults] own MariaDB on port {mariadb.port} ({mariadb.dir})")
    out: list[FaultResult] = []
    try:
        for name in names:
            sc = BY_NAME[name]
            out.append(await run_scenario(sc, mariadb, os.environ["JWT_SECRET"], retry=retry))
            log("[faults] " + out[-1].line())
    finally:
        mariadb.close()
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__.split("\n")[0])
    p.add_argument(
        "--scenario",
        action="append",
        choices=list(BY_NAME),
        help="run only this scenario (repeatable); default: all",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios")
    ext = p.add_argument_group(
        "against a running chatapp (e.g. the compose stack: scripts/test-containers.sh)"
    )
    ext.add_argument(
        "--url", default="", help="the running app (its proxy), e.g. http://127.0.0.1:8080"
    )
    ext.add_argument("--database-url", default="", help="its database (users are made there)")
    ext.add_argument("--fault-command", default="", help="shell command run as the fault")
    ext.add_argument("--users", type=int, default=50)
    ext.add_argument("--rate", type=float, default=20.0, help="messages/s")
    ext.add_argument("--duration", type=float, default=20.0, help="seconds of traffic")
    ext.add_argument("--at", type=float, default=6.0, help="the fault starts this long in")
    ext.add_argument(
        "--back-within",
        type=float,
        default=0.0,
        help="fail unless tabs moved and were all back this many seconds after the fault",
    )
    p.add_argument(
        "--no-retry",
        action="store_true",
        help="tabs never press Retry or Send again (only reconnects and the outbox re-send)",
    )
    args = p.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:14} {s.title} ({s.users} tabs, {s.rate:g} msg/s for {s.duration:g} s)")
        return 0
    if args.url:
        if not (args.database_url and args.fault_command):
            p.error("--url needs --database-url and --fault-command")
        return external_main(args)
    for why in (OwnMariaDB.available(), OwnRedis.available()):
        if why:
            raise SystemExit(f"cannot run the fault scenarios: {why}")
    results = asyncio.run(run_all(args.scenario or list(BY_NAME), retry=not args.no_retry))
    report(results)
    return 0 if all(r.lost == 0 and r.duplicated == 0 for r in results) else 1


def external_main(args: argparse.Namespace) -> int:
    if not os.environ.get("JWT_SECRET"):
        raise SystemExit("--url: export the app's JWT_SECRET (the users' sessions are signed here)")
    sc = Scenario(
        "command",
        f"{args.fault_command!r} mid-traffic, against {args.url}",
        command(args.fault_command),
        users=args.users,
        rate=args.rate,
        duration=args.duration,
        at=args.at,
    )
    res = asyncio.run(run_external(sc, args.url, args.database_url, retry=not args.no_retry))
    report([res])
    ok = res.lost == 0 and res.duplicated == 0
    if args.back_within:
        back_ok = res.reconnects > 0 and res.back_s <= args.back_within
        print(
            f"tabs moved: {res.reconnects} reconnects, all back {res.back_s:.1f} s after the "
            f"fault began (limit {args.back_within:g} s): {'ok' if back_ok else 'FAILED'}"
        )
        ok = ok and back_ok
    return 0 if ok else 1
