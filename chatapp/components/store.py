"""Python handles on the browser-side chat store (chat_store.js)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.utils.imports import ImportVar
from reflex_base.vars import VarData
from reflex_base.vars.function import FunctionVar

from chatapp.state.chat import ChatState

STORE_JS = rx.asset("chat_store.js", shared=True)
_LIB = STORE_JS.importable_path


def _imports(*names: str) -> dict[str, list[ImportVar]]:
    return {_LIB: [ImportVar(tag=n) for n in names]}


_store = rx.Var(
    "chatStore",
    _var_data=VarData(
        hooks={"const chatStore = useChatStore();": None},
        imports=_imports("useChatStore"),
    ),
).to(dict[str, Any])

messages: rx.Var[list[dict[str, Any]]] = _store["msgs"].to(list[dict[str, Any]])
conversations: rx.Var[list[dict[str, Any]]] = _store["convs"].to(list[dict[str, Any]])
active: rx.Var[dict[str, Any]] = _store["active"].to(dict[str, Any])
has_more: rx.Var[bool] = _store["hasMore"].to(bool)
pill: rx.Var[bool] = _store["pill"].to(bool)
loaded_conv: rx.Var[int] = _store["conv"].to(int)
uploads: rx.Var[dict[str, Any]] = _store["uploads"].to(dict[str, Any])


def upload(purpose: str) -> rx.Var[dict[str, Any]]:
    """The image being attached for `purpose` ("chat" or "avatar"), or null."""
    return uploads[purpose].to(dict[str, Any])


def pick_image(purpose: str) -> rx.event.EventSpec:
    return rx.call_script(f"window.chatStore.pickImage('{purpose}')")


def clear_upload(purpose: str) -> rx.event.EventSpec:
    return rx.call_script(f"window.chatStore.clearUpload('{purpose}')")


def upload_id(purpose: str) -> rx.Var[str]:
    """Evaluated in the browser when the event fires: "", "uploading" or the media id."""
    return rx.Var(f"uploadId('{purpose}')", _var_data=VarData(imports=_imports("uploadId"))).to(str)


scroll_to_newest = rx.Var(
    "(() => scrollToNewest())", _var_data=VarData(imports=_imports("scrollToNewest"))
).to(FunctionVar)


class FeedSink(rx.Fragment):
    """Invisible: applies every ChatState.feed update to the store."""

    def add_hooks(self) -> list[str | rx.Var]:
        feed = ChatState.feed
        return [
            rx.Var(
                f"useChatFeed({feed!s});",
                _var_data=VarData.merge(
                    feed._get_all_var_data(), VarData(imports=_imports("useChatFeed"))
                ),
            )
        ]


def feed_sink() -> rx.Component:
    return FeedSink.create()


def begin_send(purpose: str) -> rx.Var[str]:
    """Evaluated in the browser on submit: a fresh client id for the message, which it also
    shows at once as pending (see beginSend in chat_store.js)."""
    return rx.Var(f"beginSend('{purpose}')", _var_data=VarData(imports=_imports("beginSend"))).to(
        str
    )
