"""Labelled form fields with their error shown next to them (and announced to screen readers)."""

from __future__ import annotations

import reflex as rx


def field(
    label: str,
    name: str,
    error: rx.Var[str] | str = "",
    *,
    type_: str = "text",
    autocomplete: str = "off",
    hint: str = "",
    max_length: int | None = None,
) -> rx.Component:
    input_id = f"field-{name}"
    error_id = f"{input_id}-error"
    err = rx.Var.create(error)
    return rx.vstack(
        rx.el.label(label, html_for=input_id, class_name="field-label"),
        rx.input(
            id=input_id,
            name=name,
            type=type_,
            auto_complete=autocomplete,
            max_length=max_length,
            size="3",
            width="100%",
            aria_invalid=rx.cond(err != "", "true", "false"),
            aria_describedby=error_id,
        ),
        rx.cond(
            err != "",
            rx.text(err, id=error_id, color_scheme="red", size="2", role="alert"),
            rx.text(hint, id=error_id, color_scheme="gray", size="1") if hint else rx.fragment(),
        ),
        spacing="1",
        width="100%",
        align="stretch",
    )


def form_error(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )
