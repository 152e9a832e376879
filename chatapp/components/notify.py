"""Notifications on screen (issue 14): the tab title and favicon, the in-app toast, the hidden
trigger of a browser notification, "Mute", and the settings card.

No JavaScript here: the browser calls are the named one-liners of state/notify.py.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.components.avatar import avatar
from chatapp.state.chat import ChatState
from chatapp.state.notify import (
    CLIENT_JS,
    UNSUBSCRIBE_JS,
    NotifyState,
    notify_script,
    subscribe_script,
)
from chatapp.state.view import SidebarState

_UNREAD = SidebarState.unread_total


def tab_title() -> Any:
    """The chat page's title: "(3) chatapp" while 3 messages are unread (muted ones aside)."""
    return rx.cond(_UNREAD > 0, "(" + _UNREAD.to_string() + ") chatapp", "chatapp")


def favicon_link() -> rx.Component:
    """The tab's icon, with a red dot while anything is unread. (React puts a <link> rendered
    anywhere into the document's head.)"""
    return rx.el.link(
        rel="icon",
        href=rx.cond(_UNREAD > 0, "/favicon-unread.png", "/favicon.ico"),
        data_testid="favicon",
    )


def _toast() -> rx.Component:
    t = NotifyState.toast
    return rx.cond(
        t["id"].to(bool),
        rx.box(
            rx.link(
                avatar(t["avatar"].to(str), t["initials"].to(str), t["title"].to(str), 36),
                rx.box(
                    rx.text(t["title"].to(str), weight="bold", size="2", class_name="truncate"),
                    rx.text(t["body"].to(str), size="2", class_name="truncate muted"),
                    min_width="0",
                    flex="1",
                ),
                href="/c/" + t["conv"].to(str),
                on_click=NotifyState.dismiss_toast,
                underline="none",
                class_name="toast-link",
                aria_label="Open the conversation: " + t["title"].to(str),
            ),
            rx.icon_button(
                rx.icon("x", size=14),
                on_click=NotifyState.dismiss_toast,
                variant="ghost",
                size="1",
                aria_label="Dismiss notification",
            ),
            key=t["id"].to(str),  # a new toast starts its animation afresh
            class_name="toast",
            role="status",
            data_testid="toast",
        ),
    )


@rx.memo
def note_trigger(note: rx.Var[dict[str, Any]], rest: rx.RestProp) -> rx.Component:
    """Runs notify_script once per mount: its own React component, so that a new key (a new
    note) mounts it afresh."""
    return rx.box(on_mount=rx.call_script(notify_script(note)), display="none")


def notify_layer() -> rx.Component:
    """On every signed-in page: registers the service worker (and reports the permission),
    shows the toast, and runs the notification of a hidden tab for each new note."""
    return rx.fragment(
        rx.box(
            on_mount=rx.call_script(CLIENT_JS, callback=NotifyState.client_ready),
            display="none",
        ),
        # One item keyed by the note's id: a new note mounts it afresh, and its on_mount runs.
        rx.foreach(NotifyState.note, lambda n: note_trigger(note=n, key=n["id"].to(str))),
        _toast(),
    )


MUTE_CHOICES = (("8h", "8 hours"), ("1w", "1 week"), ("always", "Always"))


def mute_menu() -> rx.Component:
    """ "Mute" for the open conversation (its header, and Group info)."""
    muted = ChatState.active["muted"].to(int) > 0
    conv = ChatState.active_id
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.cond(muted, rx.icon("bell-off", size=18), rx.icon("bell", size=18)),
                variant="ghost",
                color_scheme="gray",
                aria_label=rx.cond(muted, "Muted", "Mute"),
                title=rx.cond(muted, "Muted", "Mute"),
                type="button",
                margin_left="auto",
            )
        ),
        rx.menu.content(
            *[
                rx.menu.item(label, on_select=NotifyState.mute(conv, choice))
                for choice, label in MUTE_CHOICES
            ],
            rx.cond(
                muted,
                rx.fragment(
                    rx.menu.separator(),
                    rx.menu.item("Unmute", on_select=NotifyState.mute(conv, "off")),
                ),
            ),
        ),
    )


def _switch(label: str, hint: str, **props: Any) -> rx.Component:
    return rx.el.label(
        rx.switch(aria_label=label, **props),
        rx.box(
            rx.text(label, size="2", weight="medium", as_="div"),
            rx.text(hint, size="1", color_scheme="gray", as_="div"),
        ),
        class_name="switch-row",
    )


def notification_settings() -> rx.Component:
    """The settings page's "Notifications" card."""
    key, done = NotifyState.push_key, NotifyState.subscribed
    return rx.card(
        rx.vstack(
            rx.heading("Notifications", size="4", as_="h2"),
            rx.cond(
                NotifyState.desktop_on,
                _switch(
                    "Desktop notifications",
                    "New messages while chatapp is in the background or closed.",
                    checked=True,
                    on_change=[rx.call_script(UNSUBSCRIBE_JS), NotifyState.turn_off],
                ),
                _switch(
                    "Desktop notifications",
                    "Your browser asks for permission when you turn this on.",
                    checked=False,
                    disabled=NotifyState.permission == "unsupported",
                    # Asked in the click itself (browsers want a click for this).
                    on_change=rx.call_script(subscribe_script(key), callback=done),
                ),
            ),
            _switch(
                "Show message text in notifications",
                "Off: a notification says who wrote, not what.",
                checked=NotifyState.show_text,
                on_change=NotifyState.set_show_text,
            ),
            rx.cond(
                NotifyState.settings_note != "",
                rx.text(NotifyState.settings_note, size="2", role="status"),
            ),
            spacing="3",
        ),
        width="100%",
    )
