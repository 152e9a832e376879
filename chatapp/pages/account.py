"""/profile and /settings."""

from __future__ import annotations

import reflex as rx

from chatapp.components.layout import signed_in_shell
from chatapp.state.session import SessionState


def _panel(title: str, *children: rx.Component) -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.heading(title, size="6", as_="h1"),
            *children,
            spacing="4",
            width="100%",
            max_width="560px",
            margin_x="auto",
            padding="24px 16px",
        ),
        width="100%",
        overflow_y="auto",
    )


def profile_page() -> rx.Component:
    return signed_in_shell(
        _panel(
            "Your profile",
            rx.hstack(
                rx.avatar(fallback=SessionState.display_name[:2].upper(), size="6", radius="full"),
                rx.vstack(
                    rx.text(SessionState.display_name, weight="bold", size="4"),
                    rx.text("@", SessionState.username, color_scheme="gray"),
                    spacing="1",
                ),
                align="center",
                spacing="4",
            ),
        )
    )


def settings_page() -> rx.Component:
    return signed_in_shell(
        _panel(
            "Settings",
            rx.card(
                rx.vstack(
                    rx.heading("Sessions", size="4", as_="h2"),
                    rx.text(
                        "Signed in on another computer or phone you no longer use? "
                        "Log out everywhere, including here.",
                        color_scheme="gray",
                        size="2",
                    ),
                    rx.button(
                        "Log out of all devices",
                        on_click=SessionState.log_out_everywhere,
                        color_scheme="red",
                        variant="soft",
                    ),
                    spacing="3",
                ),
                width="100%",
            ),
        )
    )
