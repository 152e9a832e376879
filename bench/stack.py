"""Check a running chatapp stack (compose.yaml) from outside, as a person and an operator would.

    python -m bench.stack check --url http://127.0.0.1:8080 --database-url DB \\
        --replica 'podman exec chatapp-test_chatapp1_1' --replica 'podman exec ..._chatapp2_1'
    python -m bench.stack metric chatapp_messages_stored_total --replica ... --replica ...

``check``, everything through the proxy at URL:

1. the page and /ping answer; /metrics is not served to the public;
2. two people sign up over the websocket (the sign-up form's event, as the page sends it) and
   trade the one-time ticket for the HttpOnly session cookie over HTTP (POST /auth/session);
3. each gets a signed-in tab, on different replicas: the second tab is connected again until
   the proxy has put it on the other replica (each replica's ``chatapp_connected_tabs`` says
   which holds it);
4. each sends the other a message, which arrives live: a delivery across the replicas;
5. the replicas' ``chatapp_messages_stored_total`` (summed) grew by those two;
6. an image uploaded through the proxy (POST /api/media) is served by every replica (the media
   volume is shared);
7. with ``--browser PATH``: a third person signs up in Chromium at URL and sees the chat page
   (the frontend bundle reaches the backend through the proxy).

``metric`` prints the sum of one metric over the replicas. Each ``--replica`` is a command
prefix that runs a program inside one replica (``docker exec NAME`` / ``podman exec NAME``):
/metrics is read there, on the replica's own port, since the proxy does not serve it.
The database URL is only used to look up the new users' ids.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench.db import BenchUser
from bench.flood import AuthTab
from bench.load import make_body
from bench.tabs import ChatappTab, Tab

PASSWORD = "stack-check-password-1"
# A connection through the proxy that is not up in CONNECT_WAIT seconds (the websocket, the
# namespace and the first hydrate) is given up and opened again, at most CONNECT_TRIES times.
CONNECT_WAIT = 30.0
CONNECT_TRIES = 3
T = TypeVar("T", "SignUpTab", ChatappTab)
# The ticket in the sign-up's answer (a script, JSON-escaped again in the event): whatever
# follows "ticket" up to the quote that opens the value. (Not \W+: a ticket may start with "-".)
TICKET_RE = re.compile(r'ticket[^A-Za-z0-9_\-]*"([A-Za-z0-9_\-]{20,})')
FETCH = (  # run inside a replica: GET argv[1] on its own port, with the cookie argv[2] if any
    "import os, sys, urllib.request, urllib.error\n"
    "url = 'http://127.0.0.1:%s%s' % (os.environ.get('PORT', '8000'), sys.argv[1])\n"
    "headers = {'Cookie': sys.argv[2]} if len(sys.argv) > 2 else {}\n"
    "try:\n"
    "    r = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)\n"
    "    status, body = r.status, r.read()\n"
    "except urllib.error.HTTPError as e:\n"
    "    status, body = e.code, e.read()\n"
    "print(status); print(len(body)); print(body.decode(errors='replace'))\n"
)


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


class Failed(Exception):
    pass


# Replicas, seen from inside ---------------------------------------------------------------------
def replica_get(prefix: str, path: str, cookie: str = "") -> tuple[int, int, str]:
    """GET `path` on the replica's own port, from inside it: (status, bytes, body as text)."""
    cmd = [*shlex.split(prefix), "python", "-c", FETCH, path, *([cookie] if cookie else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    status, size, body = out.split("\n", 2)
    return int(status), int(size), body


def metric(prefix: str, name: str) -> float:
    """The value of an unlabelled metric (counters: their ``_total`` sample) on one replica."""
    status, _, body = replica_get(prefix, "/metrics")
    if status != 200:
        raise Failed(f"/metrics answered {status} on {prefix!r}")
    total = 0.0
    for line in body.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name:
            total += float(value)
    return total


def metric_sum(replicas: list[str], name: str) -> float:
    return sum(metric(r, name) for r in replicas)


# Through the proxy --------------------------------------------------------------------------
def http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        return urllib.request.urlopen(req, timeout=15)  # noqa: S310
    except urllib.error.HTTPError as exc:
        return exc


class SignUpTab(AuthTab):
    """A tab on /signup that keeps the one-time ticket its successful sign-up answers with."""

    def __init__(self, *, port: int) -> None:
        super().__init__(port=port, page="/signup")
        self.ticket: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def _on_event(self, name: str, data: Any, size: int) -> None:
        if name == "event" and isinstance(data, dict) and not self.ticket.done():
            for event in data.get("events") or ():
                text = json.dumps(event)
                found = TICKET_RE.search(text) if "/auth/session" in text else None
                if found:
                    self.ticket.set_result(found.group(1))
                    break
        super()._on_event(name, data, size)


async def connected(make: Callable[[], T], who: str) -> T:
    """A tab from `make`, connected: a failed or hung connection is tried again with a new
    tab, as the browser's socket.io client does, at most CONNECT_TRIES times. Each failure is
    logged with how far it got, so one that keeps failing can be told apart (the proxy, the
    upgrade, or the app's namespace)."""
    for attempt in range(1, CONNECT_TRIES + 1):
        tab = make()
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(tab.connect(), CONNECT_WAIT)
        except (TimeoutError, ConnectionError, OSError) as exc:
            stage = tab.client.stage
            tab.close()
            log(
                f"{who}: connection {attempt} of {CONNECT_TRIES} failed after "
                f"{time.monotonic() - t0:.1f} s at {stage}: {exc!r}"
            )
            continue
        if attempt > 1:
            log(f"{who}: connected on attempt {attempt}, in {time.monotonic() - t0:.1f} s")
        return tab
    raise Failed(f"{who}: no connection through the proxy in {CONNECT_TRIES} tries")


async def sign_up(url: str, username: str) -> str:
    """Sign up over the websocket, redeem the ticket over HTTP: the session cookie's value."""
    port = urlsplit(url).port or 80
    tab = await connected(lambda: SignUpTab(port=port), f"{username}'s sign-up tab")
    try:
        tab.sign_up(username, f"{username}@stack.example", PASSWORD)
        try:
            ticket = await asyncio.wait_for(tab.ticket, 30)
        except TimeoutError:
            raise Failed(f"sign-up of {username} got no ticket: {tab.outcomes}") from None
    finally:
        tab.close()
    origin = f"http://127.0.0.1:{port}"
    resp = http(
        f"{url}/auth/session",
        data=json.dumps({"ticket": ticket}).encode(),
        headers={"Content-Type": "application/json", "Origin": origin},
    )
    cookie = resp.headers.get("Set-Cookie", "")
    found = re.search(r"chatapp_session=([^;]+)", cookie)
    if resp.status != 200 or not found:
        raise Failed(
            f"POST /auth/session answered {resp.status} {resp.read()[:200]!r} without the "
            f"session cookie (ticket {ticket[:8]}...)"
        )
    return found.group(1)


def user_id(database_url: str, username: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as c:
            q = sa.text("SELECT id FROM users WHERE username = :u")
            return int(c.execute(q, {"u": username}).scalar_one())
    finally:
        engine.dispose()


def upload_image(url: str, cookie: str) -> str:
    """POST a small PNG as an avatar (any signed-in person may see avatars): its media id."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 96), (70, 90, 200)).save(buf, "PNG")
    port = urlsplit(url).port or 80
    resp = http(
        f"{url}/api/media?purpose=avatar",
        data=buf.getvalue(),
        headers={
            "Content-Type": "image/png",
            "Origin": f"http://127.0.0.1:{port}",
            "Cookie": f"chatapp_session={cookie}",
        },
    )
    answer = json.loads(resp.read() or b"{}")
    if resp.status != 200 or not answer.get("ok"):
        raise Failed(f"POST /api/media answered {resp.status} {answer}")
    return str(answer["id"])


class Inbox:
    """The Sink of the two tabs: when each message arrived where."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[int, str], float] = {}
        self.errors: list[str] = []

    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        self.arrived.setdefault((tab.index, str(item.get("cid"))), time.monotonic())

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None: ...

    def error(self, tab: Tab, what: str) -> None:
        self.errors.append(f"tab {tab.index}: {what}")

    def recovered(self, tab: Tab, item: dict[str, Any]) -> None:
        self.delivered(tab, item, 0)

    def shown_twice(self, tab: Tab, cid: str) -> None:
        self.errors.append(f"tab {tab.index}: {cid} shown twice")


async def tabs_by_replica(replicas: list[str], want: int) -> list[float]:
    """Each replica's connected tabs, once they add up to `want` (at most 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        counts = [await asyncio.to_thread(metric, r, "chatapp_connected_tabs") for r in replicas]
        if sum(counts) == want or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.3)


async def pinned_tabs(
    url: str, users: list[BenchUser], replicas: list[str], inbox: Inbox
) -> tuple[list[ChatappTab], list[int]]:
    """A tab for each user, through the proxy, on different replicas."""
    port = urlsplit(url).port or 80
    a = await connected(
        lambda: ChatappTab(index=0, user=users[0], peer=users[1], port=port, sink=inbox),  # type: ignore[arg-type]
        f"{users[0].username}'s tab",
    )
    counts = await tabs_by_replica(replicas, 1)
    if sum(counts) != 1:
        raise Failed(f"connected tabs per replica {counts}, expected one in all")
    where = [counts.index(1)]
    for attempt in range(1, 11):
        b = await connected(
            lambda: ChatappTab(index=1, user=users[1], peer=users[0], port=port, sink=inbox),  # type: ignore[arg-type]
            f"{users[1].username}'s tab",
        )
        counts = await tabs_by_replica(replicas, 2)
        other = [i for i, n in enumerate(counts) if n >= 1 and i != where[0]]
        if other:
            log(f"second tab on another replica after {attempt} connection(s)")
            return [a, b], [*where, other[0]]
        b.close()
        await tabs_by_replica(replicas, 1)
    raise Failed("the proxy never put the second tab on another replica")


async def exchange(tabs: list[ChatappTab], inbox: Inbox) -> list[float]:
    """A -> B, then B -> A; milliseconds from send to arrival."""
    await asyncio.gather(*(t.open_conversation() for t in tabs))
    took = []
    for sender, rcpt in ((tabs[0], tabs[1]), (tabs[1], tabs[0])):
        cid = secrets.token_hex(16)
        t0 = time.monotonic()
        sender.send(make_body(cid), cid)
        while (rcpt.index, cid) not in inbox.arrived:
            if time.monotonic() - t0 > 15:
                raise Failed(f"a message from tab {sender.index} never reached tab {rcpt.index}")
            await asyncio.sleep(0.02)
        took.append((inbox.arrived[(rcpt.index, cid)] - t0) * 1000)
    return took


def browser_sign_up(url: str, chromium: str, username: str) -> None:
    from playwright.sync_api import sync_playwright

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page()
            page.goto(f"{url}/signup")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Email").fill(f"{username}@stack.example")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign up").click()
            page.get_by_label("Search people").wait_for(timeout=30000)
        finally:
            browser.close()


async def check(args: argparse.Namespace) -> None:
    url = args.url.rstrip("/")
    page = http(f"{url}/")
    body = page.read()
    if page.status != 200 or b"<html" not in body.lower():
        raise Failed(f"GET / answered {page.status}")
    ping = http(f"{url}/ping")
    hidden = http(f"{url}/metrics")
    if ping.status != 200 or hidden.status != 404:
        raise Failed(f"/ping answered {ping.status}, /metrics {hidden.status} (want 200, 404)")
    log(f"through the proxy: / 200 ({len(body)} bytes), /ping 200, /metrics 404")

    stored0 = metric_sum(args.replica, "chatapp_messages_stored_total")
    tag = secrets.token_hex(3)
    names = [f"alice{tag}", f"bob{tag}"]
    cookies = [await sign_up(url, n) for n in names]
    users = [
        BenchUser(id=user_id(args.database_url, n), username=n, token=c)
        for n, c in zip(names, cookies, strict=True)
    ]
    log(
        f"signed up {names[0]} and {names[1]} through the proxy "
        "(websocket sign-up event, then POST /auth/session -> HttpOnly session cookie)"
    )
    inbox = Inbox()
    tabs, where = await pinned_tabs(url, users, args.replica, inbox)
    try:
        log(f"{names[0]}'s tab on replica {where[0] + 1}, {names[1]}'s on replica {where[1] + 1}")
        took = await exchange(tabs, inbox)
        log(
            f"{names[0]} -> {names[1]} arrived live in {took[0]:.0f} ms, {names[1]} -> "
            f"{names[0]} in {took[1]:.0f} ms (replica {where[0] + 1} <-> {where[1] + 1})"
        )
    finally:
        for t in tabs:
            t.close()
    deadline = time.monotonic() + 10
    while (stored := metric_sum(args.replica, "chatapp_messages_stored_total")) < stored0 + 2:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    if stored != stored0 + 2:
        raise Failed(f"chatapp_messages_stored_total went {stored0:g} -> {stored:g}, not +2")
    log(f"/metrics: chatapp_messages_stored_total {stored0:g} -> {stored:g} (summed over replicas)")
    if inbox.errors:
        raise Failed(f"tab errors: {inbox.errors[:5]}")
    media_id = upload_image(url, cookies[0])
    sizes = []
    for i, replica in enumerate(args.replica):
        status, size, _ = replica_get(
            replica, f"/media/{media_id}/full", f"chatapp_session={cookies[1]}"
        )
        if status != 200 or not size:
            raise Failed(
                f"replica {i + 1} answered {status} for an image uploaded through the proxy"
            )
        sizes.append(size)
    if len(set(sizes)) != 1:
        raise Failed(f"the replicas serve different bytes for one image: {sizes}")
    log(
        f"an image uploaded through the proxy is served by every replica ({sizes[0]} bytes "
        "each): the media volume is shared"
    )
    if args.browser:
        t0 = time.monotonic()
        await asyncio.to_thread(browser_sign_up, url, args.browser, f"carol{tag}")
        took = time.monotonic() - t0
        log(f"Chromium signed up carol{tag} at {url} and shows the chat ({took:.1f} s)")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="sign up, exchange messages across replicas, metrics")
    c.add_argument("--url", required=True, help="the proxy, e.g. http://127.0.0.1:8080")
    c.add_argument("--database-url", required=True, help="to look up the new users' ids")
    c.add_argument("--browser", default="", help="Chromium to sign up a third person with")
    m = sub.add_parser("metric", help="print one metric summed over the replicas")
    m.add_argument("name")
    for sp in (c, m):
        sp.add_argument(
            "--replica",
            action="append",
            required=True,
            help="command prefix running a program in one replica (repeat for each)",
        )
    args = p.parse_args(argv)
    try:
        if args.cmd == "metric":
            print(f"{metric_sum(args.replica, args.name):g}")
        else:
            asyncio.run(check(args))
    except (Failed, subprocess.CalledProcessError) as exc:
        print(f"[stack] FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
