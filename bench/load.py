"""Drive tabs at a set aggregate send rate and record what arrives where, and when.

Every body carries a marker, the client id and the sender's wall-clock send time
(``bench <cid> <time_ns> xxxx…``); latency is the time from the sender's emit to the recipient
tab receiving the update that carries that message id. Counting by (tab, message id) gives
lost and duplicated deliveries; the caller checks storage by client id.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.tabs import Tab

BODY_BYTES = 120  # message body size, as in DESIGN.md §3's measurements


def make_body(cid: str, size: int = BODY_BYTES) -> str:
    head = f"bench {cid} {time.time_ns()} "
    return head + "x" * max(0, size - len(head))


def sent_ns(body: str) -> int:
    return int(body.split(" ", 3)[2])


@dataclass
class Recorder:
    """The Sink for one measurement step."""

    sent: dict[str, tuple[int, int]] = field(default_factory=dict)  # cid -> (sender, recipient)
    latencies_ms: list[float] = field(default_factory=list)
    confirm_ms: list[float] = field(default_factory=list)
    got: Counter[tuple[int, str]] = field(default_factory=Counter)  # (tab, cid) -> count
    ids: Counter[tuple[int, int]] = field(default_factory=Counter)  # (tab, msg id) -> count
    frame_bytes: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    caught_up: set[tuple[int, str]] = field(default_factory=set)  # (tab, cid) by catch-up
    twice: set[tuple[int, str]] = field(default_factory=set)  # (tab, cid) shown twice at once
    active: bool = True  # errors and deliveries outside a step are not counted

    def reset(self) -> None:
        """Start a new step (tabs keep this recorder as their sink)."""
        fresh = Recorder()
        self.__dict__.update(fresh.__dict__)

    def delivered(self, tab: Tab, item: dict[str, Any], frame_bytes: int) -> None:
        body = str(item.get("body", ""))
        if not self.active or not body.startswith("bench "):
            return
        now = time.time_ns()
        cid = str(item.get("cid"))
        self.got[(tab.index, cid)] += 1
        self.ids[(tab.index, int(item.get("id", 0)))] += 1
        if self.got[(tab.index, cid)] == 1:
            self.latencies_ms.append((now - sent_ns(body)) / 1e6)
            self.frame_bytes.append(frame_bytes)

    def confirmed(self, tab: Tab, item: dict[str, Any]) -> None:
        body = str(item.get("body", ""))
        if self.active and body.startswith("bench "):
            self.confirm_ms.append((time.time_ns() - sent_ns(body)) / 1e6)

    def error(self, tab: Tab, what: str) -> None:
        if self.active:
            self.errors[what[:120]] += 1

    def recovered(self, tab: Tab, item: dict[str, Any]) -> None:
        """Shown by a rebuilt view (a reconnect's catch-up), not live: no latency to count."""
        cid = str(item.get("cid"))
        if self.active and cid in self.sent:
            self.caught_up.add((tab.index, cid))

    def shown_twice(self, tab: Tab, cid: str) -> None:
        if self.active:
            self.twice.add((tab.index, cid))

    # Exactly-once ---------------------------------------------------------------------------------
    def missing(self) -> int:
        return sum(
            1
            for cid, (_, rcpt) in self.sent.items()
            if self.got[(rcpt, cid)] == 0 and (rcpt, cid) not in self.caught_up
        )

    def duplicated(self) -> int:
        by_id = sum(n - 1 for n in self.ids.values() if n > 1)
        by_cid = sum(n - 1 for n in self.got.values() if n > 1)
        return max(by_id, by_cid, len(self.twice))


async def drive(
    tabs: list[Tab], rec: Recorder, *, rate: float, duration: float, body_bytes: int = BODY_BYTES
) -> float:
    """Send round-robin from every tab at `rate` messages/s for `duration` s.
    Returns the achieved send rate."""
    order = list(range(len(tabs)))
    secrets.SystemRandom().shuffle(order)
    total = max(1, int(rate * duration))
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tab = tabs[order[i % len(order)]]
        cid = secrets.token_hex(16)
        peer_tab = tab.index ^ 1  # user 2k talks to user 2k+1
        rec.sent[cid] = (tab.index, peer_tab)
        try:
            tab.send(make_body(cid, body_bytes), cid)
        except ConnectionError as exc:
            rec.error(tab, f"send on a closed socket: {exc}")
    # The last message's slot ends 1/rate after it was sent.
    await asyncio.sleep(max(0.0, start + total / rate - time.perf_counter()))
    return total / (time.perf_counter() - start)


async def drain(rec: Recorder, *, idle: float = 5.0, limit: float = 60.0) -> None:
    """Wait until every expected delivery is in, or nothing arrived for `idle` s."""
    deadline = time.monotonic() + limit
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(rec.latencies_ms)
        if n >= len(rec.sent):
            return
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > idle:
            return
        await asyncio.sleep(0.05)
