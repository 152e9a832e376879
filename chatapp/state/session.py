"""Who is signed in on this tab. Every protected page checks the HttpOnly cookie on load;
every handler that acts for a user goes through :meth:`SessionState._current_user_id`."""

from __future__ import annotations

import contextlib
import json
import time
from http.cookies import CookieError, SimpleCookie

import reflex as rx

from chatapp.realtime import get_hub
from chatapp.services import accounts
from chatapp.services.errors import Unavailable
from chatapp.services.events import NotAnnounced
from chatapp.services.media import thumb_url
from chatapp.settings import get_settings
from chatapp.state.db_call import db_call
from chatapp.wire import initials


def cookie_value(header: str, name: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return ""
    morsel = jar.get(name)
    return morsel.value if morsel else ""


# inline JS (3 of 9): trade the one-time log-in ticket for the HttpOnly session cookie. Only a
# same-origin fetch can receive a Set-Cookie the page's scripts cannot read; Reflex has no Python
# API for an HTTP request from the browser.
def redeem_ticket_script(ticket: str, then: str = "/") -> str:
    """JS that trades a one-time ticket for the HttpOnly cookie, then loads `then` afresh
    (a full page load, so the websocket reconnects carrying the new cookie)."""
    body = json.dumps({"ticket": ticket})
    return (
        "fetch('/auth/session',{method:'POST',credentials:'same-origin',"
        f"headers:{{'Content-Type':'application/json'}},body:{json.dumps(body)}}})"
        f".then(r=>{{if(r.ok){{window.location.replace({json.dumps(then)});}}"
        "else{window.location.reload();}})"
    )


# inline JS (4 of 9): ask the server to clear the HttpOnly cookie (scripts cannot), then load
# /login afresh so the websocket reconnects without it.
LOGOUT_SCRIPT = (
    "fetch('/auth/logout',{method:'POST',credentials:'same-origin'})"
    ".finally(()=>window.location.replace('/login'))"
)


class SessionState(rx.State):
    """Identity lives only in backend vars (leading underscore): never sent to the browser,
    never taken from event arguments."""

    _user_id: int = 0
    _session_id: str = ""
    _checked_at: float = 0.0
    _conn: str = ""  # the websocket connection whose cookie was checked

    signed_in: bool = False
    outage: str = ""  # shown while the database cannot be reached
    auth_checked: bool = False
    username: str = ""
    display_name: str = ""
    initials: str = ""
    avatar: str = ""

    def _clear(self) -> None:
        self._user_id = 0
        self._session_id = ""
        self._checked_at = 0.0
        self.signed_in = False
        self.username = ""
        self.display_name = ""
        self.initials = ""
        self.avatar = ""

    async def _load_from_cookie(self) -> bool:
        token = cookie_value(self.router.headers.cookie, get_settings().session_cookie_name)
        current = await db_call(accounts.resolve_session, token=token) if token else None
        if current is None:
            self._clear()
            return False
        self._user_id = current.user.id
        self._session_id = current.session_id
        self._checked_at = time.monotonic()
        self.signed_in = True
        self.username = current.user.username
        self.display_name = current.user.display_name
        self.initials = initials(current.user.display_name)
        self.avatar = thumb_url(current.user.avatar_ref)
        return True

    async def _current_user_id(self) -> int:
        """The signed-in user's id, or 0.

        Identity is bound to the websocket connection: the first event of every connection
        (first load, reconnect, server restart, or someone replaying a tab's token) checks that
        connection's own session cookie. So a tab is never signed in by its token alone, and a
        message queued while the server was away is taken as soon as it arrives, before any
        on_load. After that the session row is re-checked every SESSION_RECHECK_SECONDS.
        Raises Unavailable when the database cannot be asked on a new connection."""
        sid = self.router.session.session_id
        if sid != self._conn:
            await self._load_from_cookie()  # (Unavailable: _conn stays, the next event retries)
            self._conn = sid
            self.auth_checked = True
            return self._user_id
        if not self._user_id:
            return 0
        if time.monotonic() - self._checked_at > get_settings().session_recheck_seconds:
            try:
                live = await db_call(
                    accounts.session_is_live, session_id=self._session_id, user_id=self._user_id
                )
            except Unavailable:
                return self._user_id  # checked on this connection already; again next event
            if not live:
                self._clear()
                return 0
            self._checked_at = time.monotonic()
        return self._user_id

    async def _ensure_signed_in(self) -> bool:
        """on_load of a signed-in page: check signature, expiry and revocation now."""
        ok = await self._load_from_cookie()
        self._conn = self.router.session.session_id
        self.auth_checked = True
        self.outage = ""
        return ok

    @rx.event
    async def require_login(self):  # type: ignore[no-untyped-def]
        """on_load of signed-in pages: check signature, expiry and revocation."""
        try:
            ok = await self._ensure_signed_in()
        except Unavailable as exc:
            self.outage = f"{exc} Reload the page in a moment."
            return None
        if not ok:
            return rx.redirect("/login", replace=True)
        # Known to the real-time hub like a chat tab (presence; a revoked session's tabs are
        # sent to /login at once), though nothing else is delivered to it.
        await get_hub().tab_opened(self._user_id, self.router.session.client_token)
        return None

    @rx.event
    async def redirect_if_signed_in(self):  # type: ignore[no-untyped-def]
        """on_load of /login and /signup."""
        try:
            ok = await self._load_from_cookie()
        except Unavailable:
            ok = False  # show the form; signing in will say that the database is away
        self.auth_checked = True
        if ok:
            return rx.redirect("/", replace=True)
        return None

    @rx.event
    async def log_out(self):  # type: ignore[no-untyped-def]
        session_id = self._session_id
        if session_id:
            # The other tabs of this browser share the session: they go to /login too (the
            # service tells them on commit).
            with contextlib.suppress(NotAnnounced):
                await db_call(accounts.revoke_session, session_id=session_id)
        self._clear()
        return rx.call_script(LOGOUT_SCRIPT)

    @rx.event
    async def log_out_everywhere(self):  # type: ignore[no-untyped-def]
        user_id = await self._current_user_id()
        if user_id:
            with contextlib.suppress(NotAnnounced):
                await db_call(accounts.revoke_all_sessions, user_id=user_id)
        self._clear()
        return rx.call_script(LOGOUT_SCRIPT)
