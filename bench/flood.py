"""Log-in flood: anonymous tabs hammer log-in (or sign-up) while a signed-in user chats.

    python -m bench.flood [--tabs 24] [--addresses 1] [--events 10] [--hold 5] [--kind login]

Starts chatapp in production mode on a throwaway MariaDB database (bcrypt at the production
cost, 12), connects one signed-in user (and the peer they talk to) and `--tabs` anonymous
tabs spread over `--addresses` client addresses (127.0.0.x: all of 127/8 is loopback). The
user sends a message every 50 ms throughout; each anonymous tab fires `--events` log-in (or
sign-up) events at once, stays `--hold` seconds, then leaves. Printed: the p50/p99/max of the
user's send -> "sent" confirmation time before, during the flood, in the first second after
the flood's tabs left, and later; and what the flood's attempts were answered.

Issue 11's target: p99 <= 100 ms during the flood and in the second after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from bench.db import BenchUser
from bench.sio import SioClient
from bench.stats import percentile
from bench.tabs import NAMESPACE, ROOT_STATE, ChatappTab, _frontend_boot

LOGIN_STATE = f"{ROOT_STATE}.chatapp___state___auth_forms____login_state"
SIGNUP_STATE = f"{ROOT_STATE}.chatapp___state___auth_forms____signup_state"
TICKET = "ticket"  # the outcome of an attempt that logged in / signed up


class AuthTab:
    """An anonymous browser tab on /login (or /signup), speaking Reflex's protocol."""

    def __init__(self, *, port: int, local_host: str | None = None, page: str = "/login"):
        self.port = port
        self.local_host = local_host
        self.page = page
        self.token = str(uuid.uuid4())
        self.client = SioClient(namespace=NAMESPACE, on_event=self._on_event)
        self.outcomes: list[str] = []
        self._hydrated: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[str]] = []

    @property
    def router(self) -> dict[str, str]:
        return {"pathname": self.page, "asPath": self.page}

    async def connect(self) -> None:
        self._hydrated = asyncio.get_running_loop().create_future()
        hashes, schema = _frontend_boot()
        boot: dict[str, Any] = {
            "name": f"{ROOT_STATE}.hydrate_and_load",
            "router_data": self.router,
            "payload": {"vars": {}},
        }
        if hashes:
            boot["payload"]["hashes"] = hashes
        auth: dict[str, Any] = {"event": boot}
        if schema:
            auth["state_schema"] = schema
        await self.client.connect(
            "127.0.0.1",
            self.port,
            path="/_event",
            query={"token": self.token},
            headers={
                "origin": f"http://127.0.0.1:{self.port}",
                "user-agent": "chatapp-bench-flood",
            },
            subprotocols=[version("reflex")],
            auth=auth,
            local_host=self.local_host,
        )
        await asyncio.wait_for(self._hydrated, 60)

    def log_in(self, login: str, password: str) -> None:
        self._emit(f"{LOGIN_STATE}.submit", {"form": {"login": login, "password": password}})

    def sign_up(self, username: str, email: str, password: str) -> None:
        form = {"username": username, "email": email, "password": password}
        self._emit(f"{SIGNUP_STATE}.submit", {"form": form})

    def outcome(self) -> asyncio.Future[str]:
        """The answer to the next attempt that has not been awaited yet."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def close(self) -> None:
        self.client.close()

    def _emit(self, name: str, payload: dict[str, Any]) -> None:
        self.client.emit("event", {"name": name, "payload": payload, "router_data": self.router})

    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name != "event" or not isinstance(data, dict):
            return
        delta = data.get("delta") or {}
        root = delta.get(ROOT_STATE) or {}
        hydrated = root.get("is_hydrated_rx_state_") is True
        if hydrated and self._hydrated is not None and not self._hydrated.done():
            self._hydrated.set_result(None)
        if "/auth/session" in json.dumps(data.get("events") or []):
            self._done(TICKET)
            return
        for state in (LOGIN_STATE, SIGNUP_STATE):
            fields = delta.get(state) or {}
            if fields.get("busy_rx_state_") is False:
                errors = [
                    str(fields.get(f"{k}_rx_state_") or "")
                    for k in ("error", "form_error", "username_error", "email_error")
                ]
                text = " ".join(e for e in errors if e)
                if text:  # no error: a success, whose ticket comes in its own update
                    self._done(text)

    def _done(self, outcome: str) -> None:
        self.outcomes.append(outcome)
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(outcome)
                return


class _Sink:
    """Confirmation times of the sender's messages; `settled` once all sent are confirmed."""

    def __init__(self) -> None:
        self.confirmed_at: dict[str, float] = {}
        self.waiting: set[str] = set()
        self.done_sending = False
        self.settled = asyncio.Event()

    def delivered(self, tab: Any, item: dict[str, Any], frame_bytes: int) -> None: ...

    def confirmed(self, tab: Any, item: dict[str, Any]) -> None:
        cid = str(item.get("cid"))
        self.confirmed_at.setdefault(cid, time.monotonic())
        self.waiting.discard(cid)
        self.check()

    def check(self) -> None:
        if self.done_sending and not self.waiting:
            self.settled.set()

    def error(self, tab: Any, what: str) -> None: ...


