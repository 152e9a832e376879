"""The per-process hub: local tabs, presence, publish/deliver."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from chatapp.observability import metrics
from chatapp.realtime.bus import Bus, LocalBus, RedisBus
from chatapp.realtime.presence import HEARTBEAT, LocalPresence, Presence, RedisPresence
from chatapp.settings import get_settings

log = logging.getLogger(__name__)

# How one event reaches one tab of this process (plugged in by the state layer).
Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]
# How several events, in publish order, reach one tab at once (one state update for all).
DeliverMany = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
# At most this many events of one tab in one update (a tab far behind catches up in steps).
MAX_BATCH = 16
# Called when presence changes: (user_id, online).
PresenceChanged = Callable[[int, bool], Awaitable[None]]


class Hub:
    def __init__(self, bus: Bus, presence: Presence) -> None:
        self.bus = bus
        self.presence = presence
        self._tabs: dict[int, set[str]] = defaultdict(set)  # user id -> tokens here
        self._owner: dict[str, int] = {}  # token -> user id
        # Tabs that found someone by search see that person's presence live (user -> tokens).
        self._watchers: dict[int, set[str]] = defaultdict(set)
        self._watching: dict[str, list[int]] = {}  # token -> users it watches
        self._deliver: Deliver | None = None
        self._deliver_many: DeliverMany | None = None
        # Events waiting for a tab (token -> events, in publish order) while its delivery task
        # runs: one task per tab at a time, which takes everything that has queued up.
        self._waiting: dict[str, list[dict[str, Any]]] = {}
        self._is_connected: Callable[[str], bool] = lambda _t: True
        self._presence_changed: PresenceChanged | None = None
        self._catch_up_all: Callable[[], Awaitable[None]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0

    def attach(
        self,
        deliver: Deliver,
        is_connected: Callable[[str], bool],
        presence_changed: PresenceChanged | None = None,
        catch_up_all: Callable[[], Awaitable[None]] | None = None,
        deliver_many: DeliverMany | None = None,
    ) -> None:
        """``deliver_many`` (optional): shows several events in one go; without it, the events
        that queued up for a tab are delivered one by one."""
        self._deliver = deliver
        self._deliver_many = deliver_many
        self._is_connected = is_connected
        self._presence_changed = presence_changed
        self._catch_up_all = catch_up_all

    # Tabs -------------------------------------------------------------------------------
    async def tab_opened(self, user_id: int, token: str) -> None:
        old = self._owner.get(token)
        if old is not None and old != user_id:
            await self.tab_closed(old, token)
        self._tabs[user_id].add(token)
        self._owner[token] = user_id
        metrics.CONNECTED_TABS.set(len(self._owner))
        if await self.presence.tab_up(user_id, token) and self._presence_changed:
            await self._presence_changed(user_id, True)

    async def tab_closed(self, user_id: int, token: str) -> None:
        user_id = self._owner.get(token, user_id)  # the tab's real owner
        self._tabs.get(user_id, set()).discard(token)
        if not self._tabs.get(user_id):
            self._tabs.pop(user_id, None)
        self._owner.pop(token, None)
        metrics.CONNECTED_TABS.set(len(self._owner))
        self.watch(token, [])
        if await self.presence.tab_down(user_id, token) and self._presence_changed:
            await self._presence_changed(user_id, False)

    def watch(self, token: str, user_ids: list[int]) -> None:
        """This tab shows these people (search results): send it their presence changes."""
        for uid in self._watching.pop(token, []):
            tokens = self._watchers.get(uid)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del self._watchers[uid]
        if user_ids and token:
            self._watching[token] = list(user_ids)
            for uid in user_ids:
                self._watchers[uid].add(token)

    def local_tabs(self, user_id: int) -> set[str]:
        return set(self._tabs.get(user_id, ()))

    def local_tab_count(self) -> int:
        return len(self._owner)

    # Events -----------------------------------------------------------------------------
    async def publish(self, user_ids: list[int], event: dict[str, Any]) -> None:
        """Send `event` to every open tab of `user_ids`, in every process. Call after commit.

        An ``origin`` key names the tab the event came from: it already shows the change and
        is skipped (one state update fewer per message for the sender's tab). ``t``, the
        publish time, is what the delivery latency metric measures from."""
        await self.bus.publish({**event, "to": sorted(set(user_ids)), "t": time.time()})

    async def _on_event(self, event: dict[str, Any]) -> None:
        if self._deliver is None:
            return
        origin = event.get("origin")
        targets: set[str] = set()
        for uid in event.get("to", ()):
            targets.update(self._tabs.get(uid, ()))
        if event.get("type") == "presence":
            targets.update(self._watchers.get(int(event.get("user", 0)), ()))
        targets.discard(origin)  # type: ignore[arg-type]
        for token in targets:
            waiting = self._waiting.get(token)
            if waiting is not None:
                waiting.append(event)  # its task is under way: it takes this one next
                continue
            # One task per tab: a slow tab never holds up the others; one tab sees its events
            # in publish order.
            self._waiting[token] = [event]
            asyncio.create_task(self._drain(token))  # noqa: RUF006

    async def _drain(self, token: str) -> None:
        """Deliver what is waiting for one tab until nothing is. Usually that is one event; when
        the process is behind (a busy group: every member's tab gets every message), the
        events that queued up for a tab meanwhile go out together: one state update, one delta
        and one frame for several messages instead of one each, so the work per message falls
        as the load rises instead of the backlog growing."""
        waiting = self._waiting[token]
        try:
            while waiting:
                batch = waiting[:MAX_BATCH]
                del waiting[:MAX_BATCH]
                await self._deliver_batch(token, batch)
        finally:
            del self._waiting[token]  # (nothing was added since the loop found it empty)

    async def _deliver_batch(self, token: str, events: list[dict[str, Any]]) -> None:
        if self._deliver is None:
            return
        if self._deliver_many is None or len(events) == 1:
            for event in events:
                try:
                    await self._deliver(token, event)
                    self.delivered += 1
                    metrics.delivered(event.get("t"))
                except Exception:
                    metrics.DELIVERY_FAILURES.inc()
                    log.exception("delivery to a tab failed")
            return
        try:
            await self._deliver_many(token, events)
            self.delivered += len(events)
            for event in events:
                metrics.delivered(event.get("t"))
        except Exception:
            metrics.DELIVERY_FAILURES.inc()
            log.exception("delivery to a tab failed")

    async def _gap(self) -> None:
        """The bus missed events (Redis went away): every tab here catches up."""
        if self._catch_up_all is None:
            return
        try:
            await self._catch_up_all()
        except Exception:
            log.exception("catching up the tabs failed")

    # Background work ----------------------------------------------------------------------
    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self.bus.run(self._on_event, self._gap), name="chatapp-bus"),
            asyncio.create_task(self._sweep(), name="chatapp-presence"),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.bus.close()

    async def _sweep(self) -> None:
        """Drop tabs whose websocket is gone; keep the others' presence fresh."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self.sweep_once()
            except Exception:
                log.exception("presence sweep failed")

    async def sweep_once(self) -> None:
        for token, uid in list(self._owner.items()):
            if not self._is_connected(token):
                await self.tab_closed(uid, token)
        await self.presence.refresh(dict(self._owner))


def make_hub(redis_url: str = "") -> Hub:
    if redis_url:
        return Hub(RedisBus(redis_url), RedisPresence(redis_url))
    return Hub(LocalBus(), LocalPresence())


@lru_cache(maxsize=1)
def get_hub() -> Hub:
    return make_hub(get_settings().redis_url)
