"""Read markers for messages that arrive in an open conversation, written in batches.

Marking each delivered message read at once would cost a database write per recipient per
message; at hundreds of messages a second that dominates. Marks are collected per (user,
conversation), keeping the highest id, and flushed every two seconds in one transaction (and
right before a page load reads them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chatapp.realtime import get_hub
from chatapp.services import conversations
from chatapp.state.db_call import db_call

log = logging.getLogger(__name__)
FLUSH_EVERY = 2.0


class ReadMarks:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], tuple[int, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, user_id: int, conversation_id: int, message_id: int, origin: str) -> None:
        key = (user_id, conversation_id)
        prev = self._pending.get(key)
        if prev is None or prev[0] < message_id:
            self._pending[key] = (message_id, origin)

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            try:
                await db_call(
                    conversations.mark_read_many,
                    marks=[(u, c, m) for (u, c), (m, _o) in batch.items()],
                )
            except Exception:
                # Keep them for the next flush (the database may be back by then); a newer
                # mark that arrived meanwhile wins.
                for key, (mid, origin) in batch.items():
                    prev = self._pending.get(key)
                    if prev is None or prev[0] < mid:
                        self._pending[key] = (mid, origin)
                raise
        hub = get_hub()
        for (uid, conv), (_m, origin) in batch.items():
            # The user's other tabs clear their badge too (only worth it if there are any).
            if await hub.presence.tab_count(uid) > 1:
                await hub.publish([uid], {"type": "read", "conv": conv, "origin": origin})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await self.flush()
            except Exception:
                log.exception("flushing read markers failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="chatapp-read-marks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()


read_marks = ReadMarks()
