"""python -m bench [--quick | --full] [--workers N] [--processes N] ...   (load benchmark)
python -m bench wire [...]                                              (issue 3's figures)
python -m bench browser [...]              (browser CPU per message with 1,000 messages shown)
python -m bench faults [--scenario NAME ...]                            (messages under faults)
python -m bench faults --url URL --database-url DB --fault-command CMD   (the same, on a stack)
python -m bench group [--members 200] [--rates 5,20] [--duration 25] [--processes N] [--profile]
                                        (fan-out into one group, every member online: issue 12)

Run from the project root. See bench/RESULTS.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from bench import env


def _load_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--quick", action="store_true", help="100 users, 20 msg/s, 30 s (default)")
    prof.add_argument("--full", action="store_true", help="100 -> 1000 users, rising rates")
    p.add_argument("--workers", type=int, default=1, help="WORKERS (>1 uses Redis)")
    p.add_argument("--processes", type=int, default=1, help="app processes (>1 uses Redis)")
    p.add_argument("--url", default="", help="use this running chatapp instead of starting one")
    p.add_argument("--database-url", default="", help="its database (required with --url)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    p.add_argument("--redis", action="store_true", help="use Redis even with one worker")
    p.add_argument(
        "--relay-server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="ASGI server for the python-socketio relay (match chatapp's SERVER setting)",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip the two relays")
    p.add_argument(
        "--users", help="override the profile: comma-separated user steps, e.g. 200 or 500,1000"
    )
    p.add_argument("--rates", help="override the profile: comma-separated messages/s")
    p.add_argument("--duration", type=float, help="override the profile: seconds per step")
    p.add_argument("--body-bytes", type=int, default=120)
    p.add_argument(
        "--gc-log",
        action="store_true",
        help="log chatapp's garbage collections (bench/instrument) and line them up with steps",
    )
    p.add_argument(
        "--profile",
        nargs="?",
        const="threads",
        choices=["threads", "gil"],
        help="py-spy chatapp's worker during its steps (gil: only the thread holding the GIL)",
    )
    args = p.parse_args(argv)
    if args.url and not args.database_url:
        p.error("--url needs --database-url (users and sessions are made in that database)")
    return args


def gc_log_path() -> Path:
    from bench.procs import OUT

    OUT.mkdir(exist_ok=True)
    return OUT / f"gc-{int(time.time())}.log"


def load_main(argv: list[str]) -> int:
    args = _load_args(argv)
    secret = env.prepare(own_server=not args.url)
    from bench.run import FULL, QUICK, Options, Plan, run

    plan = FULL if args.full else QUICK
    if args.users or args.rates or args.duration:
        rates = [float(r) for r in args.rates.split(",")] if args.rates else plan.rates
        plan = Plan(
            name="custom",
            user_steps=[int(u) for u in args.users.split(",")] if args.users else plan.user_steps,
            rates=rates,
            duration=args.duration or plan.duration,
            # Several rates: rise until p99 passes 200 ms, as --full does.
            stop_p99_ms=FULL.stop_p99_ms if len(rates) > 1 else None,
        )
    if any(n % 2 for n in plan.user_steps):
        raise SystemExit("user counts must be even (users talk in pairs)")
    opts = Options(
        plan=plan,
        workers=args.workers,
        processes=args.processes,
        url=args.url,
        database_url=args.database_url,
        redis_url=args.redis_url,
        force_redis=args.redis,
        baselines=not args.no_baselines,
        body_bytes=args.body_bytes,
        jwt_secret=secret,
        profile=args.profile or "",
        gc_log=str(gc_log_path()) if args.gc_log else "",
        relay_server=args.relay_server,
    )
    return run(opts)


def _terminate(signum: int, frame: object) -> None:
    # A background job ignores SIGINT; make SIGTERM unwind too, so servers stop and the
    # throwaway database is dropped.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    if argv[:1] == ["wire"]:
        env.prepare(own_server=True)
        from bench.wire import main as wire_main

        return wire_main(argv[1:])
    if argv[:1] == ["browser"]:
        env.prepare(own_server=True)
        from bench.browser_cpu import main as browser_main

        return browser_main(argv[1:])
    if argv[:1] == ["group"]:
        env.prepare(own_server=True)
        from bench.group import main as group_main

        return group_main(argv[1:])
    if argv[:1] == ["faults"]:
        # Against a running app (--url) the users' session tokens must be signed with its
        # JWT_SECRET, which the caller exports.
        env.prepare(own_server="--url" not in argv)
        from bench.faults import main as faults_main

        return faults_main(argv[1:])
    return load_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
