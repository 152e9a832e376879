"""The 404 page: any URL no other page claims (Reflex serves the page added at route "404")."""

from __future__ import annotations

import reflex as rx


def not_found_page() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("message-circle-question", size=48, color=rx.color("accent", 10)),
            rx.text("404", size="2", weight="medium", class_name="muted"),
            rx.heading("Page not found", size="7", as_="h1"),
            rx.text(
                "There is nothing at this address. It may have moved, or the link was mistyped.",
                size="3",
                class_name="muted",
                text_align="center",
            ),
            # One focusable element: the link itself, drawn as a button (Radix asChild).
            rx.button(
                rx.link(
                    rx.icon("arrow-left", size=16),
                    "Back to chatapp",
                    href="/",
                    # rx.link's own hover colour (accent-8) would vanish on the accent button.
                    _hover={"color": "var(--accent-contrast)"},
                ),
                as_child=True,
                size="3",
            ),
            align="center",
            spacing="4",
            max_width="420px",
            padding="24px 16px",
        ),
        min_height="100dvh",
        background=rx.color("gray", 2),
    )
