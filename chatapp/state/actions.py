"""What a person does to a message after it is sent: edit, delete, react, reply.

Thin handlers: the user comes from the server-side session, the service (services/lifecycle.py)
checks who may do what and tells every tab of the conversation on commit (a ``change`` event that
ChatState applies, this tab included). Replying only remembers which message the composer
answers; the send checks it (services/messages.py).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.services import lifecycle
from chatapp.services.errors import ServiceError
from chatapp.services.events import NotAnnounced
from chatapp.state.db_call import db_call
from chatapp.state.session import SessionState

MAX_RAW_EDIT = 20_000


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class ActionState(rx.State):
    edit_open: bool = False
    edit_id: int = 0
    edit_text: str = ""
    delete_id: int = 0  # asking to confirm a deletion
    replying: dict[str, Any] = {}  # the quoted message shown above the composer
    reactors: list[str] = []  # "👍 Ann, Bob" lines for the bubble being looked at
    error: str = ""

    async def _uid(self) -> int:
        session = await self.get_state(SessionState)
        return await session._current_user_id()

    async def _run(self, fn: Any, **kwargs: Any) -> bool:
        uid = await self._uid()
        if not uid:
            self.error = "Your session has ended. Log in again."
            return False
        self.error = ""
        try:
            await db_call(fn, user_id=uid, **kwargs)
        except NotAnnounced:
            pass  # done; other tabs catch up when their bus is back
        except ServiceError as exc:
            self.error = str(exc)
            return False
        return True

    # Edit ------------------------------------------------------------------------------------
    @rx.event
    def start_edit(self, message_id: int, text: str) -> None:
        """Open the edit box with the bubble's text (the service checks it is the user's own
        message, within 24 hours)."""
        self.edit_id = _int(message_id)
        self.edit_text = str(text)[:MAX_RAW_EDIT]
        self.error = ""
        self.edit_open = bool(self.edit_id)

    @rx.event
    def set_edit_open(self, value: bool) -> None:
        self.edit_open = bool(value)

    @rx.event
    async def save_edit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        text = str((form or {}).get("text", ""))
        if len(text) > MAX_RAW_EDIT:
            self.error = "That text is too long."
            return
        if await self._run(lifecycle.edit_message, message_id=self.edit_id, body=text):
            self.edit_open = False

    # Delete ----------------------------------------------------------------------------------
    @rx.event
    def ask_delete(self, message_id: int) -> None:
        self.delete_id = _int(message_id)
        self.error = ""

    @rx.event
    def cancel_delete(self, _value: Any = None) -> None:
        self.delete_id = 0

    @rx.event
    async def confirm_delete(self):  # type: ignore[no-untyped-def]
        target, self.delete_id = self.delete_id, 0
        if target:
            await self._run(lifecycle.delete_message, message_id=target)

    # React -----------------------------------------------------------------------------------
    @rx.event
    async def react(self, message_id: int, emoji: str):  # type: ignore[no-untyped-def]
        await self._run(lifecycle.react, message_id=_int(message_id), emoji=str(emoji)[:8])

    @rx.event
    async def show_reactors(self, message_id: int):  # type: ignore[no-untyped-def]
        """Who reacted with what (for the chips' popover), for a member of the conversation."""
        uid = await self._uid()
        if not uid:
            return
        try:
            lines = await db_call(lifecycle.reactors, user_id=uid, message_id=_int(message_id))
        except ServiceError as exc:
            self.reactors = [str(exc)]
            return
        self.reactors = lines

    # Reply -----------------------------------------------------------------------------------
    @rx.event
    def start_reply(self, message_id: int, name: str, text: str):  # type: ignore[no-untyped-def]
        self.replying = {
            "id": _int(message_id),
            "name": str(name)[:80],
            "body": " ".join(str(text).split())[:120],
        }
        return rx.set_focus("composer")

    @rx.event
    def cancel_reply(self) -> None:
        self.replying = {}

    @rx.event
    def dismiss_error(self) -> None:
        self.error = ""
