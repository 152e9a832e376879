"""One measurement step: a rate for a duration on the connected tabs, with resource usage."""

from __future__ import annotations

import os
import time

from bench import load
from bench.probe import PingProbe
from bench.procs import mariadb_cpu, self_cpu
from bench.stats import StepResult, percentile
from bench.targets import Target


async def run_step(
    target: Target, rec: load.Recorder, *, rate: float, duration: float, body_bytes: int
) -> StepResult:
    tabs = [t for t in target.tabs if not t.client.closed]
    rec.reset()
    usage0, client0, db0 = target.usage(), self_cpu(), mariadb_cpu()
    probe = PingProbe(target.servers[0].port)
    probe.start()
    t0, wall0 = time.monotonic(), time.time()
    achieved = await load.drive(tabs, rec, rate=rate, duration=duration, body_bytes=body_bytes)
    await load.drain(rec)
    wall = time.monotonic() - t0
    pings = await probe.stop()
    load1 = os.getloadavg()[0]
    usage1, client1, db1 = target.usage(), self_cpu(), mariadb_cpu()
    rec.active = False

    lat = rec.latencies_ms
    res = StepResult(
        target=target.name,
        users=len(target.tabs),
        rate=rate,
        duration=duration,
        sent=len(rec.sent),
        achieved_rate=achieved,
        delivered=len(lat),
        delivered_rate=len(lat) / wall,
        p50=percentile(lat, 50),
        p95=percentile(lat, 95),
        p99=percentile(lat, 99),
        max=max(lat) if lat else float("nan"),
        confirm_p50=percentile(rec.confirm_ms, 50),
        confirm_p99=percentile(rec.confirm_ms, 99),
        lost=rec.missing(),
        duplicated=rec.duplicated(),
        errors=dict(rec.errors),
        frame_bytes_p50=percentile([float(b) for b in rec.frame_bytes], 50),
        server_cpu_pct=100 * (usage1.cpu_s - usage0.cpu_s) / wall,
        server_rss_mb=usage1.rss / 2**20,
        client_cpu_pct=100 * (client1 - client0) / wall,
        loadavg=load1,
        t_start=wall0,
        t_end=time.time(),
        ping_p50=percentile(pings, 50),
        ping_p99=percentile(pings, 99),
        db_cpu_pct=100 * (db1 - db0) / wall if db0 is not None and db1 is not None else None,
    )
    if len(set(target.placement.values())) > 1:
        res.crossed = sum(
            1
            for (tab, cid), n in rec.got.items()
            if n
            and target.placement.get(rec.sent.get(cid, (tab, tab))[0]) != target.placement.get(tab)
        )
    if closed := len(target.tabs) - len(tabs):
        res.errors["tabs disconnected before the step"] = closed
    check = target.storage_check(list(rec.sent))
    if check is not None:
        res.not_stored, res.stored_twice = check
    return res
