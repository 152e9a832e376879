"""The chat screen: sidebar (search, conversations, people) and the conversation pane.

Pure Reflex: messages come from the numbered page and slot vars of state/view.py, sidebar rows
from SidebarState; the list is laid out bottom-up (CSS column-reverse), so it starts at the newest
message, stays there as messages and images arrive, and keeps the reader's place when older pages
are put above.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import FunctionStringVar

from chatapp.components.actions import (
    action_error,
    delete_dialog,
    deleted_text,
    edit_dialog,
    quote_block,
    reaction_chips,
    reply_bar,
    toolbar,
)
from chatapp.components.avatar import avatar
from chatapp.components.groups import group_info_dialog, new_group_dialog
from chatapp.components.notify import mute_menu
from chatapp.services import images, messages
from chatapp.state import uploads
from chatapp.state.actions import ActionState
from chatapp.state.chat import KEEP_UNSENT_JS, SCROLL_JS, ChatState
from chatapp.state.session import SessionState
from chatapp.state.view import (
    N_PAGES,
    N_PATCHES,
    N_ROWS,
    N_SLOTS,
    ArrivalState,
    HistoryState,
    SidebarState,
    page_name,
    patch_name,
    row_name,
    slot_name,
)

MAX_CHARS = messages.MAX_BODY_CHARS
KEEP_UNSENT = FunctionStringVar.create(KEEP_UNSENT_JS)


def presence_avatar(
    src: rx.Var, initials: rx.Var, name: rx.Var, online: rx.Var, size: int = 40
) -> rx.Component:
    return rx.box(
        avatar(src, initials, name, size),
        rx.cond(online, rx.box(class_name="online-dot", aria_label="online", role="img")),
        position="relative",
        flex_shrink="0",
    )


def last_seen(online: rx.Var, seen_ms: rx.Var) -> rx.Component:
    """ "online", or "last seen 5 minutes ago" that ages by itself (rx.moment, every minute)."""
    return rx.cond(
        online.to(bool),
        rx.text("online", as_="span"),
        rx.cond(
            seen_ms.to(int) > 0,
            rx.text(
                "last seen ",
                rx.moment(seen_ms.to(int), from_now=True, interval=60_000),
                as_="span",
            ),
            rx.text("offline", as_="span"),
        ),
    )


# Sidebar ---------------------------------------------------------------------------------------
ROWS = rx.Var.create([getattr(SidebarState, row_name(i)) for i in range(N_ROWS)])


def conversation_row(row: rx.Var[dict[str, Any]]) -> rx.Component:
    unread = row["unread"].to(int)
    item = rx.link(
        presence_avatar(row["avatar"], row["initials"], row["title"], row["online"]),
        rx.box(
            rx.hstack(
                rx.text(row["title"], weight="medium", size="2", class_name="truncate"),
                rx.spacer(),
                rx.text(row["when"], size="1", class_name="muted", flex_shrink="0"),
                align="center",
                width="100%",
            ),
            rx.hstack(
                rx.text(
                    rx.cond(row["preview"].to(bool), row["preview"], "No messages yet"),
                    size="2",
                    class_name="truncate muted",
                ),
                rx.spacer(),
                rx.cond(
                    unread > 0,
                    rx.badge(
                        rx.cond(unread >= 100, "99+", unread.to(str)),
                        radius="full",
                        variant="solid",
                        color_scheme=rx.cond(row["muted"].to(bool), "gray", "indigo"),  # muted
                        class_name="unread-badge",
                        aria_label=unread.to(str) + " unread",
                    ),
                ),
                align="center",
                width="100%",
            ),
            flex="1",
            min_width="0",
        ),
        href="/c/" + row["id"].to(str),
        underline="none",
        class_name=rx.cond(
            row["id"].to(int) == ChatState.active_id, "conv-row conv-row-active", "conv-row"
        ),
        aria_current=rx.cond(row["id"].to(int) == ChatState.active_id, "page", "false"),
        data_testid="conversation-row",
    )
    return rx.cond(ChatState.online_only & ~row["online"].to(bool), rx.fragment(), item)


def person_row(p: rx.Var[dict[str, Any]]) -> rx.Component:
    item = rx.el.button(
        presence_avatar(p["avatar"], p["initials"], p["name"], p["online"], size=32),
        rx.box(
            rx.text(p["name"], weight="medium", size="2", class_name="truncate"),
            rx.text("@", p["username"], size="1", class_name="truncate muted"),
            flex="1",
            min_width="0",
        ),
        rx.text(
            last_seen(p["online"], p["last_seen"]), size="1", class_name="muted", flex_shrink="0"
        ),
        on_click=ChatState.open_person(p["id"]),
        class_name="conv-row",
        data_testid="person-row",
        type="button",
    )
    return rx.cond(ChatState.online_only & ~p["online"].to(bool), rx.fragment(), item)


def _hint(text: str | rx.Var) -> rx.Component:
    return rx.text(text, size="2", class_name="muted", padding="8px 16px")


def sidebar() -> rx.Component:
    searching = ChatState.search != ""
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.input(
                    rx.input.slot(rx.icon("search", size=16)),
                    placeholder="Search people",
                    aria_label="Search people",
                    id="people-search",
                    value=ChatState.search,
                    on_change=ChatState.set_search.debounce(250),
                    size="2",
                    width="100%",
                    type="search",
                ),
                new_group_dialog(),
                width="100%",
                spacing="2",
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
                searching,
                rx.fragment(
                    rx.text("People", class_name="section-title"),
                    rx.foreach(ChatState.people, person_row),
                    rx.cond(
                        ChatState.search.length() < 2,
                        _hint("Type at least 2 letters of a name or username."),
                        rx.cond(ChatState.people.length() == 0, _hint("Nobody matches.")),
                    ),
                ),
            ),
            rx.text("Conversations", class_name="section-title"),
            rx.foreach(SidebarState.order, lambda i: conversation_row(ROWS[i])),
            rx.cond(
                ChatState.no_conversations & ~searching,
                rx.box(
                    rx.text("Welcome to chatapp!", weight="bold", size="2"),
                    rx.text(
                        "Find someone by their name or username in the search box above, "
                        "then say hello. Your conversations will be listed here.",
                        size="2",
                        class_name="muted",
                    ),
                    padding="8px 16px",
                    class_name="welcome",
                ),
            ),
            class_name="sidebar-list",
        ),
        class_name="chat-sidebar",
        role="navigation",
        aria_label="Conversations",
    )


# Conversation pane -----------------------------------------------------------------------------
@rx.memo
def message_bubble(m: rx.Var[dict[str, Any]], rest: rx.RestProp) -> rx.Component:
    """One bubble, compiled once as its own React component (re-rendered only when its
    message changes)."""
    mine = m["mine"].to(bool)
    status = m["status"].to(str)
    a = ChatState.active
    w, h = m["w"].to(int), m["h"].to(int)
    # In a group, the first bubble of a run names its sender, looked up in the group's map of
    # people (a direct conversation's bubbles carry no name: the header names the other person).
    named = a["group"].to(bool) & m["first"].to(bool) & ~mine
    day = rx.cond(
        m["day"].to(str) != "",
        rx.box(rx.text(m["day"].to(str), size="1"), class_name="day-separator", role="separator"),
    )
    system_line = rx.box(
        rx.text(m["body"].to(str), size="1"),
        class_name="system-line",
        role="status",
        data_testid="system-line",
    )
    return rx.fragment(
        day,
        rx.cond(m["sys"].to(bool), system_line, _bubble(m, mine, status, a, w, h, named)),
    )


def writer(m: rx.Var[dict[str, Any]]) -> rx.Var:
    """The sender of a group's bubble, from the open group's map of people."""
    return ChatState.writers[m["sender"].to(str)]


def _bubble(
    m: rx.Var[dict[str, Any]],
    mine: rx.Var,
    status: rx.Var,
    a: rx.Var,
    w: rx.Var,
    h: rx.Var,
    named: rx.Var,
) -> rx.Component:
    return rx.fragment(
        rx.box(
            rx.cond(
                ~mine,
                rx.box(
                    rx.cond(
                        m["first"].to(bool),
                        rx.cond(
                            named,
                            avatar(
                                writer(m)["avatar"], writer(m)["initials"], writer(m)["name"], 24
                            ),
                            rx.cond(
                                ~a["group"].to(bool),
                                avatar(a["avatar"], a["initials"], a["title"], 24),
                            ),
                        ),
                    ),
                    class_name="bubble-avatar",
                ),
            ),
            rx.box(
                rx.cond(
                    named,
                    rx.text(
                        writer(m)["name"].to(str), size="1", weight="bold", class_name="bubble-name"
                    ),
                ),
                quote_block(m),
                rx.cond(m["deleted"].to(bool), deleted_text(m)),
                rx.cond(
                    m["img"].to(bool),
                    rx.link(
                        rx.image(
                            src=m["img"].to(str),
                            alt=rx.cond(m["body"].to(str) != "", m["body"].to(str), "Photo"),
                            class_name="bubble-img",
                            # The box is reserved before the image loads: the view never jumps.
                            width=rx.cond(w > 0, w.to(str) + "px", "320px"),
                            aspect_ratio=rx.cond(w > 0, w.to(str) + " / " + h.to(str), "4 / 3"),
                        ),
                        href=m["full"].to(str),
                        is_external=True,
                        aria_label="Open the full image",
                    ),
                ),
                rx.cond(
                    m["body"].to(str) != "",
                    rx.text(m["body"].to(str), class_name="bubble-body", as_="p"),
                ),
                reaction_chips(m),
                rx.hstack(
                    rx.cond(
                        m["edited"].to(bool),
                        rx.text("edited", size="1", class_name="bubble-time"),
                    ),
                    rx.text(m["time"].to(str), size="1", class_name="bubble-time"),
                    rx.cond(
                        status == "pending", rx.text("Sending…", size="1", class_name="bubble-time")
                    ),
                    rx.cond(
                        mine & (status == "sent"),
                        rx.cond(
                            m["id"].to(int) == ChatState.seen_id,
                            seen_mark(),
                            rx.icon("check", size=12, class_name="bubble-time", aria_label="Sent"),
                        ),
                    ),
                    spacing="1",
                    align="center",
                    justify="end",
                ),
                rx.cond(
                    status == "failed",
                    rx.hstack(
                        rx.text("Not sent: ", m["error"].to(str), size="1", role="alert"),
                        rx.button(
                            "Retry",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            type="button",
                            on_click=ChatState.resend(m["cid"].to(str)),
                        ),
                        rx.button(
                            "Discard",
                            size="1",
                            variant="ghost",
                            color_scheme="gray",
                            type="button",
                            on_click=ChatState.discard(m["cid"].to(str)),
                        ),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                ),
                class_name=rx.cond(mine, "bubble bubble-mine", "bubble bubble-theirs"),
                data_status=status,
            ),
            toolbar(m, mine, _moderates(a)),
            class_name=rx.cond(
                m["id"].to(int) == ChatState.highlight,
                rx.cond(mine, "msg-row msg-row-mine highlight", "msg-row highlight"),
                rx.cond(mine, "msg-row msg-row-mine", "msg-row"),
            ),
            id="m" + m["id"].to(str),
            data_testid="message",
        ),
    )


def seen_mark() -> rx.Component:
    """✓✓ and "Seen" (a group: "Seen by N", tap for who) on the viewer's message that was read."""
    label = rx.hstack(
        rx.icon("check-check", size=12, class_name="bubble-time", aria_hidden="true"),
        rx.text(ChatState.seen_label, size="1", class_name="bubble-time"),
        spacing="1",
        align="center",
        data_testid="seen",
    )
    return rx.cond(
        ChatState.active["group"].to(bool),
        rx.popover.root(
            rx.popover.trigger(
                rx.el.button(label, class_name="seen-button", type="button", aria_label="Seen by")
            ),
            rx.popover.content(
                rx.foreach(ChatState.seen_names, lambda n: rx.text(n, size="2")),
                max_width="260px",
            ),
        ),
        label,
    )


