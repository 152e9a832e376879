"""Page frames: the centred card of the sign-up/log-in pages and the signed-in shell."""

from __future__ import annotations

import reflex as rx

from chatapp.components.avatar import avatar
from chatapp.components.notify import notify_layer
from chatapp.state.session import SessionState


def theme_toggle() -> rx.Component:
    return rx.icon_button(
        rx.color_mode_cond(light=rx.icon("moon"), dark=rx.icon("sun")),
        on_click=rx.toggle_color_mode,
        variant="ghost",
        size="2",
        aria_label="Toggle dark mode",
        title="Toggle dark mode",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.hstack(
                rx.hstack(
                    rx.icon("messages-square", size=28, color=rx.color("accent", 10)),
                    rx.heading("chatapp", size="6"),
                    align="center",
                    spacing="2",
                ),
                theme_toggle(),
                justify="between",
                align="center",
                width="100%",
            ),
            rx.card(
                rx.vstack(
                    rx.heading(title, size="5", as_="h1"),
                    rx.text(subtitle, color_scheme="gray", size="2"),
                    *children,
                    spacing="4",
                    width="100%",
                ),
                size="3",
                width="100%",
            ),
            width="100%",
            max_width="420px",
            spacing="4",
            padding="16px",
        ),
        min_height="100dvh",
        background=rx.color("gray", 2),
    )


def loading_screen() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.spinner(size="3"),
            rx.cond(
                SessionState.outage != "",
                rx.text(SessionState.outage, size="2", class_name="muted", role="alert"),
            ),
            align="center",
            spacing="3",
        ),
        min_height="100dvh",
        aria_label="Loading",
    )


def header() -> rx.Component:
    return rx.hstack(
        rx.link(
            rx.hstack(
                rx.icon("messages-square", size=22, color=rx.color("accent", 10)),
                rx.text("chatapp", weight="bold", size="4"),
                align="center",
                spacing="2",
            ),
            href="/",
            underline="none",
            color=rx.color("gray", 12),
        ),
        rx.spacer(),
        rx.link(
            rx.hstack(
                avatar(SessionState.avatar, SessionState.initials, SessionState.display_name, 32),
                rx.text(
                    SessionState.display_name,
                    weight="medium",
                    size="2",
                    class_name="header-name",
                    data_testid="header-display-name",
                ),
                align="center",
                spacing="2",
            ),
            href="/profile",
            underline="none",
            color=rx.color("gray", 12),
            aria_label="Your profile",
        ),
        theme_toggle(),
        rx.link(
            rx.icon("settings", size=18),
            href="/settings",
            aria_label="Settings",
            color=rx.color("gray", 11),
        ),
        rx.button(
            rx.icon("log-out", size=16),
            rx.text("Log out", class_name="hide-narrow"),
            on_click=SessionState.log_out,
            variant="soft",
            size="2",
            aria_label="Log out",
        ),
        align="center",
        spacing="3",
        padding_x="16px",
        height="56px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        width="100%",
        flex_shrink="0",
    )


def signed_in_shell(*children: rx.Component) -> rx.Component:
    """The frame of every signed-in page; renders nothing private until the cookie is checked.
    (With the notifications layer: service worker, toast, a hidden tab's notification.)"""
    return rx.fragment(
        rx.cond(
            SessionState.signed_in,
            rx.vstack(
                header(),
                rx.box(*children, flex="1", width="100%", overflow="hidden", display="flex"),
                spacing="0",
                height="100dvh",
                width="100%",
            ),
            loading_screen(),
        ),
        notify_layer(),
    )
