"""Small helpers for driving the UI the way a person does (by accessible names)."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import BrowserContext, Page, expect

PASSWORD = "correct horse battery"


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def sign_up(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/signup")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(url_re(base_url, "/"), timeout=45_000)
    expect(page.get_by_test_id("header-display-name")).to_have_text(username)


def log_in(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url_re(base_url, "/"), timeout=45_000)


def session_cookie(context: BrowserContext) -> dict:  # type: ignore[type-arg]
    cookies = [c for c in context.cookies() if c["name"] == "chatapp_session"]
    assert len(cookies) == 1, context.cookies()
    return dict(cookies[0])


def url_re(base_url: str, path: str) -> re.Pattern[str]:
    """The page at `path`, with or without the trailing slash the static build adds."""
    return re.compile("^" + re.escape(base_url + path.rstrip("/")) + "/?([?#].*)?$")


def composer(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("textbox", name="Message")


def open_chat_with(page: Page, username: str) -> None:
    """Search for a person and open the direct conversation with them."""
    page.get_by_label("Search people").fill(username)
    page.get_by_test_id("person-row").filter(has_text=f"@{username}").click()
    expect(page.locator(".conv-header")).to_contain_text(username)


def send(page: Page, text: str) -> None:
    box = composer(page)
    box.fill(text)
    box.press("Enter")


def bubbles(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("message")