def _moderates(a: rx.Var) -> rx.Var:
    """The viewer may delete anyone's message here (a group's moderator, admin or owner; the
    server checks again)."""
    role = a["role"].to(str)
    return a["group"].to(bool) & ((role == "owner") | (role == "admin") | (role == "moderator"))


PATCHES = [getattr(ArrivalState, patch_name(i)) for i in range(N_PATCHES)]


def _patched(m: rx.Var[dict[str, Any]]) -> rx.Var:
    """A history bubble as it is now: its patch var when the message changed since the page was
    loaded (state/timeline.py replace), else the page's copy. One small var per change."""
    out: rx.Var = m
    for p in reversed(PATCHES):
        out = rx.cond(p["key"].to(str) == m["key"].to(str), p, out)
    return out


def _keyed(m: rx.Var[dict[str, Any]]) -> rx.Component:
    return message_bubble(m=_patched(m), key=m["key"].to(str))


SLOTS = rx.Var.create([getattr(ArrivalState, slot_name(i)) for i in range(N_SLOTS)])


def message_list() -> rx.Component:
    return rx.box(
        rx.box(
            rx.cond(
                ChatState.has_more,
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
                rx.center(
                    rx.text(
                        rx.cond(
                            ChatState.active["group"].to(bool),
                            "This is the beginning of the group ",
                            "This is the beginning of your conversation with ",
                        ),
                        ChatState.active["title"].to(str),
                        ".",
                        size="1",
                        class_name="muted",
                    ),
                    padding="16px 8px",
                    class_name="conversation-start",
                ),
            ),
            *[rx.foreach(getattr(HistoryState, page_name(i)), _keyed) for i in range(N_PAGES)],
            rx.foreach(SLOTS, lambda m: rx.cond(m["key"], message_bubble(m=m))),
            rx.box(id="messages-end", height="1px"),
            class_name="messages-inner",
        ),
        id="message-scroller",
        class_name="messages",
        role="log",
        aria_label="Conversation history",
        aria_live="polite",
        # Debounced, not throttled: Reflex's throttle drops the last event of a burst, and the
        # last position (at the top: load older; at the bottom: clear the pill) is the one needed.
        on_scroll=ChatState.scrolled(rx.Var(SCROLL_JS)).debounce(120),
    )


