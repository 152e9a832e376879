"""Sign-up and log-in forms: validate shape, run the flow (state/passwords.py), hand the
browser a ticket.

A flood of these events must cost almost nothing (issue 11, finding 1): the per-address
limits are checked before the form even shows "busy", bcrypt runs in its own small pool and is
skipped for a tab that has gone, and a tab whose attempt was just refused by a limit is
answered from memory until the refusal could have changed (no database, no limiter).
"""

from __future__ import annotations

import time
from typing import Any

import reflex as rx

from chatapp.services import accounts
from chatapp.services.errors import FieldErrors, ServiceError, Throttled
from chatapp.state import passwords
from chatapp.state.hashing import TabGone
from chatapp.state.session import redeem_ticket_script

# A refusal by a limit is repeated without asking again for this long.
REFUSAL_MEMORY_SECONDS = 2.0


def _field(form: dict[str, Any], name: str, limit: int = 1024) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


class _Refusals(rx.State, mixin=True):
    """Remembers the last limit refusal of this tab for a moment (backend-only vars)."""

    _refused: str = ""
    _refused_until: float = 0.0

    def _recent_refusal(self) -> str:
        return self._refused if time.monotonic() < self._refused_until else ""

    def _remember(self, exc: ServiceError) -> None:
        if isinstance(exc, Throttled):
            self._refused = str(exc)
            self._refused_until = time.monotonic() + REFUSAL_MEMORY_SECONDS


class SignupState(_Refusals, rx.State):
    username_error: str = ""
    email_error: str = ""
    password_error: str = ""
    form_error: str = ""
    busy: bool = False

    def _reset_errors(self) -> None:
        self.username_error = self.email_error = self.password_error = self.form_error = ""

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        if self.busy:
            return
        self._reset_errors()
        if refused := self._recent_refusal():
            self.form_error = refused
            self.busy = False
            return
        username, email, password = (
            _field(form, "username", 64),
            _field(form, "email", 320),
            _field(form, "password", 256),
        )
        _, _, errors = accounts.validate_signup(username, email, password)
        if errors:
            self._show(errors)
            self.busy = False
            return
        session = self.router.session
        try:
            async with passwords.slot():
                uname, norm_email = await passwords.begin_sign_up(
                    username=username, email=email, password=password, address=session.client_ip
                )
                self.busy = True
                yield
                ticket = await passwords.complete_sign_up(
                    username=uname,
                    email=norm_email,
                    password=password,
                    user_agent=self.router.headers.user_agent,
                    token=session.client_token,
                )
        except TabGone:
            return  # the tab has gone: nobody to answer
        except FieldErrors as exc:
            self._show(exc.errors)
            self.busy = False
            return
        except ServiceError as exc:
            if not self.busy:  # refused before any work: by a limit, or "busy"
                self._remember(exc)
            self.form_error = str(exc)
            self.busy = False
            return
        self.busy = False
        yield rx.call_script(redeem_ticket_script(ticket))

    def _show(self, errors: dict[str, str]) -> None:
        self.username_error = errors.get("username", "")
        self.email_error = errors.get("email", "")
        self.password_error = errors.get("password", "")


class LoginState(_Refusals, rx.State):
    error: str = ""
    busy: bool = False

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        if self.busy:
            return
        self.error = ""
        if refused := self._recent_refusal():
            self.error = refused
            self.busy = False
            return
        login, password = _field(form, "login", 320), _field(form, "password", 256)
        if not login.strip() or not password:
            self.error = "Enter your username or email and your password."
            self.busy = False
            return
        session = self.router.session
        try:
            async with passwords.slot():
                check = await passwords.begin_log_in(login=login, address=session.client_ip)
                self.busy = True
                yield
                ticket = await passwords.complete_log_in(
                    check=check,
                    password=password,
                    address=session.client_ip,
                    user_agent=self.router.headers.user_agent,
                    token=session.client_token,
                )
        except TabGone:
            return  # the tab has gone: nobody to answer
        except ServiceError as exc:
            if not self.busy:  # refused before any work: by a limit, or "busy"
                self._remember(exc)
            self.error = str(exc)
            self.busy = False
            return
        self.busy = False
        yield rx.call_script(redeem_ticket_script(ticket))
