"""The load benchmark: chatapp and the two relays under the same client load, step by step."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import servers
from bench.db import BenchUser, TempDatabase, create_users
from bench.load import Recorder
from bench.procs import OUT, Server, attach
from bench.profile import Sampler, summarize
from bench.stats import HEADER, RULE, StepResult, final_line, fmt, row
from bench.step import run_step
from bench.targets import ConnectReport, Target, chatapp, relay


@dataclass(frozen=True)
class Plan:
    name: str
    user_steps: list[int]
    rates: list[float]
    duration: float
    stop_p99_ms: float | None = None  # rising rates stop past this p99: the capacity


QUICK = Plan("quick", [100], [20.0], 30.0)
FULL = Plan(
    "full",
    [100, 250, 500, 1000],
    [20, 40, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500],
    20.0,
    stop_p99_ms=200.0,
)


@dataclass
class Options:
    plan: Plan
    workers: int = 1
    processes: int = 1
    url: str = ""  # an already running chatapp (needs database_url)
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/7"
    force_redis: bool = False  # use Redis even with one worker in one process
    baselines: bool = True
    body_bytes: int = 120
    jwt_secret: str = ""
    gc_log: str = ""  # file the chatapp servers log their garbage collections to
    relay_server: str = "uvicorn"  # ASGI server of the python-socketio relay
    profile: str = ""  # "threads" | "gil": py-spy the first chatapp worker in every step


@dataclass
class TargetRun:
    name: str
    connects: list[ConnectReport] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    profiles: dict[int, str] = field(default_factory=dict)  # step index -> collapsed stacks


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def exercise(
    target: Target,
    users: list[BenchUser],
    opts: Options,
    grid: dict[int, list[float]] | None,
) -> TargetRun:
    """Connect step by step; at each user count, run the rates (rising until p99 passes the
    plan's limit, or exactly the rates in `grid`, which the relays take from chatapp's run)."""
    out = TargetRun(target.name)
    rec = Recorder(active=False)
    for n in opts.plan.user_steps:
        rep = await target.connect(users[:n], rec)
        out.connects.append(rep)
        log(
            f"[{target.name}] +{rep.users} tabs ({n} total) in {rep.seconds:.1f} s, "
            f"{rep.failed} failed, RSS {rep.rss_after / 2**20:.0f} MB "
            f"({rep.rss_per_user / 1024:.0f} KB per tab)"
        )
        if target.is_chatapp and (opts.workers > 1 or opts.processes > 1):
            log(f"[{target.name}] tabs per server process (pid: tabs): {target.spread()}")
        rates = grid[n] if grid is not None else opts.plan.rates
        limit = opts.plan.stop_p99_ms
        for rate in rates:
            res = await _step(target, rec, opts, out, n, rate)
            if grid is None and limit is not None and not res.p99 <= limit:
                # The machine is shared: one stall elsewhere can spoil a step's p99. Only a
                # second failure at the same rate ends the climb.
                log(f"[{target.name}] p99 above {limit:.0f} ms: repeating {rate:g}/s once")
                res = await _step(target, rec, opts, out, n, rate)
                if not res.p99 <= limit:
                    break
    return out


async def _step(
    target: Target, rec: Recorder, opts: Options, out: TargetRun, users: int, rate: float
) -> StepResult:
    sampler = _sampler(target, opts, f"{opts.plan.name}-{users}u-{rate:g}r-{len(out.steps)}")
    res = await run_step(
        target, rec, rate=rate, duration=opts.plan.duration, body_bytes=opts.body_bytes
    )
    if sampler is not None and (path := await sampler.wait()) is not None:
        out.profiles[len(out.steps)] = str(path)
    out.steps.append(res)
    log(row(res) + (f" errors: {res.errors}" if res.errors else ""))
    return res


def _sampler(target: Target, opts: Options, label: str) -> Sampler | None:
    if not (opts.profile and target.is_chatapp):
        return None
    pids = [pid for s in target.servers for pid in s.worker_pids()]
    extra = ("--gil",) if opts.profile == "gil" else ()
    return Sampler(pids[0], f"{label}-{opts.profile}", opts.plan.duration, extra) if pids else None


def _start_chatapp(opts: Options, db_url: str) -> list[Server]:
    if opts.url:
        return [attach(opts.url)]
    scaled = opts.workers > 1 or opts.processes > 1 or opts.force_redis
    redis = opts.redis_url if scaled else ""
    started: list[Server] = []
    try:
        for i in range(opts.processes):
            srv = servers.chatapp(
                database_url=db_url,
                jwt_secret=opts.jwt_secret,
                workers=opts.workers,
                redis_url=redis,
                backend_only=i > 0,  # .web is built by the first one; don't rebuild it twice
                name=f"chatapp{i + 1}",
                gc_log=opts.gc_log,
            )
            log(f"[chatapp] starting {' '.join(srv.cmd[3:])} (log: {srv.log_path})")
            srv.start()
            started.append(srv)
    except BaseException:
        for s in started:
            s.stop()
        raise
    return started


async def run_chatapp(opts: Options) -> tuple[TargetRun, dict[int, list[float]]]:
    db: TempDatabase | None = None
    target: Target | None = None
    try:
        if opts.url:
            import sqlalchemy as sa

            engine = sa.create_engine(opts.database_url)
            db_url = opts.database_url
        else:
            db = TempDatabase()
            engine, db_url = db.engine, db.url
            log(f"[chatapp] database {db.name}")
        n_users = max(opts.plan.user_steps)
        t0 = time.monotonic()
        users = create_users(engine, n_users, start=_user_offset(engine))
        log(f"[chatapp] {n_users} users with sessions in {time.monotonic() - t0:.1f} s")
        target = chatapp(_start_chatapp(opts, db_url), engine)
        result = await exercise(target, users, opts, None)
        return result, relay_grid(result.steps, opts.plan.stop_p99_ms)

    finally:
        if target is not None:
            target.close()
        if db is not None:
            db.drop()


def relay_grid(steps: list[StepResult], limit: float | None) -> dict[int, list[float]]:
    """The (users, rate) points the relays repeat: every chatapp step when there is no
    capacity search; otherwise, per user count, the lowest rate and chatapp's capacity point
    (what the ratios are quoted at) -- the relays stay near 1 ms everywhere in between."""
    grid: dict[int, list[float]] = {}
    for users in dict.fromkeys(s.users for s in steps):
        rates = [s.rate for s in steps if s.users == users]
        if limit is not None:
            ok = [s.rate for s in steps if s.users == users and s.p99 <= limit]
            rates = [min(rates), *([max(ok)] if ok else [])]
        grid[users] = list(dict.fromkeys(rates))
    return grid


def _user_offset(engine: Any) -> int:
    """Against an existing database, number new users after the ones already there."""
    import sqlalchemy as sa

    with engine.connect() as c:
        return int(c.execute(sa.text("SELECT COUNT(*) FROM users")).scalar() or 0)


async def run_relay(name: str, server: Server, opts: Options, grid: dict[int, list[float]]):  # type: ignore[no-untyped-def]
    users = [BenchUser(id=i + 1, username=f"u{i}", token="") for i in range(max(grid))]
    target = relay(name, server)
    try:
        log(f"[{name}] starting (log: {server.log_path})")
        server.start()
        return await exercise(target, users, opts, grid)
    finally:
        target.close()


def headline(steps: list[StepResult], limit: float | None) -> StepResult:
    """Quick: the one step. Full: the highest rate at the most users with p99 within the limit
    (the capacity point), else the lowest rate at the most users."""
    top = max(s.users for s in steps)
    at_top = [s for s in steps if s.users == top]
    ok = [s for s in at_top if limit is None or s.p99 <= limit]
    return max(ok, key=lambda s: s.rate) if ok else min(at_top, key=lambda s: s.rate)


def same_point(run: TargetRun | None, ref: StepResult) -> StepResult | None:
    if run is None:
        return None
    for s in run.steps:
        if s.users == ref.users and s.rate == ref.rate:
            return s
    return None


async def main(opts: Options) -> int:
    chat, grid = await run_chatapp(opts)
    py = node = None
    if opts.baselines:
        py = await run_relay("py-relay", servers.python_relay(opts.relay_server), opts, grid)
        node = await run_relay("node-relay", servers.node_relay(), opts, grid)
    report(opts, chat, py, node)
    return 0


def report(opts: Options, chat: TargetRun, py: TargetRun | None, node: TargetRun | None) -> None:
    runs = [r for r in (chat, py, node) if r is not None]
    print(
        f"\nprofile {opts.plan.name}: workers {opts.workers}, processes {opts.processes}"
        f"{', Redis' if opts.force_redis else ''}; "
        f"chatapp at {git_describe()}"
    )
    print("\n| target | users | connect s | RSS per tab KB | failed |\n|---|---|---|---|---|")
    for r in runs:
        for c in r.connects:
            print(
                f"| {r.name} | +{c.users} | {c.seconds:.1f} | {c.rss_per_user / 1024:.0f} "
                f"| {c.failed} |"
            )
    print("\n" + HEADER + "\n" + RULE)
    for r in runs:
        for s in r.steps:
            print(row(s))
    ref = headline(chat.steps, opts.plan.stop_p99_ms)
    p, n = same_point(py, ref), same_point(node, ref)
    print(f"\nheadline point: {ref.users} users at {fmt(ref.rate, 0)} messages/s")
    for label, base in (("python-socketio relay", p), ("Node Socket.IO relay", n)):
        if base is not None:
            print(
                f"chatapp vs {label}: p50 ×{fmt(ref.p50 / base.p50)}, "
                f"p99 ×{fmt(ref.p99 / base.p99)} ({fmt(base.p50)} / {fmt(base.p99)} ms)"
            )
    if opts.plan.stop_p99_ms is not None:
        for users in sorted({s.users for s in chat.steps}):
            ok = [s.rate for s in chat.steps if s.users == users and s.p99 <= opts.plan.stop_p99_ms]
            cap = f"{fmt(max(ok), 0)} messages/s" if ok else "below the lowest rate"
            print(f"capacity at {users} users (p99 <= {opts.plan.stop_p99_ms:.0f} ms): {cap}")
    for s in chat.steps:
        if s.crossed is not None:
            print(
                f"{s.users} users at {fmt(s.rate, 0)}/s: {s.crossed} of {s.delivered} deliveries "
                "crossed between server processes"
            )
    lost = sum(s.lost + (s.not_stored or 0) for s in chat.steps)
    dup = sum(s.duplicated + (s.stored_twice or 0) for s in chat.steps)
    errors = sum(s.error_count for s in chat.steps) + sum(c.failed for c in chat.connects)
    print(f"chatapp errors: {errors}")
    if opts.gc_log:
        print("\n".join(gc_table(Path(opts.gc_log), chat.steps)))
    loads = [s.loadavg for r in runs for s in r.steps]
    print(f"machine 1-min load average at the end of steps: {min(loads):.1f}-{max(loads):.1f}")
    if chat.profiles:
        i = max(chat.profiles, key=lambda k: chat.steps[k].achieved_rate)
        s = chat.steps[i]
        print(f"\nserver profile at {s.users} users, {fmt(s.rate, 0)} messages/s (py-spy):")
        print("\n".join(summarize(Path(chat.profiles[i]))))
    _save(opts, runs)
    print(final_line(ref, p, n, lost, dup))


def gc_table(path: Path, steps: list[StepResult]) -> list[str]:
    """Garbage collections the chatapp processes logged during each step (--gc-log)."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            t, _pid, gen, ms, _n = line.split()
            if gen.isdigit():
                rows.append((float(t), int(gen), float(ms)))
    out = [
        "",
        "| users | rate/s | p99 ms | max ms | collections | gen-2 | longest pause ms "
        "| paused ms in total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        mine = [(g, ms) for t, g, ms in rows if s.t_start <= t <= s.t_end]
        longest = max((ms for _, ms in mine), default=0.0)
        out.append(
            f"| {s.users} | {fmt(s.rate, 0)} | {fmt(s.p99)} | {fmt(s.max)} | {len(mine)} "
            f"| {sum(1 for g, _ in mine if g == 2)} | {longest:.1f} "
            f"| {sum(ms for _, ms in mine):.0f} |"
        )
    return out


def git_describe() -> str:
    """The commit measured (the working tree may have uncommitted changes on top)."""
    import subprocess

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=OUT.parent.parent, capture_output=True, text=True)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "chatapp", "rxconfig.py")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def _save(opts: Options, runs: list[TargetRun]) -> None:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"load-{opts.plan.name}-w{opts.workers}-p{opts.processes}-{int(time.time())}.json"
    data = {
        "options": {**asdict(opts), "jwt_secret": "<redacted>"},
        "chatapp": git_describe(),
        "runs": [asdict(r) for r in runs],
    }
    path.write_text(json.dumps(data, indent=1, default=lambda o: None if o is math.nan else o))
    print(f"results: {path.relative_to(OUT.parent.parent)}")


def run(opts: Options) -> int:
    return asyncio.run(main(opts))