def group_header() -> rx.Component:
    a = ChatState.active
    return rx.hstack(
        avatar(a["avatar"], a["initials"], a["title"], 36),
        rx.box(
            rx.text(a["title"], weight="bold", size="3", class_name="truncate", as_="div"),
            rx.text(
                rx.cond(
                    ChatState.typing_label != "",
                    ChatState.typing_label,
                    rx.cond(a["left"].to(bool), "You are no longer a member", "Group"),
                ),
                size="1",
                class_name="muted",
                as_="div",
                data_testid="header-status",
            ),
            min_width="0",
            flex="1",
        ),
        rx.cond(~a["left"].to(bool), group_info_dialog()),
        align="center",
        spacing="3",
        flex="1",
        min_width="0",
    )


def conversation_header() -> rx.Component:
    a = ChatState.active
    return rx.hstack(
        rx.icon_button(
            rx.icon("arrow-left"),
            on_click=rx.redirect("/", replace=True),
            variant="ghost",
            aria_label="Back to conversations",
            class_name="back-button",
        ),
        rx.cond(a["group"].to(bool), group_header(), person_header()),
        mute_menu(),  # Mute: 8 hours, 1 week, always (components/notify.py)
        align="center",
        spacing="3",
        class_name="conv-header",
    )


def person_header() -> rx.Component:
    a = ChatState.active
    return rx.fragment(
        profile_dialog(
            rx.el.button(
                presence_avatar(a["avatar"], a["initials"], a["title"], a["online"], size=36),
                rx.box(
                    rx.text(a["title"], weight="bold", size="3", class_name="truncate", as_="div"),
                    rx.text(
                        rx.cond(
                            ChatState.typing_label != "",
                            ChatState.typing_label,
                            last_seen(a["online"], a["last_seen"]),
                        ),
                        size="1",
                        color_scheme=rx.cond(a["online"].to(bool), "green", "gray"),
                        as_="div",
                        data_testid="header-status",
                    ),
                    min_width="0",
                    text_align="left",
                ),
                on_click=ChatState.show_profile(a["peer_id"]),
                class_name="conv-header-person",
                aria_label="View profile",
                type="button",
            )
        ),
    )


