"""Every tab's state is bound to the session cookie of the connection it arrives on.

A tab's Reflex token lives in sessionStorage, where any script of the page can read it. On a
new websocket connection, before any handler or the hydrate snapshot runs, the connection's own
cookie is compared with the session the tab's state was built for: another session (someone
replaying a token elsewhere, another account in this browser) or no cookie at all, and
everything the state knows about its user is forgotten first. So the snapshot a new connection
receives never carries someone else's data, and handlers then sign in from that connection's
cookie only (SessionState._current_user_id).

The check is a signature check of the cookie's JWT (no database); whether the session is still
live is asked by the first handler (SessionState) as before.
"""

from __future__ import annotations

import logging
from typing import Any

import reflex as rx
from reflex.middleware.middleware import Middleware

from chatapp.realtime import get_hub
from chatapp.security import TokenError, decode_session_token
from chatapp.settings import get_settings
from chatapp.state.account import ProfileState, SettingsState
from chatapp.state.chat import ChatState
from chatapp.state.notify import NotifyState
from chatapp.state.session import SessionState, cookie_value
from chatapp.state.view import ArrivalState, HistoryState, SidebarState

log = logging.getLogger(__name__)

# Every state that holds something of the signed-in user. Each is loaded and reset explicitly
# (with Redis only the states an event needs are loaded, so resetting the root is not enough).
USER_STATES: tuple[type[rx.State], ...] = (
    SessionState,
    ChatState,
    HistoryState,
    ArrivalState,
    SidebarState,
    ProfileState,
    SettingsState,
    NotifyState,  # (also this browser's "Desktop notifications": another account starts off)
)


def cookie_session_id(cookie_header: str) -> str:
    """The session id the connection's cookie carries (validly signed, unexpired), or ""."""
    settings = get_settings()
    token = cookie_value(cookie_header, settings.session_cookie_name)
    if not token:
        return ""
    try:
        return decode_session_token(token, secret=settings.jwt_secret).session_id
    except TokenError:
        return ""


async def forget_user(root: Any) -> None:
    """Reset every user state of this tab (and stop real-time delivery to it)."""
    chat = await root.get_state(ChatState)
    session = await root.get_state(SessionState)
    uid, token = chat._uid or session._user_id, chat._token or root.router.session.client_token
    if uid and token:
        await get_hub().tab_closed(uid, token)
    for cls in USER_STATES:
        (await root.get_state(cls)).reset()


class BindToCookie(Middleware):
    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        session = await state.get_state(SessionState)
        if not session._session_id or state.router.session.session_id == session._conn:
            return None  # nothing to protect, or a connection already checked
        if cookie_session_id(state.router.headers.cookie) != session._session_id:
            log.info("a new connection without this tab's session cookie: state forgotten")
            await forget_user(state)
        return None


def install(app: rx.App) -> None:
    app.add_middleware(BindToCookie(), index=0)
