"""python -m bench browser: browser CPU per new message with ~1,000 messages shown, in Chromium.

A signed-in Chromium tab opens a conversation seeded with 1,100 messages and scrolls up until
at least 1,000 are on screen; then the other person sends N messages over the websocket
protocol (bench/tabs.py), a few per second. Chromium's own counters (DevTools
``Performance.getMetrics``: TaskDuration, ScriptDuration, LayoutDuration, RecalcStyleDuration)
are read before and after; the difference divided by N is the browser's main-thread time per
message (receiving the update, React rendering it, style and layout). Works against any commit
of chatapp that has bench/tabs.py (the old JavaScript store included), so two can be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import threading
import time
from typing import Any

from bench import servers
from bench.db import TempDatabase, create_users
from bench.load import make_body
from bench.seed import direct_conversation, seed_messages
from bench.tabs import ChatappTab

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
# Scroll to the oldest end of the message list, whichever way it is laid out.
TO_TOP_JS = (
    "(() => { const e = document.getElementById('message-scroller'); if (!e) return;"
    " e.scrollTop = getComputedStyle(e).flexDirection === 'column-reverse'"
    " ? -e.scrollHeight : 0; })()"
)
TO_BOTTOM_JS = (
    "(() => { const e = document.getElementById('message-scroller'); if (!e) return;"
    " e.scrollTop = getComputedStyle(e).flexDirection === 'column-reverse'"
    " ? 0 : e.scrollHeight; })()"
)


class _Sink:
    def delivered(self, tab: Any, item: Any, frame_bytes: int) -> None: ...
    def confirmed(self, tab: Any, item: Any) -> None: ...
    def error(self, tab: Any, what: str) -> None:
        print(f"[browser] sender: {what}", file=sys.stderr)


def _metrics(cdp: Any) -> dict[str, float]:
    got = cdp.send("Performance.getMetrics")["metrics"]
    return {m["name"]: float(m["value"]) for m in got if m["name"] in METRICS}


def measure(port: int, conv: int, a_token: str, shown: int, n: int, rate: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
            headless=True,
        )
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_cookies(
            [{"name": "chatapp_session", "value": a_token, "url": f"http://127.0.0.1:{port}"}]
        )
        page = ctx.new_page()
        if os.environ.get("BENCH_DEBUG"):
            page.on(
                "console",
                lambda m: print(f"[browser] console {m.type}: {m.text[:300]}", file=sys.stderr),
            )
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_test_id("conversation-row").first.click()
        bubbles = page.get_by_test_id("message")
        bubbles.first.wait_for()
        if os.environ.get("BENCH_DEBUG"):
            page.evaluate(
                "window.__scrolls = 0; document.getElementById('message-scroller')"
                ".addEventListener('scroll', () => window.__scrolls++)"
            )
        deadline = time.monotonic() + 180
        while bubbles.count() < shown and time.monotonic() < deadline:
            page.evaluate(TO_TOP_JS)
            page.wait_for_timeout(400)
            if os.environ.get("BENCH_DEBUG"):
                pos = page.evaluate(
                    "(() => { const e = document.getElementById('message-scroller');"
                    " const b = document.getElementById('load-older');"
                    " return [e.scrollTop, e.scrollHeight, e.clientHeight, !!b,"
                    " b ? b.disabled : null]; })()"
                )
                n_scroll = page.evaluate("window.__scrolls")
                print(
                    f"[browser] shown {bubbles.count()} scroll {pos} events {n_scroll}",
                    file=sys.stderr,
                )
        loaded = bubbles.count()
        page.evaluate(TO_BOTTOM_JS)
        page.wait_for_timeout(1000)
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable")
        before = _metrics(cdp)
        t0 = time.monotonic()
        # (Playwright's sync API runs its own event loop in this thread: send from another.)
        sender = threading.Thread(target=lambda: asyncio.run(_send(port, conv, n, rate)))
        sender.start()
        sender.join()
        page.wait_for_function(
            f"document.querySelectorAll('[data-testid=message]').length >= {loaded + n}",
            timeout=120_000,
        )
        page.wait_for_timeout(500)
        after = _metrics(cdp)
        out = {
            "shown": loaded,
            "messages": n,
            "seconds": time.monotonic() - t0,
            **{k: (after[k] - before[k]) * 1000 / n for k in METRICS},
        }
        browser.close()
    return out


async def _send(port: int, conv: int, n: int, rate: float) -> None:
    sender = _SENDER["tab"]
    await sender.connect()
    await sender.open_conversation()
    for _ in range(n):
        cid = secrets.token_hex(16)
        sender.send(make_body(cid), cid)
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(0.5)
    sender.close()


_SENDER: dict[str, Any] = {}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench browser", description=__doc__)
    ap.add_argument("--shown", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--rate", type=float, default=5.0, help="messages per second")
    args = ap.parse_args(argv)
    db = TempDatabase(prefix="bench_browser")
    srv = None
    try:
        a, b = create_users(db.engine, 2)
        conv = direct_conversation(db.engine, a.id, b.id)
        seed_messages(db.engine, conv, a.id, b.id, args.shown + 100)
        srv = servers.chatapp(database_url=db.url, jwt_secret=os.environ["JWT_SECRET"])
        srv.start()
        _SENDER["tab"] = ChatappTab(index=1, user=b, peer=a, port=srv.port, sink=_Sink())
        r = measure(srv.port, conv, a.token, args.shown, args.messages, args.rate)
    finally:
        if srv is not None:
            srv.stop()
        db.drop()
    from bench.run import git_describe

    print(f"chatapp at {git_describe()}")
    print(
        f"browser main-thread ms per new message with {r['shown']} shown "
        f"({r['messages']} messages at {args.rate:g}/s): "
        + ", ".join(f"{k} {r[k]:.2f}" for k in METRICS)
    )
    return 0
