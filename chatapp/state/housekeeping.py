"""Scheduled clean-up, run by every worker (each step is idempotent, so several workers or
processes running it at once only repeat a little work):

* log-in sessions past their expiry, and revoked ones after an hour (services/accounts.py);
* uploads never attached to a message or a profile after ORPHAN_UPLOAD_GRACE_HOURS, files
  first (in a thread, no database connection held), then rows (services/media.py).

Started and stopped by the app's lifespan (state/bridge.py), every HOUSEKEEPING_MINUTES.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from chatapp.services import accounts, media
from chatapp.settings import get_settings
from chatapp.state.db_call import db_call
from chatapp.storage import get_storage

log = logging.getLogger(__name__)
BATCH = 200


class RunCounter:
    """How many runs have finished; awaitable (tests wait for a run instead of sleeping)."""

    def __init__(self) -> None:
        self.value = 0
        self._changed = asyncio.Condition()

    async def bump(self) -> None:
        async with self._changed:
            self.value += 1
            self._changed.notify_all()

    async def wait_for(self, n: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.value >= n)


class Housekeeping:
    def __init__(self, *, interval: float, first_delay: float = 30.0) -> None:
        self.interval = interval
        self.first_delay = first_delay  # let the app finish starting first
        self.runs = RunCounter()
        self.last: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="chatapp-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> dict[str, int]:
        s = get_settings()
        sessions = await db_call(accounts.purge_expired_sessions)
        grace = timedelta(hours=s.orphan_upload_grace_hours)
        storage = get_storage()
        uploads = 0
        while True:
            orphans = await db_call(media.find_orphans, older_than=grace, limit=BATCH)
            if not orphans:
                break
            await asyncio.to_thread(media.delete_orphan_files, orphans=orphans, storage=storage)
            uploads += await db_call(
                media.forget_orphans, ids=[o.id for o in orphans], older_than=grace
            )
            if len(orphans) < BATCH:
                break
        return {"sessions": sessions, "uploads": uploads}

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                self.last = await self.run_once()
                if any(self.last.values()):
                    log.info("housekeeping: %s", self.last)
            except Exception:
                log.exception("housekeeping failed; trying again at the next interval")
            await self.runs.bump()
            await asyncio.sleep(self.interval)


def from_settings() -> Housekeeping:
    return Housekeeping(interval=get_settings().housekeeping_minutes * 60.0)
