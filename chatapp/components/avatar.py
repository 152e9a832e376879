"""Round pictures of people: a real <img> with the person's name as alt text, or initials."""

from __future__ import annotations

import reflex as rx


def avatar(
    src: rx.Var | str, initials: rx.Var | str, name: rx.Var | str, size: int
) -> rx.Component:
    """A round picture with a real alt text, or the initials when there is none."""
    src_var = rx.Var.create(src).to(str)
    return rx.cond(
        src_var.to(bool),
        rx.image(
            src=src_var,
            alt=name,
            class_name="avatar",
            width=f"{size}px",
            height=f"{size}px",
            loading="lazy",
        ),
        rx.box(
            initials,
            class_name="avatar avatar-initials",
            width=f"{size}px",
            height=f"{size}px",
            font_size=f"{max(10, size * 0.4):.0f}px",
            aria_hidden="true",
        ),
    )
