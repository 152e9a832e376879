"""Connects the real-time hub to Reflex: how an event reaches one tab, and the hub's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import reflex as rx

from chatapp.gc_tuning import tune_after_startup
from chatapp.realtime import get_hub
from chatapp.services import accounts, conversations
from chatapp.state import hashing, housekeeping
from chatapp.state.chat import ChatState
from chatapp.state.db_call import db_call
from chatapp.state.reads import read_marks
from chatapp.wire import BusEvent, ms

log = logging.getLogger(__name__)


def install(app: rx.App) -> None:
    hub = get_hub()

    async def deliver(token: str, event: dict[str, Any]) -> None:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=ChatState)) as root:
            chat = await root.get_state(ChatState)
            mark_conv = await chat._apply_event(cast(BusEvent, event))
            uid = chat._uid
        if mark_conv and uid:
            # The message arrived in the conversation this tab is showing: it has been read.
            read_marks.add(uid, mark_conv, int(event["message"]["id"]), token)

    def is_connected(token: str) -> bool:
        ns = app.event_namespace
        return ns is not None and token in ns.token_to_sid

    async def presence_changed(user_id: int, online: bool) -> None:
        seen = await db_call(accounts.touch_last_seen, user_id=user_id)
        contacts = await db_call(conversations.contact_ids, user_id=user_id)
        # Also published with no contacts: tabs that found this person by search watch it.
        if True:
            await hub.publish(
                contacts,
                {"type": "presence", "user": user_id, "online": online, "last_seen": ms(seen)},
            )

    hub.attach(deliver, is_connected, presence_changed)
    hashing.set_liveness(is_connected)  # bcrypt for a tab that has gone is skipped

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        tune_after_startup()  # the app is loaded: keep its objects out of the collector's way
        hub.start()
        read_marks.start()
        keeper = housekeeping.from_settings()  # expired sessions, uploads never sent
        keeper.start()
        try:
            yield
        finally:
            await keeper.stop()
            await read_marks.stop()
            await hub.stop()

    app.register_lifespan_task(lifespan)
