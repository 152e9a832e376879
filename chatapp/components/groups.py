"""Groups: the "New group" form and the "Group info" dialog (state/groups.py).

Which controls a member sees follows services/membership.py's table; the server checks it again
on every change, so a hidden control is a courtesy, never the rule.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.components.avatar import avatar
from chatapp.components.notify import mute_menu
from chatapp.services import images
from chatapp.state import uploads
from chatapp.state.chat import ChatState
from chatapp.state.groups import GroupState
from chatapp.state.session import SessionState

OWNER, ADMIN, MODERATOR, MEMBER = "owner", "admin", "moderator", "member"
ROLE_LABEL = {OWNER: "Owner", ADMIN: "Admin", MODERATOR: "Moderator", MEMBER: "Member"}


def _picked_chip(p: rx.Var[dict[str, Any]]) -> rx.Component:
    return rx.badge(
        p["name"].to(str),
        rx.icon_button(
            rx.icon("x", size=12),
            on_click=GroupState.unpick(p["id"]),
            variant="ghost",
            size="1",
            aria_label="Remove " + p["name"].to(str),
            type="button",
        ),
        variant="soft",
        radius="full",
        class_name="picked-chip",
    )


def _result_row(p: rx.Var[dict[str, Any]], on_click: Any) -> rx.Component:
    return rx.el.button(
        avatar(p["avatar"], p["initials"], p["name"], 28),
        rx.box(
            rx.text(p["name"].to(str), weight="medium", size="2", class_name="truncate"),
            rx.text("@", p["username"].to(str), size="1", class_name="truncate muted"),
            flex="1",
            min_width="0",
        ),
        rx.icon("plus", size=16, aria_hidden="true"),
        on_click=on_click,
        class_name="conv-row",
        type="button",
        data_testid="group-person-result",
    )


def _picture_upload(upload_id: str, label: str) -> rx.Component:
    pic = GroupState.picture
    return rx.hstack(
        rx.upload.root(
            rx.button(
                rx.icon("image-plus", size=16), label, type="button", variant="soft", size="1"
            ),
            id=upload_id,
            accept=uploads.ACCEPT,
            max_files=1,
            multiple=False,
            max_size=images.MAX_BYTES,
            no_drag=True,
            on_drop=GroupState.attach_picture(rx.upload_files_chunk(upload_id=upload_id)),
            on_drop_rejected=GroupState.picture_rejected,
            border="none",
            padding="0",
        ),
        rx.cond(
            pic["thumb"].to(bool),
            rx.image(src=pic["thumb"].to(str), alt="New group picture", class_name="attach-thumb"),
        ),
        rx.cond(pic["busy"].to(bool), rx.text("Uploading…", size="1")),
        rx.cond(pic["error"].to(bool), rx.text(pic["error"].to(str), size="1", color_scheme="red")),
        align="center",
        spacing="2",
    )


def new_group_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("users", size=16),
                variant="soft",
                size="2",
                aria_label="New group",
                title="New group",
                type="button",
            )
        ),
        rx.dialog.content(
            rx.dialog.title("New group"),
            rx.form(
                rx.vstack(
                    rx.el.label(
                        rx.text("Group name", size="2", weight="medium"),
                        rx.input(
                            name="name",
                            value=GroupState.new_name,
                            on_change=GroupState.set_new_name,
                            max_length=64,
                            placeholder="Weekend trip",
                            aria_label="Group name",
                            auto_focus=True,
                        ),
                        class_name="field",
                    ),
                    _picture_upload("group-picture-new", "Group picture"),
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16)),
                        placeholder="Search people to add",
                        aria_label="Add members",
                        value=GroupState.new_search,
                        on_change=GroupState.search_new.debounce(250),
                        type="search",
                        width="100%",
                    ),
                    rx.flex(rx.foreach(GroupState.new_picked, _picked_chip), wrap="wrap", gap="2"),
                    rx.box(
                        rx.foreach(
                            GroupState.new_results,
                            lambda p: _result_row(p, GroupState.pick(p["id"])),
                        ),
                        class_name="group-results",
                    ),
                    rx.cond(
                        GroupState.new_error != "",
                        rx.text(GroupState.new_error, color_scheme="red", size="2", role="alert"),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Create", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=GroupState.create,
            ),
            max_width="440px",
        ),
        open=GroupState.new_open,
        on_open_change=GroupState.set_new_open,
    )


def _can_remove(me: rx.Var, them: rx.Var) -> rx.Var:
    return ((me == OWNER) & (them != OWNER)) | (
        (me == ADMIN) & ((them == MEMBER) | (them == MODERATOR))
    )


def _member_row(m: rx.Var[dict[str, Any]]) -> rx.Component:
    me = GroupState.my_role
    role = m["role"].to(str)
    is_me = m["username"].to(str) == SessionState.username
    name = m["name"].to(str)
    actions = rx.hstack(
        rx.cond(
            (me == OWNER) & ((role == MEMBER) | (role == MODERATOR)),
            rx.button(
                "Make admin",
                size="1",
                variant="soft",
                on_click=GroupState.set_role(m["id"], ADMIN),
                aria_label="Make admin: " + name,
            ),
        ),
        rx.cond(
            ((me == OWNER) & ((role == MEMBER) | (role == ADMIN)))
            | ((me == ADMIN) & (role == MEMBER)),
            rx.button(
                "Make moderator",
                size="1",
                variant="soft",
                on_click=GroupState.set_role(m["id"], MODERATOR),
                aria_label="Make moderator: " + name,
            ),
        ),
        rx.cond(
            ((me == OWNER) & ((role == ADMIN) | (role == MODERATOR)))
            | ((me == ADMIN) & (role == MODERATOR)),
            rx.button(
                "Make member",
                size="1",
                variant="soft",
                on_click=GroupState.set_role(m["id"], MEMBER),
                aria_label="Make member: " + name,
            ),
        ),
        rx.cond(
            me == OWNER,
            rx.button(
                "Transfer ownership",
                size="1",
                variant="soft",
                on_click=GroupState.transfer(m["id"]),
                aria_label="Transfer ownership: " + name,
            ),
        ),
        rx.cond(
            _can_remove(me, role),
            rx.button(
                "Remove",
                size="1",
                variant="soft",
                color_scheme="red",
                on_click=GroupState.remove(m["id"]),
                aria_label="Remove: " + name,
            ),
        ),
        spacing="1",
        wrap="wrap",
    )
    return rx.box(
        rx.hstack(
            rx.box(
                avatar(m["avatar"], m["initials"], name, 32),
                rx.cond(
                    m["online"].to(bool),
                    rx.box(class_name="online-dot", aria_label="online", role="img"),
                ),
                class_name="avatar-wrap",
            ),
            rx.box(
                rx.text(name, rx.cond(is_me, " (you)", ""), weight="medium", size="2", as_="div"),
                rx.text(
                    rx.cond(m["online"].to(bool), "online · ", ""),
                    rx.match(
                        role,
                        (OWNER, "Owner"),
                        (ADMIN, "Admin"),
                        (MODERATOR, "Moderator"),
                        "Member",
                    ),
                    size="1",
                    class_name="muted",
                    as_="div",
                ),
                flex="1",
                min_width="0",
            ),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.cond(~is_me, actions),
        class_name="member-row",
        data_testid="group-member",
        data_name=name,
    )


def group_info_dialog() -> rx.Component:
    me = GroupState.my_role
    admin = (me == OWNER) | (me == ADMIN)
    can_add = admin | ((me != "") & GroupState.can_add)
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("info", size=18),
                variant="ghost",
                aria_label="Group info",
                title="Group info",
                on_click=GroupState.open_info(ChatState.active_id),
                type="button",
            )
        ),
        rx.dialog.content(
            rx.vstack(
                rx.hstack(
                    avatar(GroupState.avatar, ChatState.active["initials"], GroupState.name, 56),
                    rx.box(
                        rx.dialog.title(GroupState.name, margin_bottom="0"),
                        rx.text(
                            GroupState.members.length().to(str),
                            " members",
                            size="2",
                            class_name="muted",
                        ),
                    ),
                    rx.spacer(),
                    mute_menu(),  # (components/notify.py)
                    align="center",
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    GroupState.info_error != "",
                    rx.text(GroupState.info_error, color_scheme="red", size="2", role="alert"),
                ),
                rx.cond(
                    admin,
                    rx.vstack(
                        rx.form(
                            rx.hstack(
                                rx.input(
                                    name="name",
                                    default_value=GroupState.name,
                                    key=GroupState.name,
                                    max_length=64,
                                    aria_label="Group name",
                                    flex="1",
                                ),
                                rx.button("Rename", type="submit", variant="soft"),
                                width="100%",
                            ),
                            on_submit=GroupState.rename,
                            width="100%",
                        ),
                        rx.hstack(
                            _picture_upload("group-picture-info", "Change picture"),
                            rx.cond(
                                GroupState.picture["id"].to(bool),
                                rx.button(
                                    "Use this picture",
                                    size="1",
                                    on_click=GroupState.use_picture,
                                    type="button",
                                ),
                            ),
                            align="center",
                        ),
                        rx.el.label(
                            rx.switch(
                                checked=GroupState.can_add,
                                on_change=GroupState.set_can_add,
                                size="1",
                            ),
                            rx.text("Members can add people", size="2"),
                            class_name="switch-row",
                        ),
                        width="100%",
                        spacing="2",
                    ),
                ),
                rx.cond(
                    can_add,
                    rx.vstack(
                        rx.input(
                            rx.input.slot(rx.icon("user-plus", size=16)),
                            placeholder="Search people to add",
                            aria_label="Add members",
                            value=GroupState.add_search,
                            on_change=GroupState.search_add.debounce(250),
                            type="search",
                            width="100%",
                        ),
                        rx.box(
                            rx.foreach(
                                GroupState.add_results,
                                lambda p: _result_row(p, GroupState.add(p["id"])),
                            ),
                            class_name="group-results",
                            width="100%",
                        ),
                        width="100%",
                        spacing="1",
                    ),
                ),
                rx.text("Members", class_name="section-title"),
                rx.box(
                    rx.foreach(GroupState.members, _member_row),
                    class_name="member-list",
                    width="100%",
                ),
                rx.cond(
                    GroupState.confirm == "",
                    rx.hstack(
                        rx.cond(
                            me != "",
                            rx.button(
                                "Leave group",
                                color_scheme="red",
                                variant="soft",
                                on_click=GroupState.ask("leave"),
                                type="button",
                            ),
                        ),
                        rx.cond(
                            me == OWNER,
                            rx.button(
                                "Delete group",
                                color_scheme="red",
                                on_click=GroupState.ask("delete"),
                                type="button",
                            ),
                        ),
                        rx.spacer(),
                        rx.dialog.close(rx.button("Close", variant="soft", type="button")),
                        width="100%",
                    ),
                    rx.callout(
                        rx.vstack(
                            rx.text(
                                rx.cond(
                                    GroupState.confirm == "delete",
                                    "Delete the group and all its messages for everyone?",
                                    "Leave the group? You keep what was said until now.",
                                )
                            ),
                            rx.hstack(
                                rx.cond(
                                    GroupState.confirm == "delete",
                                    rx.button(
                                        "Yes, delete group",
                                        color_scheme="red",
                                        on_click=GroupState.delete,
                                        type="button",
                                    ),
                                    rx.button(
                                        "Yes, leave group",
                                        color_scheme="red",
                                        on_click=GroupState.leave,
                                        type="button",
                                    ),
                                ),
                                rx.button(
                                    "Cancel",
                                    variant="soft",
                                    on_click=GroupState.ask(""),
                                    type="button",
                                ),
                            ),
                        ),
                        color_scheme="red",
                        width="100%",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            max_width="520px",
        ),
        open=GroupState.info_open,
        on_open_change=GroupState.set_info_open,
    )