@dataclass
class Window:
    name: str
    sends: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    unconfirmed: int = 0


@dataclass
class FloodResult:
    kind: str
    tabs: int
    addresses: int
    events: int
    windows: dict[str, Window] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    slowest: list[tuple[float, float]] = field(default_factory=list)  # (s after flood, ms)

    def report(self) -> str:
        lines = [
            f"{self.kind} flood: {self.tabs} tabs x {self.events} events from "
            f"{self.addresses} address(es)",
            f"  {'window':<22} {'sends':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5}",
        ]
        for w in self.windows.values():
            lines.append(
                f"  {w.name:<22} {w.sends:>5} {w.p50_ms:>8.1f} {w.p99_ms:>8.1f} "
                f"{w.max_ms:>8.1f} {w.unconfirmed:>5}"
            )
        if self.slowest:
            worst = ", ".join(f"{ms:.0f} ms at {at:+.2f} s" for at, ms in self.slowest)
            lines.append(f"  slowest sends (time after the flood began): {worst}")
        answered = sum(self.outcomes.values())
        lines.append(f"  flood attempts answered while connected: {answered}")
        for text, n in self.outcomes.most_common():
            lines.append(f"    {n:>5} x {text[:90]}")
        return "\n".join(lines)


async def flood(
    *,
    port: int,
    sender: BenchUser,
    peer: BenchUser,
    conversation: int,
    tabs: int = 24,
    addresses: list[str] | None = None,
    events: int = 10,
    hold: float = 5.0,
    before: float = 2.0,
    after: float = 3.0,
    interval: float = 0.05,
    kind: str = "login",
    settle_timeout: float = 90.0,
) -> FloodResult:
    """Run one flood against the chatapp on 127.0.0.1:`port`; see the module docstring."""
    addresses = addresses or ["127.0.0.2"]
    sink = _Sink()
    me = ChatappTab(index=0, user=sender, peer=peer, port=port, sink=sink)  # type: ignore[arg-type]
    await me.connect()
    opened = me.expect(lambda op: op.get("t") == "msgs_reset")
    me.emit("open_conversation", {"conversation_id": conversation})
    await asyncio.wait_for(opened, 60)
    me.conv = conversation
    attackers = [
        AuthTab(port=port, local_host=addresses[i % len(addresses)], page=f"/{kind}")
        for i in range(tabs)
    ]
    await asyncio.gather(*(t.connect() for t in attackers))

    sent_at: dict[str, float] = {}
    stop = asyncio.Event()

    async def chat() -> None:
        n = 0
        while not stop.is_set():
            cid = f"flood-{secrets.token_hex(6)}-{n}"
            sent_at[cid] = time.monotonic()
            sink.waiting.add(cid)
            me.send(f"message {n} while the server is under a log-in flood", cid)
            n += 1
            await asyncio.sleep(interval)

    sender_task = asyncio.create_task(chat())
    await asyncio.sleep(before)
    t_flood = time.monotonic()
    for t in attackers:
        for _ in range(events):
            if kind == "signup":
                name = f"fl{secrets.token_hex(5)}"
                t.sign_up(name, f"{name}@flood.example", "flood-password-1")
            else:
                t.log_in(f"nobody{secrets.token_hex(4)}", "wrong-password-1")
    await asyncio.sleep(hold)
    outcomes = Counter(o for t in attackers for o in t.outcomes)
    for t in attackers:
        t.close()
    t_left = time.monotonic()
    await asyncio.sleep(after)
    stop.set()
    await sender_task
    t_end = time.monotonic()
    # Wait (bounded) for every send to be confirmed: on an overloaded server they arrive late.
    sink.done_sending = True
    sink.check()
    try:
        await asyncio.wait_for(sink.settled.wait(), settle_timeout)
    except TimeoutError:
        pass  # counted as unconfirmed below
    me.close()

    spans = {
        "before": (0.0, t_flood),
        "during": (t_flood, t_left),
        "first second after": (t_left, t_left + 1.0),
        "later": (t_left + 1.0, t_end),
    }
    result = FloodResult(kind, tabs, len(set(addresses)), events, outcomes=outcomes)
    late = sorted(
        (
            (t - t_flood, (sink.confirmed_at.get(c, math.inf) - t) * 1000)
            for c, t in sent_at.items()
        ),
        key=lambda x: -x[1],
    )
    result.slowest = late[:5]
    for name, (lo, hi) in spans.items():
        cids = [c for c, t in sent_at.items() if lo <= t < hi]
        lat = [(sink.confirmed_at[c] - sent_at[c]) * 1000 for c in cids if c in sink.confirmed_at]
        w = Window(name, sends=len(cids), unconfirmed=len(cids) - len(lat))
        if lat:
            # An unconfirmed send counts as infinitely late.
            full = lat + [math.inf] * w.unconfirmed
            w.p50_ms, w.p99_ms, w.max_ms = percentile(full, 50), percentile(full, 99), max(full)
        result.windows[name] = w
    return result


