"""Connects the real-time hub to Reflex: how an event reaches one tab, and the hub's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import reflex as rx

from chatapp.gc_tuning import tune_after_startup
from chatapp.observability import logs, shutdown
from chatapp.realtime import get_hub
from chatapp.services import accounts, conversations
from chatapp.settings import get_settings
from chatapp.state import hashing, housekeeping, instrument, leases
from chatapp.state.binding import forget_user
from chatapp.state.chat import TYPING_SHOWN_S, ChatState
from chatapp.state.db_call import db_call
from chatapp.state.reads import read_marks
from chatapp.state.session import SessionState
from chatapp.wire import BusEvent, RevokedEvent, is_revoked, ms

log = logging.getLogger(__name__)


async def drop_transport(eio: Any, eio_sid: str) -> None:
    """Cut one engine.io connection without a goodbye (no CLOSE packet, which the browser would
    take as "the server does not want me" and not retry): to the browser it is a network blip,
    so it reconnects at once, rehydrates and runs on_load."""
    socket = eio.sockets.get(eio_sid)
    if socket is not None:
        await socket.close(wait=False, abort=True)
        await socket.queue.put(None)  # wakes its writer, which closes the websocket itself


def install(app: rx.App) -> None:
    hub = get_hub()

    rehydrating: set[str] = set()

    async def deliver(token: str, event: dict[str, Any]) -> None:
        await deliver_many(token, [event])

    async def deliver_many(token: str, events: list[dict[str, Any]]) -> None:
        """Show events in one tab, in order: those in a row that are not a sign-out in one
        state update (one delta, one frame: the hub hands over several when they queued up)."""
        run: list[dict[str, Any]] = []
        for event in events:
            if event["type"] == "revoked":
                if run:
                    await apply(token, run)
                    run = []
                await sign_out(token, cast(RevokedEvent, event))
            else:
                run.append(event)
        if run:
            await apply(token, run)

    async def apply(token: str, events: list[dict[str, Any]]) -> None:
        read: list[tuple[int, int]] = []  # (conversation, message id) shown on screen
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=ChatState)) as root:
            chat = await root.get_state(ChatState)
            lost = False
            if chat._uid:
                for event in events:
                    try:
                        mark_conv = await chat._apply_event(cast(BusEvent, event))
                    except Exception:
                        # (one event that cannot be shown does not cost the tab the others)
                        log.exception("showing a %s event failed", event.get("type"))
                        continue
                    if mark_conv:
                        read.append((mark_conv, int(event["message"]["id"])))
            else:
                # The hub knows this tab but its state does not know its user: the state was
                # lost (Redis restarted empty), and showing the event is not enough: rebuild
                # the tab. (Unless it is on a page without live data: /settings, /profile.)
                lost = not (await root.get_state(SessionState))._user_id
            uid = chat._uid
        if any(event["type"] == "typing" for event in events):
            # "… is typing" goes away by itself a little after it would expire.
            asyncio.get_running_loop().call_later(
                TYPING_SHOWN_S + 0.2, lambda: asyncio.ensure_future(expire_typing(token))
            )
        if lost:
            await rehydrate(token)
        elif uid:
            # The message arrived in the conversation this tab is showing: it has been read.
            for conv, message_id in read:
                read_marks.add(uid, conv, message_id, token)

    async def expire_typing(token: str) -> None:
        if not is_connected(token):
            return
        try:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=ChatState)) as root:
                (await root.get_state(ChatState))._expire_typing()
        except Exception:
            log.debug("expiring a typing hint failed", exc_info=True)

    async def sign_out(token: str, event: RevokedEvent) -> None:
        """The tab's session was ended elsewhere: forget everything it shows now (the browser
        receives the emptied state) and stop delivering to it; then reconnect it, and its
        on_load, finding the cookie's session ended, sends it to /login."""
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=ChatState)) as root:
            session = await root.get_state(SessionState)
            ended = is_revoked(session._session_id, event)
            if ended:
                await forget_user(root)
        if ended:
            await rehydrate(token)

    async def rehydrate(token: str) -> None:
        """Close the tab's transport (not a socket.io disconnect, which the browser would not
        retry): the browser reconnects at once, rehydrates, and its on_load rebuilds the view
        from the database and this connection's cookie, catching up on what it missed. Used when
        a tab's state was lost, or the bus missed events (Redis restarted)."""
        ns = app.event_namespace
        sid = ns.token_to_sid.get(token) if ns is not None else None
        if ns is None or sid is None or token in rehydrating:
            return
        rehydrating.add(token)
        try:
            server = ns.server
            eio_sid = server.manager.eio_sid_from_sid(sid, ns.namespace)
            if eio_sid is not None:
                log.warning("reconnecting tab %s to rebuild its view", token[:8])
                await drop_transport(server.eio, eio_sid)
        finally:
            rehydrating.discard(token)

    async def reconnect_all() -> None:
        """The bus missed events (Redis went away): every websocket this process holds is
        closed at the transport, so every tab reconnects and rebuilds from the database. All of
        them, not only those the hub knows: Reflex's token records lived in that Redis too."""
        ns = app.event_namespace
        if ns is None:
            return
        # First the leases on tab states held here (state/leases.py): from now on each tab's
        # state is read from Redis, which may have restarted empty.
        await leases.end_leases(app.state_manager)
        eio = ns.server.eio
        sids = list(getattr(eio, "sockets", {}))
        log.warning("reconnecting all %d tabs of this process to catch up", len(sids))
        for eio_sid in sids:
            try:
                await drop_transport(eio, eio_sid)
            except Exception:
                log.debug("closing a transport failed", exc_info=True)

    def is_connected(token: str) -> bool:
        ns = app.event_namespace
        return ns is not None and token in ns.token_to_sid

    async def presence_changed(user_id: int, online: bool) -> None:
        seen = await db_call(accounts.touch_last_seen, user_id=user_id)
        contacts = await db_call(conversations.contact_ids, user_id=user_id)
        # Published even with no contacts: tabs that found this person by search watch it.
        await hub.publish(
            contacts,
            {"type": "presence", "user": user_id, "online": online, "last_seen": ms(seen)},
        )

    hub.attach(
        deliver,
        is_connected,
        presence_changed,
        catch_up_all=reconnect_all,
        deliver_many=deliver_many,
    )
    hashing.set_liveness(is_connected)  # bcrypt for a tab that has gone is skipped
    app.add_middleware(instrument.HandlerWatch())  # which handlers run (the shutdown drain)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        tune_after_startup()  # the app is loaded: keep its objects out of the collector's way
        shutdown.install()  # SIGTERM: no new websockets, /healthz 503, while this worker drains
        logs.route_server_loggers()  # (the server's worker set up its loggers after our import)
        hub.start()
        # A tab state Reflex could not write back (its Redis lock was gone: Redis restarted)
        # differs from what the tab shows: rebuild the tab (state/leases.py).
        loop = asyncio.get_running_loop()
        rebuilding: set[asyncio.Task[None]] = set()

        def rebuild(token: str) -> None:
            task = loop.create_task(rehydrate(token))
            rebuilding.add(task)
            task.add_done_callback(rebuilding.discard)

        unwatch = leases.watch_lost_writes(loop, rebuild)
        read_marks.start()
        keeper = housekeeping.from_settings()  # expired sessions, uploads never sent
        keeper.start()
        try:
            yield
        finally:
            # Shutdown (SIGTERM): the server has stopped accepting and closed the websockets
            # (the tabs reconnect to another replica); a send may still be between its pending
            # bubble and its commit. Let those finish before Reflex cancels what is left (its
            # event processor stops after this: it was set up before this lifespan task).
            await instrument.drain(get_settings().shutdown_grace_seconds)
            await keeper.stop()
            await read_marks.stop()
            await hub.stop()
            unwatch()

    app.register_lifespan_task(lifespan)
