"""Sign-up and log-in forms: validate shape, call one service, hand the browser a ticket."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.services import accounts
from chatapp.services.errors import FieldErrors, ServiceError
from chatapp.state.db_call import db_call
from chatapp.state.session import redeem_ticket_script


def _field(form: dict[str, Any], name: str, limit: int = 1024) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


class SignupState(rx.State):
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
        username, email, password = (
            _field(form, "username", 64),
            _field(form, "email", 320),
            _field(form, "password", 256),
        )
        _, _, errors = accounts.validate_signup(username, email, password)
        if errors:
            self._show(errors)
            return
        self.busy = True
        yield
        try:
            ticket = await db_call(
                accounts.sign_up_and_start_session,
                username=username,
                email=email,
                password=password,
                user_agent=self.router.headers.user_agent,
            )
        except FieldErrors as exc:
            self._show(exc.errors)
            self.busy = False
            return
        except ServiceError as exc:
            self.form_error = str(exc)
            self.busy = False
            return
        self.busy = False
        yield rx.call_script(redeem_ticket_script(ticket))

    def _show(self, errors: dict[str, str]) -> None:
        self.username_error = errors.get("username", "")
        self.email_error = errors.get("email", "")
        self.password_error = errors.get("password", "")


class LoginState(rx.State):
    error: str = ""
    busy: bool = False

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        if self.busy:
            return
        self.error = ""
        login, password = _field(form, "login", 320), _field(form, "password", 256)
        if not login.strip() or not password:
            self.error = "Enter your username or email and your password."
            return
        self.busy = True
        yield
        try:
            ticket = await db_call(
                accounts.log_in_and_start_session,
                login=login,
                password=password,
                user_agent=self.router.headers.user_agent,
            )
        except ServiceError as exc:
            self.error = str(exc)
            self.busy = False
            return
        self.busy = False
        yield rx.call_script(redeem_ticket_script(ticket))
