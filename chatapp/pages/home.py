"""/ : the signed-in chat screen."""

from __future__ import annotations

import reflex as rx

from chatapp.components.chat import chat_screen
from chatapp.components.layout import signed_in_shell


def home_page() -> rx.Component:
    return signed_in_shell(chat_screen())
