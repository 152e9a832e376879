"""The Reflex app: pages, routes and the HTTP endpoints mounted beside them."""

from __future__ import annotations

import reflex as rx

from chatapp.components.notify import favicon_link, tab_title
from chatapp.observability import logs
from chatapp.pages.account import profile_page, settings_page
from chatapp.pages.auth import login_page, signup_page
from chatapp.pages.home import home_page
from chatapp.pages.not_found import not_found_page
from chatapp.state import binding, bridge
from chatapp.state.account import ProfileState, SettingsState
from chatapp.state.chat import ChatState
from chatapp.state.outage import backend_exception_handler
from chatapp.state.session import SessionState
from chatapp.web import pwa_routes as pwa
from chatapp.web.auth_routes import build_routes_app
from chatapp.web.guard import Guard, check_socket_origins

# Once, before the app and its server log anything: stdlib logging through structlog (one JSON
# object per line in production, text in development).
logs.configure_from_settings()


class ChatApp(rx.App):
    """rx.App whose ASGI app is wrapped, outermost, in the cross-origin and security-header
    guard (chatapp/web/guard.py): it then covers every response, Reflex's own included."""

    def __call__(self):  # type: ignore[no-untyped-def]
        return Guard(super().__call__())


app = ChatApp(
    stylesheets=["/styles.css"],
    api_transformer=build_routes_app(),
    # An event that cannot run at all (Redis away) says so plainly (state/outage.py).
    backend_exception_handler=backend_exception_handler,
    head_components=[
        rx.el.meta(name="viewport", content="width=device-width, initial-scale=1"),
        # assets/ is served at /: the chat-bubble icon in the accent colour. The tab icon is
        # /favicon.ico (browsers ask for it by themselves); the chat page renders its own, with
        # a dot while anything is unread (components/notify.py).
        rx.el.link(rel="apple-touch-icon", href="/apple-touch-icon.png"),
        # Installable (web/pwa_routes.py): the manifest, and the browser's bar in our colours.
        rx.el.link(rel="manifest", href="/manifest.webmanifest"),
        rx.el.meta(name="theme-color", content=pwa.THEME_LIGHT, media=pwa.LIGHT),
        rx.el.meta(name="theme-color", content=pwa.THEME_DARK, media=pwa.DARK),
    ],
)

# ChatState.load checks the session cookie itself (and copes with a database outage). The
# title counts unread messages ("(3) chatapp"), the icon shows a dot.
app.add_page(home_page, route="/", title=tab_title(), meta=[favicon_link()], on_load=ChatState.load)
# One URL per conversation: Back returns to the list, reload and links open it (members only).
app.add_page(
    home_page,
    route="/c/[conv_id]",
    title=tab_title(),
    meta=[favicon_link()],
    on_load=ChatState.load,
)
app.add_page(
    profile_page,
    route="/profile",
    title="Profile · chatapp",
    on_load=[SessionState.require_login, ProfileState.load],
)
app.add_page(
    settings_page,
    route="/settings",
    title="Settings · chatapp",
    on_load=[SessionState.require_login, SettingsState.load_settings],
)
app.add_page(
    login_page, route="/login", title="Log in · chatapp", on_load=SessionState.redirect_if_signed_in
)
app.add_page(
    signup_page,
    route="/signup",
    title="Sign up · chatapp",
    on_load=SessionState.redirect_if_signed_in,
)
# Any URL no page claims.
app.add_page(not_found_page, route="404", title="Page not found · chatapp", image="icon-512.png")

bridge.install(app)
# Each event is bound to its own connection's session cookie (a replayed token gets nothing).
binding.install(app)
check_socket_origins(app)
