"""The chat screen: sidebar (search, conversations, people) and the conversation pane."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.components import store
from chatapp.state.chat import ChatState


def presence_avatar(
    initials: rx.Var, online: rx.Var, size: str = "3", src: rx.Var | str = ""
) -> rx.Component:
    return rx.box(
        rx.avatar(src=src, fallback=initials, size=size, radius="full"),
        rx.cond(
            online,
            rx.box(class_name="online-dot", aria_label="online", role="img"),
        ),
        position="relative",
        flex_shrink="0",
    )


# Sidebar ---------------------------------------------------------------------------------------
def conversation_row(row: rx.Var[dict[str, Any]]) -> rx.Component:
    item = rx.el.button(
        presence_avatar(row["initials"], row["online"], src=row["avatar"].to(str)),
        rx.box(
            rx.hstack(
                rx.text(row["title"], weight="medium", size="2", class_name="truncate"),
                rx.spacer(),
                rx.text(row["when"], size="1", color_scheme="gray", flex_shrink="0"),
                align="center",
                width="100%",
            ),
            rx.hstack(
                rx.text(
                    rx.cond(row["preview"] != "", row["preview"], "No messages yet"),
                    size="2",
                    color_scheme="gray",
                    class_name="truncate",
                ),
                rx.spacer(),
                rx.cond(
                    row["unread"].to(int) > 0,
                    rx.badge(
                        rx.cond(row["unread"].to(int) >= 100, "99+", row["unread"].to(str)),
                        radius="full",
                        variant="solid",
                        class_name="unread-badge",
                        aria_label=row["unread"].to(str) + " unread",
                    ),
                ),
                align="center",
                width="100%",
            ),
            flex="1",
            min_width="0",
        ),
        on_click=ChatState.open_conversation(row["id"]),
        class_name=rx.cond(
            row["id"].to(int) == ChatState.active_id, "conv-row conv-row-active", "conv-row"
        ),
        data_testid="conversation-row",
    )
    return rx.cond(ChatState.online_only & ~row["online"].to(bool), rx.fragment(), item)


def person_row(p: rx.Var[dict[str, Any]]) -> rx.Component:
    item = rx.el.button(
        presence_avatar(p["initials"], p["online"], size="2", src=p["avatar"].to(str)),
        rx.box(
            rx.text(p["name"], weight="medium", size="2", class_name="truncate"),
            rx.text("@", p["username"], size="1", color_scheme="gray", class_name="truncate"),
            flex="1",
            min_width="0",
        ),
        on_click=ChatState.open_person(p["id"]),
        class_name="conv-row",
        data_testid="person-row",
    )
    return rx.cond(ChatState.online_only & ~p["online"].to(bool), rx.fragment(), item)


def sidebar() -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                placeholder="Search people",
                aria_label="Search people",
                value=ChatState.search,
                on_change=ChatState.set_search.debounce(250),
                size="2",
                width="100%",
                type="search",
            ),
            rx.el.label(
                rx.switch(
                    checked=ChatState.online_only,
                    on_change=ChatState.toggle_online_only,
                    size="1",
                ),
                rx.text("Show online only", size="2"),
                class_name="switch-row",
            ),
            padding="12px",
            spacing="2",
            width="100%",
        ),
        rx.box(
            rx.cond(
                ChatState.search == "",
                rx.fragment(
                    rx.text("Conversations", class_name="section-title"),
                    rx.foreach(store.conversations, conversation_row),
                    rx.cond(
                        store.conversations.length() == 0,
                        rx.text(
                            "No conversations yet. Pick someone below to say hello.",
                            size="2",
                            color_scheme="gray",
                            padding="8px 16px",
                        ),
                    ),
                ),
            ),
            rx.text(
                rx.cond(ChatState.search == "", "People", "Search results"),
                class_name="section-title",
            ),
            rx.foreach(ChatState.people, person_row),
            rx.cond(
                (ChatState.people.length() == 0) & (ChatState.search != ""),
                rx.text("Nobody matches.", size="2", color_scheme="gray", padding="8px 16px"),
            ),
            class_name="sidebar-list",
        ),
        class_name="chat-sidebar",
        role="navigation",
        aria_label="Conversations",
    )


# Conversation pane -----------------------------------------------------------------------------
def message_bubble(m: rx.Var[dict[str, Any]]) -> rx.Component:
    mine = m["mine"].to(bool)
    status = m["status"].to(str)
    return rx.fragment(
        rx.cond(
            m["day_label"] != "",
            rx.box(rx.text(m["day_label"], size="1"), class_name="day-separator", role="separator"),
        ),
        rx.box(
            rx.cond(
                ~mine,
                rx.box(
                    rx.cond(
                        m["first_of_group"].to(bool),
                        rx.avatar(
                            src=store.active["avatar"].to(str),
                            fallback=store.active["initials"],
                            size="1",
                            radius="full",
                        ),
                    ),
                    class_name="bubble-avatar",
                ),
            ),
            rx.box(
                rx.cond(
                    m["img"].to(str) != "",
                    rx.link(
                        rx.image(
                            src=m["img"].to(str),
                            alt=rx.cond(m["body"].to(str) != "", m["body"].to(str), "Photo"),
                            class_name="bubble-img",
                            loading="lazy",
                        ),
                        href=m["full"].to(str),
                        is_external=True,
                        aria_label="Open the full image",
                    ),
                ),
                rx.cond(
                    m["body"].to(str) != "",
                    rx.text(m["body"], class_name="bubble-body", as_="p"),
                ),
                rx.hstack(
                    rx.text(m["time"], size="1", class_name="bubble-time"),
                    rx.cond(
                        status == "pending", rx.text("Sending…", size="1", class_name="bubble-time")
                    ),
                    rx.cond(
                        mine & (status == "sent"),
                        rx.icon("check", size=12, class_name="bubble-time"),
                    ),
                    spacing="1",
                    align="center",
                    justify="end",
                ),
                rx.cond(
                    status == "failed",
                    rx.hstack(
                        rx.text("Not sent", m["error"].to(str), size="1", color_scheme="red"),
                        rx.button(
                            "Retry",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            on_click=ChatState.resend(
                                m["cid"], m["conv"], m["body"], m["media"].to(str)
                            ),
                        ),
                        spacing="2",
                        align="center",
                    ),
                ),
                class_name=rx.cond(mine, "bubble bubble-mine", "bubble bubble-theirs"),
                data_status=status,
            ),
            class_name=rx.cond(mine, "msg-row msg-row-mine", "msg-row"),
            data_testid="message",
        ),
    )


def conversation_header() -> rx.Component:
    a = store.active
    return rx.hstack(
        rx.icon_button(
            rx.icon("arrow-left"),
            on_click=ChatState.close_conversation,
            variant="ghost",
            aria_label="Back to conversations",
            class_name="back-button",
        ),
        rx.el.button(
            presence_avatar(a["initials"], a["online"], size="2", src=a["avatar"].to(str)),
            rx.box(
                rx.text(a["title"], weight="bold", size="3", class_name="truncate", as_="div"),
                rx.text(
                    a["seen_label"],
                    size="1",
                    color_scheme=rx.cond(a["online"].to(bool), "green", "gray"),
                    as_="div",
                ),
                min_width="0",
                text_align="left",
            ),
            on_click=ChatState.show_profile(a["peer_id"]),
            class_name="conv-header-person",
            aria_label="View profile",
        ),
        profile_dialog(),
        align="center",
        spacing="3",
        class_name="conv-header",
    )


def profile_dialog() -> rx.Component:
    card = ChatState.profile_card
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.avatar(
                    src=card["avatar"].to(str),
                    fallback=card["initials"].to(str),
                    size="8",
                    radius="full",
                ),
                rx.dialog.title(card["name"].to(str), margin_bottom="0"),
                rx.text("@", card["username"].to(str), color_scheme="gray", size="2"),
                rx.cond(
                    card["online"].to(bool),
                    rx.badge("online", color_scheme="green"),
                    rx.text(card["seen_label"].to(str), size="2", color_scheme="gray"),
                ),
                rx.cond(
                    card["bio"].to(str) != "",
                    rx.text(card["bio"].to(str), size="3", class_name="profile-bio"),
                    rx.text("No bio yet.", size="2", color_scheme="gray"),
                ),
                rx.dialog.close(rx.button("Close", variant="soft")),
                align="center",
                spacing="3",
            ),
            max_width="380px",
        ),
        open=ChatState.profile_open,
        on_open_change=ChatState.set_profile_open,
    )


def attachment_preview() -> rx.Component:
    up = store.upload("chat")
    return rx.cond(
        up,
        rx.hstack(
            rx.image(src=up["preview"].to(str), alt="Selected image", class_name="attach-thumb"),
            rx.box(
                rx.text(up["name"].to(str), size="2", class_name="truncate"),
                rx.cond(
                    up["error"].to(str) != "",
                    rx.text(up["error"].to(str), size="2", color_scheme="red", role="alert"),
                    rx.cond(
                        up["busy"].to(bool),
                        rx.vstack(
                            rx.progress(value=up["progress"].to(int), max=100, size="1"),
                            rx.text("Uploading ", up["progress"].to(str), "%", size="1"),
                            spacing="1",
                            width="100%",
                        ),
                        rx.text("Ready to send. Add a caption if you like.", size="1"),
                    ),
                ),
                flex="1",
                min_width="0",
            ),
            rx.icon_button(
                rx.icon("x", size=14),
                on_click=store.clear_upload("chat"),
                variant="soft",
                size="1",
                aria_label="Remove image",
            ),
            align="center",
            spacing="3",
            class_name="attach-preview",
        ),
    )


def composer() -> rx.Component:
    return rx.form(
        attachment_preview(),
        rx.hstack(
            rx.icon_button(
                rx.icon("image-plus", size=18),
                type="button",
                on_click=store.pick_image("chat"),
                variant="ghost",
                size="2",
                aria_label="Attach image",
                title="Attach image",
            ),
            rx.text_area(
                id="composer",
                name="body",
                placeholder="Write a message…",
                aria_label="Message",
                enter_key_submit=True,
                auto_height=True,
                rows="1",
                size="2",
                class_name="composer-input",
                min_height="40px",
            ),
            rx.button(
                rx.icon("send-horizontal", size=16),
                rx.text("Send", class_name="hide-narrow"),
                type="submit",
                aria_label="Send",
                size="2",
            ),
            align="end",
            spacing="2",
            width="100%",
        ),
        # upload_id is read before begin_send clears the attachment (arguments run in order).
        on_submit=lambda form: ChatState.send(
            form, store.upload_id("chat"), store.begin_send("chat")
        ),
        reset_on_submit=True,
        class_name="composer",
    )


def conversation_pane() -> rx.Component:
    return rx.box(
        rx.cond(
            ChatState.active_id == 0,
            rx.center(
                rx.vstack(
                    rx.icon("message-circle", size=44, color=rx.color("accent", 9)),
                    rx.heading("Your messages", size="5", as_="h2"),
                    rx.text(
                        "Pick a conversation or search for someone to start one.",
                        color_scheme="gray",
                        text_align="center",
                    ),
                    align="center",
                    spacing="2",
                    padding="24px",
                ),
                height="100%",
            ),
            rx.fragment(
                conversation_header(),
                rx.box(
                    rx.box(
                        rx.cond(
                            store.has_more,
                            rx.center(
                                rx.button(
                                    "Load older messages",
                                    id="load-older",
                                    on_click=ChatState.load_older,
                                    loading=ChatState.loading_older,
                                    variant="ghost",
                                    size="1",
                                ),
                                padding="8px",
                            ),
                        ),
                        rx.foreach(store.messages, message_bubble),
                        class_name="messages-inner",
                    ),
                    id="message-scroller",
                    class_name="messages",
                    role="log",
                    aria_label="Conversation history",
                    aria_live="polite",
                ),
                rx.cond(
                    store.pill,
                    rx.button(
                        rx.icon("arrow-down", size=14),
                        "New messages",
                        on_click=store.scroll_to_newest,
                        class_name="new-pill",
                        radius="full",
                        size="1",
                    ),
                ),
                composer(),
            ),
        ),
        class_name="chat-main",
        role="main",
    )


def notice_banner() -> rx.Component:
    return rx.cond(
        ChatState.notice != "",
        rx.callout(
            rx.hstack(
                rx.text(ChatState.notice),
                rx.spacer(),
                rx.icon_button(
                    rx.icon("x", size=14),
                    on_click=ChatState.dismiss_notice,
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


def chat_screen() -> rx.Component:
    return rx.box(
        store.feed_sink(),
        sidebar(),
        conversation_pane(),
        notice_banner(),
        class_name=rx.cond(ChatState.active_id != 0, "chat-layout has-active", "chat-layout"),
    )
