"""How responsive is the server's event loop? GET /ping every 100 ms on one keep-alive
connection during a step. If /ping is slow while the CPU is not saturated, the loop is waiting
on something (a lock, the GIL, a full thread pool), not computing."""

from __future__ import annotations

import asyncio
import contextlib
import time


class PingProbe:
    def __init__(self, port: int, interval: float = 0.1) -> None:
        self.port = port
        self.interval = interval
        self.samples_ms: list[float] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task
        return self.samples_ms

    async def _run(self) -> None:
        while True:
            try:
                await self._pings()
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed the keep-alive connection (its idle timeout, when one
                # answer came too late to count as busy): a new one, as a browser would.
                self.reconnects += 1
                await asyncio.sleep(self.interval)

    async def _pings(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        req = f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        try:
            while True:
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.samples_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(self.interval)
        finally:
            writer.close()
