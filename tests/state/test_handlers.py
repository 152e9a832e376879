"""What the browser can call: every state's public event handlers, listed. A method that is not
an action a page takes (identity checks, delivery from the real-time bus) must be backend-only
(a leading underscore), or a crafted event could call it (issue 11, finding 9)."""

from __future__ import annotations

import chatapp.chatapp  # noqa: F401  (registers every page's states)
from chatapp.state.account import ProfileState, SettingsState
from chatapp.state.actions import ActionState
from chatapp.state.auth_forms import LoginState, SignupState
from chatapp.state.chat import ChatState
from chatapp.state.groups import GroupState
from chatapp.state.notify import NotifyState
from chatapp.state.session import SessionState

CALLABLE_FROM_THE_BROWSER = {
    SessionState: {"require_login", "redirect_if_signed_in", "log_out", "log_out_everywhere"},
    ChatState: {
        "load", "retry_load", "set_clock", "set_search", "toggle_online_only", "open_person",
        "open_conversation", "show_profile", "set_profile_open", "dismiss_notice", "load_older",
        "scrolled", "jump_to_newest", "set_draft", "send", "flush_outbox", "retry_failed_later",
        "resend", "discard", "attach_image", "upload_progress", "upload_rejected",
        "clear_attachment", "jump_to", "typing",
    },
    ActionState: {
        "start_edit", "set_edit_open", "save_edit", "ask_delete", "cancel_delete",
        "confirm_delete", "react", "show_reactors", "start_reply", "cancel_reply",
        "dismiss_error",
    },
    GroupState: {
        "set_new_open", "set_new_name", "search_new", "pick", "unpick", "attach_picture",
        "picture_rejected", "create", "open_info", "set_info_open", "search_add", "add",
        "remove", "set_role", "transfer", "rename", "set_can_add", "use_picture", "ask",
        "leave", "delete",
    },
    NotifyState: {
        "client_ready", "subscribed", "turn_off", "set_show_text", "mute", "dismiss_toast",
    },
}  # fmt: skip

NEVER = {
    "current_user_id", "ensure_signed_in", "apply_event", "apply_message", "apply_group",
    "deliver", "apply", "forget", "apply_change", "older_page", "arrived", "on_event",
    "show_mute",
}  # fmt: skip


def _explicit(cls: type) -> set[str]:
    """Handlers written in the class. (Reflex adds `setvar`, which only calls an existing
    `set_<name>` handler: automatic setters are off, so those are the ones listed.)"""
    return {n for n in vars(cls) if not n.startswith("_")}


def test_identity_and_delivery_are_not_event_handlers() -> None:
    for cls in (
        SessionState, ChatState, GroupState, ActionState, ProfileState, SettingsState,
        LoginState, SignupState, NotifyState,
    ):  # fmt: skip
        assert not NEVER & set(cls.event_handlers), cls.__name__


def test_the_browser_can_call_only_the_listed_handlers() -> None:
    for cls, allowed in CALLABLE_FROM_THE_BROWSER.items():
        assert set(cls.event_handlers) - {"setvar"} == allowed, cls.__name__
