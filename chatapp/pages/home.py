"""/ : the signed-in chat shell."""

from __future__ import annotations

import reflex as rx

from chatapp.components.layout import signed_in_shell
from chatapp.state.session import SessionState


def home_page() -> rx.Component:
    return signed_in_shell(
        rx.center(
            rx.vstack(
                rx.icon("message-circle", size=48, color=rx.color("accent", 9)),
                rx.heading(
                    "Hi, ", SessionState.display_name, size="6", as_="h1", text_align="center"
                ),
                rx.text(
                    "Pick someone in the sidebar to start a conversation.",
                    color_scheme="gray",
                    text_align="center",
                ),
                align="center",
                spacing="3",
                padding="24px",
            ),
            width="100%",
        )
    )