def profile_dialog(trigger: rx.Component) -> rx.Component:
    card = ChatState.profile_card
    return rx.dialog.root(
        rx.dialog.trigger(trigger),
        rx.dialog.content(
            rx.vstack(
                avatar(card["avatar"], card["initials"], card["name"], 96),
                rx.dialog.title(card["name"].to(str), margin_bottom="0"),
                rx.text("@", card["username"].to(str), class_name="muted", size="2"),
                rx.cond(
                    card["online"].to(bool),
                    rx.badge("online", color_scheme="green"),
                    rx.text(
                        last_seen(card["online"], card["last_seen"]), size="2", class_name="muted"
                    ),
                ),
                rx.cond(
                    card["bio"].to(str) != "",
                    rx.text(card["bio"].to(str), size="3", class_name="profile-bio"),
                    rx.text("No bio yet.", size="2", class_name="muted"),
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
    up = ChatState.attachment
    error = rx.cond(up["error"].to(bool), up["error"].to(str), "")
    return rx.cond(
        up["name"].to(bool) | up["busy"].to(bool) | up["error"].to(bool),
        rx.hstack(
            rx.cond(
                up["thumb"].to(bool),
                rx.image(src=up["thumb"].to(str), alt="Selected image", class_name="attach-thumb"),
                rx.center(
                    rx.icon(rx.cond(error != "", "image-off", "image"), size=22),
                    class_name="attach-thumb attach-placeholder",
                ),
            ),
            rx.box(
                rx.text(up["name"].to(str), size="2", class_name="truncate"),
                rx.cond(
                    error != "",
                    rx.text(error, size="2", color_scheme="red", role="alert"),
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
                on_click=ChatState.clear_attachment,
                variant="soft",
                size="1",
                aria_label="Remove image",
                type="button",
            ),
            align="center",
            spacing="3",
            class_name="attach-preview",
        ),
    )


def composer() -> rx.Component:
    ready_image = ChatState.attachment["id"].to(str) != ""
    too_long = ChatState.draft_len > MAX_CHARS
    cant_send = (ChatState.draft_blank & ~ready_image) | too_long
    return rx.form(
        # The conversation this text was typed in travels with it (read from the page when Send
        # is pressed), so a send that waited out a reconnect still goes to that person.
        rx.el.input(type="hidden", name="conversation", value=ChatState.active_id.to(str)),
        # The attached image's id and who is sending, kept with the text in the browser until
        # it is stored (KEEP_UNSENT_JS).
        rx.el.input(type="hidden", name="media", value=ChatState.attachment["id"].to(str)),
        rx.el.input(type="hidden", name="who", value=SessionState.username),
        # The message this one answers (state/actions.py; checked again on the server).
        rx.el.input(type="hidden", name="reply", value=ActionState.replying["id"].to(str)),
        reply_bar(),
        attachment_preview(),
        rx.hstack(
            rx.upload.root(
                rx.icon_button(
                    rx.icon("image-plus", size=18),
                    type="button",
                    variant="ghost",
                    size="2",
                    aria_label="Attach image",
                    title="Attach image",
                ),
                id="chat-upload",
                accept=uploads.ACCEPT,
                max_files=1,
                multiple=False,
                max_size=images.MAX_BYTES,
                no_drag=True,
                no_keyboard=True,
                on_drop=ChatState.attach_image(
                    rx.upload_files_chunk(
                        upload_id="chat-upload", on_upload_progress=ChatState.upload_progress
                    )
                ),
                on_drop_rejected=ChatState.upload_rejected,
                class_name="upload-zone",
                border="none",
                padding="0",
            ),
            rx.text_area(
                id="composer",
                # Redrawn per conversation, starting from its draft (kept across reloads).
                key=ChatState.active_id.to(str),
                default_value=ChatState.composer_seed,
                name="body",
                placeholder="Write a message…",
                aria_label="Message",
                enter_key_submit=True,
                auto_height=True,
                rows="1",
                size="2",
                class_name="composer-input",
                min_height="40px",
                on_change=lambda text: ChatState.set_draft(text, ChatState.active_id).debounce(250),
                # "… is typing" for the others: at most one event every 3 s while keys are
                # pressed (its own trigger: a throttle on on_change would throttle the draft).
                on_key_up=lambda _key: ChatState.typing(ChatState.active_id).throttle(3000),
                on_blur=lambda text: ChatState.set_draft(text, ChatState.active_id),
                aria_describedby="composer-count",
            ),
            rx.button(
                rx.icon("send-horizontal", size=16),
                rx.text("Send", class_name="hide-narrow"),
                type="submit",
                aria_label="Send",
                size="2",
                disabled=cant_send,
            ),
            align="end",
            spacing="2",
            width="100%",
        ),
        rx.text(
            rx.cond(
                ChatState.draft_len > MAX_CHARS - 500,
                ChatState.draft_len.to(str) + f" / {MAX_CHARS:,}",
                "",
            ),
            id="composer-count",
            size="1",
            class_name=rx.cond(too_long, "composer-count over", "composer-count"),
            aria_live="polite",
        ),
        # Kept in the browser (with its client id) before it leaves: see KEEP_UNSENT_JS.
        on_submit=lambda form: ChatState.send(KEEP_UNSENT.call(form)),
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
                        "Pick a conversation, or search for someone to start one.",
                        class_name="muted",
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
                message_list(),
                rx.cond(
                    ChatState.pill,
                    rx.button(
                        rx.icon("arrow-down", size=14),
                        "New messages",
                        on_click=ChatState.jump_to_newest,
                        class_name="new-pill",
                        radius="full",
                        size="1",
                    ),
                ),
                rx.cond(
                    ChatState.active["left"].to(bool),
                    rx.box(
                        rx.text(
                            rx.cond(
                                ChatState.active["removed"].to(bool),
                                "You were removed from this group.",
                                "You left this group.",
                            ),
                            " You can read what was said until then.",
                            size="2",
                        ),
                        class_name="composer composer-closed",
                        role="status",
                        data_testid="removed-banner",
                    ),
                    composer(),
                ),
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
        sidebar(),
        conversation_pane(),
        notice_banner(),
        action_error(),
        edit_dialog(),
        delete_dialog(),
        class_name=rx.cond(ChatState.active_id != 0, "chat-layout has-active", "chat-layout"),
    )
