"""/signup and /login."""

from __future__ import annotations

import reflex as rx

from chatapp.components.forms import field, form_error
from chatapp.components.layout import auth_card
from chatapp.state.auth_forms import LoginState, SignupState


def signup_page() -> rx.Component:
    return auth_card(
        "Create your account",
        "Talk to the people you care about, in real time.",
        rx.form(
            rx.vstack(
                field(
                    "Username",
                    "username",
                    SignupState.username_error,
                    autocomplete="username",
                    hint="3–32 characters: letters, digits, '_' or '.'",
                    max_length=32,
                ),
                field(
                    "Email", "email", SignupState.email_error, type_="email", autocomplete="email"
                ),
                field(
                    "Password",
                    "password",
                    SignupState.password_error,
                    type_="password",
                    autocomplete="new-password",
                    hint="At least 8 characters",
                ),
                form_error(SignupState.form_error),
                rx.button(
                    "Sign up",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=SignupState.busy,
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=SignupState.submit,
            # Our own messages next to each field, the same ones the server enforces.
            no_validate=True,
            width="100%",
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Log in", href="/login"),
            size="2",
        ),
    )


def login_page() -> rx.Component:
    return auth_card(
        "Welcome back",
        "Log in to continue your conversations.",
        rx.form(
            rx.vstack(
                field("Username or email", "login", autocomplete="username"),
                field("Password", "password", type_="password", autocomplete="current-password"),
                form_error(LoginState.error),
                rx.button("Log in", type="submit", size="3", width="100%", loading=LoginState.busy),
                spacing="4",
                width="100%",
            ),
            on_submit=LoginState.submit,
            width="100%",
        ),
        rx.text("New here? ", rx.link("Create an account", href="/signup"), size="2"),
    )
