"""A target under test: its server processes, its kind of tab, and its connected tabs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bench.db import BenchUser, stored_counts
from bench.load import Recorder
from bench.procs import Server, Usage, total_usage
from bench.tabs import ChatappTab, RelayTab, Tab

CONNECT_CONCURRENCY = 16


@dataclass
class ConnectReport:
    users: int
    seconds: float
    rss_before: int
    rss_after: int
    failed: int

    @property
    def rss_per_user(self) -> float:
        return (self.rss_after - self.rss_before) / max(1, self.users)


@dataclass
class Target:
    name: str
    servers: list[Server]
    kind: type[Tab]
    engine: sa.Engine | None = None  # chatapp: where to count stored rows
    tabs: list[Tab] = field(default_factory=list)
    placement: dict[int, int] = field(default_factory=dict)  # tab index -> server pid
    # Extra keyword arguments for every tab (ChatappTab: reconnect=True, retry=True).
    tab_options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_chatapp(self) -> bool:
        return self.kind is ChatappTab

    def usage(self) -> Usage:
        return total_usage(self.servers)

    def port_for(self, index: int) -> int:
        """Spread tabs over the processes: with two, every pair talks across them."""
        return self.servers[index % len(self.servers)].port

    async def connect(self, users: list[BenchUser], rec: Recorder) -> ConnectReport:
        """Connect tabs for users[len(tabs):], then open each pair's conversation."""
        before = self.usage().rss
        t0 = time.monotonic()
        new: list[Tab] = []
        for i in range(len(self.tabs), len(users)):
            options = dict(self.tab_options)
            if options.get("reconnect"):
                # Where a load balancer would send the tab when its own process is gone.
                home = self.port_for(i)
                options["ports"] = [home, *(s.port for s in self.servers if s.port != home)]
            tab = self.kind(
                index=i,
                user=users[i],
                peer=users[i ^ 1],
                port=self.port_for(i),
                sink=rec,
                **options,
            )
            new.append(tab)
        sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
        failed = 0

        async def one(tab: Tab, step: str) -> bool:
            async with sem:
                try:
                    if step == "connect":
                        await tab.connect()
                    else:
                        await tab.open_conversation()
                    return True
                except (TimeoutError, ConnectionError, OSError) as exc:
                    rec.error(tab, f"{step} failed: {type(exc).__name__} {exc}")
                    return False

        ok = await asyncio.gather(*(one(t, "connect") for t in new))
        failed += ok.count(False)
        # Both members of a pair open their (new) conversation at the same moment, as two
        # people clicking each other would: a regression test for open_direct's unique-key race.
        ok = await asyncio.gather(*(one(t, "open") for t in new))
        failed += ok.count(False)
        self.tabs.extend(new)
        await asyncio.sleep(1.0)  # let presence fan-out and allocations settle
        self.locate()
        return ConnectReport(
            users=len(new),
            seconds=time.monotonic() - t0,
            rss_before=before,
            rss_after=self.usage().rss,
            failed=failed,
        )

    def locate(self) -> None:
        """Which server process holds each tab's websocket (to count deliveries that crossed
        from one worker/process to another)."""
        owners: dict[tuple[int, int], int] = {}
        for srv in self.servers:
            for client_port, pid in srv.connection_owners().items():
                owners[(srv.port, client_port)] = pid
        self.placement = {t.index: owners.get((t.port, t.client.local_port), 0) for t in self.tabs}

    def spread(self) -> dict[int, int]:
        """Server pid -> number of tabs it holds."""
        out: dict[int, int] = {}
        for pid in self.placement.values():
            out[pid] = out.get(pid, 0) + 1
        return out

    def storage_check(self, cids: list[str]) -> tuple[int, int] | None:
        """(not stored, stored more than once) for chatapp; None for the relays."""
        if self.engine is None:
            return None
        counts = stored_counts(self.engine, cids)
        missing = sum(1 for c in cids if counts.get(c, 0) == 0)
        extra = sum(n - 1 for n in counts.values() if n > 1)
        return missing, extra

    def close(self) -> None:
        for t in self.tabs:
            t.close()
        self.tabs.clear()
        for s in reversed(self.servers):
            s.stop()


def relay(name: str, server: Server) -> Target:
    return Target(name=name, servers=[server], kind=RelayTab)


def chatapp(servers: list[Server], engine: sa.Engine) -> Target:
    return Target(name="chatapp", servers=servers, kind=ChatappTab, engine=engine)
