"""/profile and /settings."""

from __future__ import annotations

import reflex as rx

from chatapp.components.avatar import avatar
from chatapp.components.forms import field, form_error
from chatapp.components.layout import signed_in_shell
from chatapp.components.notify import notification_settings
from chatapp.services import images
from chatapp.state import uploads
from chatapp.state.account import ProfileState, SettingsState
from chatapp.state.session import SessionState


def _panel(title: str, *children: rx.Component) -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.heading(title, size="6", as_="h1"),
            *children,
            spacing="4",
            width="100%",
            max_width="560px",
            margin_x="auto",
            padding="24px 16px",
        ),
        width="100%",
        overflow_y="auto",
    )


def _avatar_editor() -> rx.Component:
    up = ProfileState.avatar_upload
    ready = up["thumb"].to(bool)
    return rx.hstack(
        avatar(
            rx.cond(ready, up["thumb"].to(str), SessionState.avatar),
            SessionState.initials,
            "Your avatar",
            80,
        ),
        rx.vstack(
            rx.upload.root(
                rx.button(
                    rx.icon("upload", size=16),
                    "Upload avatar",
                    type="button",
                    variant="soft",
                    aria_label="Upload avatar",
                ),
                id="avatar-upload",
                accept=uploads.ACCEPT,
                max_files=1,
                multiple=False,
                max_size=images.MAX_BYTES,
                no_drag=True,
                on_drop=ProfileState.attach_avatar(
                    rx.upload_files_chunk(
                        upload_id="avatar-upload", on_upload_progress=ProfileState.avatar_progress
                    )
                ),
                on_drop_rejected=ProfileState.avatar_rejected,
                class_name="upload-zone",
                border="none",
                padding="0",
            ),
            rx.cond(
                up["error"].to(bool),
                rx.text(up["error"].to(str), color_scheme="red", size="2", role="alert"),
                rx.cond(
                    up["busy"].to(bool),
                    rx.hstack(
                        rx.progress(value=up["progress"].to(int), max=100, size="1", width="80px"),
                        rx.text("Uploading ", up["progress"].to(str), "%", size="2"),
                        align="center",
                    ),
                    rx.cond(
                        ready,
                        rx.text("Preview. Save to use it.", size="2", color_scheme="gray"),
                        rx.text(
                            "JPEG, PNG, WebP or GIF, up to 10 MB.", size="1", color_scheme="gray"
                        ),
                    ),
                ),
            ),
            spacing="2",
        ),
        align="center",
        spacing="4",
    )


def profile_page() -> rx.Component:
    return signed_in_shell(
        _panel(
            "Your profile",
            rx.form(
                rx.vstack(
                    _avatar_editor(),
                    rx.vstack(
                        rx.el.label(
                            "Display name", html_for="display-name", class_name="field-label"
                        ),
                        rx.input(
                            id="display-name",
                            name="display_name",
                            default_value=ProfileState.name,
                            key=ProfileState.name,
                            max_length=50,
                            size="3",
                            width="100%",
                        ),
                        rx.cond(
                            ProfileState.name_error != "",
                            rx.text(
                                ProfileState.name_error, color_scheme="red", size="2", role="alert"
                            ),
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.vstack(
                        rx.el.label("Bio", html_for="bio", class_name="field-label"),
                        rx.text_area(
                            id="bio",
                            name="bio",
                            default_value=ProfileState.bio,
                            key=ProfileState.bio,
                            rows="4",
                            width="100%",
                            placeholder="A line or two about you (280 characters)",
                        ),
                        rx.cond(
                            ProfileState.bio_error != "",
                            rx.text(
                                ProfileState.bio_error, color_scheme="red", size="2", role="alert"
                            ),
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    form_error(ProfileState.form_error),
                    rx.cond(
                        ProfileState.saved != "",
                        rx.callout(
                            ProfileState.saved, icon="check", color_scheme="green", width="100%"
                        ),
                    ),
                    rx.button("Save", type="submit", size="3", loading=ProfileState.busy),
                    spacing="4",
                    width="100%",
                    align="start",
                ),
                on_submit=ProfileState.save,
                width="100%",
            ),
            rx.text("@", SessionState.username, color_scheme="gray", size="2"),
        )
    )


def _theme_picker() -> rx.Component:
    return rx.radio_group.root(
        rx.hstack(
            *[
                rx.el.label(rx.radio_group.item(value=value), label, class_name="switch-row")
                for value, label in (("light", "Light"), ("dark", "Dark"), ("system", "System"))
            ],
            spacing="4",
        ),
        value=rx.style.color_mode,
        on_change=lambda v: rx.style.set_color_mode(v),
        aria_label="Theme",
    )


def settings_page() -> rx.Component:
    return signed_in_shell(
        _panel(
            "Settings",
            rx.card(
                rx.vstack(
                    rx.heading("Theme", size="4", as_="h2"),
                    _theme_picker(),
                    spacing="3",
                ),
                width="100%",
            ),
            rx.card(
                rx.form(
                    rx.vstack(
                        rx.heading("Change password", size="4", as_="h2"),
                        field(
                            "Current password",
                            "current_password",
                            SettingsState.current_error,
                            type_="password",
                            autocomplete="current-password",
                        ),
                        field(
                            "New password",
                            "new_password",
                            SettingsState.new_error,
                            type_="password",
                            autocomplete="new-password",
                            hint="At least 8 characters. Your other devices will be logged out.",
                        ),
                        rx.cond(
                            SettingsState.message != "",
                            rx.callout(
                                SettingsState.message,
                                icon="check",
                                color_scheme="green",
                                width="100%",
                            ),
                        ),
                        rx.button("Change password", type="submit", loading=SettingsState.busy),
                        spacing="3",
                        width="100%",
                        align="start",
                    ),
                    on_submit=SettingsState.change_password,
                    id="password-form",
                    width="100%",
                ),
                width="100%",
            ),
            notification_settings(),
            rx.card(
                rx.vstack(
                    rx.heading("Privacy", size="4", as_="h2"),
                    rx.el.label(
                        rx.switch(
                            checked=SettingsState.read_receipts,
                            on_change=SettingsState.set_read_receipts,
                        ),
                        rx.text("Send read receipts", size="2"),
                        class_name="switch-row",
                    ),
                    rx.text(
                        "When this is off, others do not see when you have read their messages, "
                        "and you do not see when they have read yours.",
                        color_scheme="gray",
                        size="2",
                    ),
                    spacing="3",
                ),
                width="100%",
            ),
            rx.card(
                rx.vstack(
                    rx.heading("Sessions", size="4", as_="h2"),
                    rx.text(
                        "Signed in on another computer or phone you no longer use? "
                        "Log out everywhere, including here.",
                        color_scheme="gray",
                        size="2",
                    ),
                    rx.button(
                        "Log out of all devices",
                        on_click=SessionState.log_out_everywhere,
                        color_scheme="red",
                        variant="soft",
                    ),
                    spacing="3",
                ),
                width="100%",
            ),
        )
    )
