"""A message's life after sending, in the bubble: reply quote, reactions, the actions toolbar
(Reply, React, Edit, Delete), and the dialogs they open (state/actions.py)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.services.lifecycle import REACTIONS
from chatapp.state.actions import ActionState
from chatapp.state.chat import ChatState


def quote_block(m: rx.Var[dict[str, Any]]) -> rx.Component:
    """The message a reply answers: clicked, the timeline goes there."""
    q = m["reply"].to(dict[str, Any])
    return rx.cond(
        q.to(bool),
        rx.el.button(
            rx.text(q["name"].to(str), size="1", weight="bold", as_="div"),
            rx.text(
                rx.cond(
                    q["deleted"].to(bool),
                    "This message was deleted",
                    rx.cond(q["body"].to(str) != "", q["body"].to(str), "📷 Photo"),
                ),
                size="1",
                class_name="truncate",
                as_="div",
            ),
            on_click=ChatState.jump_to(q["id"]),
            class_name="quote",
            type="button",
            aria_label="Go to the message this replies to",
        ),
    )


def deleted_text(m: rx.Var[dict[str, Any]]) -> rx.Component:
    return rx.text(
        rx.cond(m["mod"].to(bool), "Removed by a moderator", "This message was deleted"),
        class_name="bubble-body bubble-deleted",
        as_="p",
    )


def reaction_chips(m: rx.Var[dict[str, Any]]) -> rx.Component:
    chips = m["rx"].to(list[dict[str, Any]])
    return rx.cond(
        m["rx"].to(bool),
        rx.hstack(
            rx.foreach(
                chips,
                lambda c: rx.el.button(
                    c["e"].to(str),
                    " ",
                    c["n"].to(str),
                    on_click=ActionState.react(m["id"], c["e"].to(str)),
                    class_name=rx.cond(c["mine"].to(bool), "chip chip-mine", "chip"),
                    aria_pressed=rx.cond(c["mine"].to(bool), "true", "false"),
                    aria_label=c["e"].to(str) + " " + c["n"].to(str),
                    type="button",
                ),
            ),
            rx.popover.root(
                rx.popover.trigger(
                    rx.el.button(
                        "…",
                        on_click=ActionState.show_reactors(m["id"]),
                        class_name="chip",
                        aria_label="Who reacted",
                        type="button",
                    )
                ),
                rx.popover.content(
                    rx.foreach(ActionState.reactors, lambda line: rx.text(line, size="2")),
                    max_width="280px",
                ),
            ),
            spacing="1",
            wrap="wrap",
            class_name="chips",
        ),
    )


def toolbar(m: rx.Var[dict[str, Any]], mine: rx.Var, can_moderate: rx.Var) -> rx.Component:
    """Reply, React, Edit, Delete: shown on hover or keyboard focus of the bubble."""
    stored = m["id"].to(int) > 0
    alive = ~m["deleted"].to(bool)
    body = m["body"].to(str)
    return rx.cond(
        stored & alive,
        rx.hstack(
            rx.icon_button(
                rx.icon("reply", size=14),
                on_click=ActionState.start_reply(
                    m["id"],
                    rx.cond(
                        mine,
                        "You",
                        rx.cond(
                            ChatState.active["group"].to(bool),
                            ChatState.writers[m["sender"].to(str)]["name"].to(str),
                            ChatState.active["title"].to(str),
                        ),
                    ),
                    body,
                ),
                variant="ghost",
                size="1",
                aria_label="Reply",
                title="Reply",
                type="button",
            ),
            rx.popover.root(
                rx.popover.trigger(
                    rx.icon_button(
                        rx.icon("smile-plus", size=14),
                        variant="ghost",
                        size="1",
                        aria_label="React",
                        title="React",
                        type="button",
                    )
                ),
                rx.popover.content(
                    rx.hstack(
                        *[
                            rx.popover.close(
                                rx.el.button(
                                    e,
                                    on_click=ActionState.react(m["id"], e),
                                    aria_label=e,
                                    class_name="emoji-button",
                                    type="button",
                                )
                            )
                            for e in REACTIONS
                        ],
                        spacing="1",
                    ),
                    side="top",
                ),
            ),
            rx.cond(
                mine,
                rx.icon_button(
                    rx.icon("pencil", size=14),
                    on_click=ActionState.start_edit(m["id"], body),
                    variant="ghost",
                    size="1",
                    aria_label="Edit",
                    title="Edit",
                    type="button",
                ),
            ),
            rx.cond(
                mine | can_moderate,
                rx.icon_button(
                    rx.icon("trash-2", size=14),
                    on_click=ActionState.ask_delete(m["id"]),
                    variant="ghost",
                    size="1",
                    color_scheme="red",
                    aria_label="Delete",
                    title="Delete",
                    type="button",
                ),
            ),
            spacing="1",
            class_name="bubble-tools",
        ),
    )


def edit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit message"),
            rx.form(
                rx.vstack(
                    rx.text_area(
                        name="text",
                        default_value=ActionState.edit_text,
                        key=ActionState.edit_id.to(str),
                        aria_label="Edit message",
                        enter_key_submit=True,
                        auto_height=True,
                        auto_focus=True,
                        width="100%",
                    ),
                    rx.cond(
                        ActionState.error != "",
                        rx.text(ActionState.error, color_scheme="red", size="2", role="alert"),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Save", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    width="100%",
                ),
                on_submit=ActionState.save_edit,
            ),
            max_width="480px",
        ),
        open=ActionState.edit_open,
        on_open_change=ActionState.set_edit_open,
    )


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete message"),
            rx.alert_dialog.description(
                "Delete this message for everyone? It will say “This message was deleted”."
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete for everyone",
                        color_scheme="red",
                        on_click=ActionState.confirm_delete,
                        type="button",
                    )
                ),
                justify="end",
                spacing="2",
                margin_top="12px",
            ),
            max_width="420px",
        ),
        open=ActionState.delete_id != 0,
        on_open_change=ActionState.cancel_delete,
    )


def reply_bar() -> rx.Component:
    q = ActionState.replying
    return rx.cond(
        q["id"].to(int) > 0,
        rx.hstack(
            rx.box(
                rx.text("Replying to ", q["name"].to(str), size="1", weight="bold"),
                rx.text(q["body"].to(str), size="1", class_name="truncate muted"),
                flex="1",
                min_width="0",
                class_name="quote",
            ),
            rx.icon_button(
                rx.icon("x", size=14),
                on_click=ActionState.cancel_reply,
                variant="ghost",
                size="1",
                aria_label="Cancel reply",
                type="button",
            ),
            align="center",
            width="100%",
            class_name="reply-bar",
        ),
    )


def action_error() -> rx.Component:
    return rx.cond(
        (ActionState.error != "") & ~ActionState.edit_open,
        rx.callout(
            rx.hstack(
                rx.text(ActionState.error),
                rx.spacer(),
                rx.icon_button(
                    rx.icon("x", size=14),
                    on_click=ActionState.dismiss_error,
                    variant="ghost",
                    size="1",
                    aria_label="Dismiss",
                ),
                width="100%",
                align="center",
            ),
            color_scheme="red",
            role="alert",
            class_name="notice",
        ),
    )