def open_conversation(engine: Any, a: BenchUser, b: BenchUser) -> int:
    """The direct conversation of `a` and `b` (made through the service layer)."""
    from sqlmodel import Session

    from chatapp.services import conversations

    with Session(engine) as s:
        conv = conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        s.commit()
    return int(conv)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.split("\n")[0])
    p.add_argument("--tabs", type=int, default=24)
    p.add_argument("--addresses", type=int, default=1, help="client addresses 127.0.0.2, .3, ...")
    p.add_argument("--events", type=int, default=10, help="attempts per tab")
    p.add_argument("--hold", type=float, default=5.0, help="seconds the flood's tabs stay")
    p.add_argument("--kind", choices=["login", "signup"], default="login")
    p.add_argument("--url", default="", help="use this running chatapp (port only)")
    p.add_argument("--database-url", default="", help="its database (required with --url)")
    args = p.parse_args(argv)

    from bench import env

    env.prepare(own_server=not args.url)
    from bench.db import TempDatabase, create_users
    from bench.servers import chatapp
    from chatapp.db import make_engine

    db = None
    server = None
    try:
        if args.url:
            port = int(args.url.rsplit(":", 1)[-1].strip("/"))
            engine = make_engine(args.database_url)
        else:
            db = TempDatabase(prefix="bench_flood")
            engine = db.engine
            server = chatapp(database_url=db.url, jwt_secret=os.environ["JWT_SECRET"])
            # The production bcrypt cost for the server (users are made at cost 4 here).
            server.env["BCRYPT_ROUNDS"] = "12"
            server.start()
            port = server.port
        sender, peer = create_users(engine, 2, start=secrets.randbelow(90000) + 10000)
        conversation = open_conversation(engine, sender, peer)
        addresses = [f"127.0.0.{2 + i}" for i in range(args.addresses)]
        result = asyncio.run(
            flood(
                port=port,
                sender=sender,
                peer=peer,
                conversation=conversation,
                tabs=args.tabs,
                addresses=addresses,
                events=args.events,
                hold=args.hold,
                kind=args.kind,
            )
        )
        print(result.report())
    finally:
        if server is not None:
            server.stop()
        if db is not None:
            db.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
