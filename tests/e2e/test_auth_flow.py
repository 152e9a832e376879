"""Accounts end to end: a real Chromium against the real app on MariaDB."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import PASSWORD, log_in, session_cookie, sign_up, unique_name, url_re

pytestmark = pytest.mark.e2e


def test_sign_up_reload_cookie_and_isolation(browser: Browser, base_url: str) -> None:
    alice = browser.new_context()
    page = alice.new_page()
    name = unique_name("alice")
    sign_up(page, base_url, name)

    # Reload keeps you signed in.
    page.reload()
    expect(page.get_by_test_id("header-display-name")).to_have_text(name)
    assert url_re(base_url, "/").match(page.url)

    # The session cookie is HttpOnly, SameSite=Lax, and invisible to page scripts.
    cookie = session_cookie(alice)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert "chatapp_session" not in page.evaluate("document.cookie")

    # Signed-in users visiting /login go to /.
    page.goto(f"{base_url}/login")
    page.wait_for_url(url_re(base_url, "/"))

    # Another context is anonymous and is sent to /login from every signed-in page.
    other = browser.new_context()
    anon = other.new_page()
    for path in ["/", "/profile", "/settings"]:
        anon.goto(f"{base_url}{path}")
        anon.wait_for_url(url_re(base_url, "/login"))
        expect(anon.get_by_role("button", name="Log in")).to_be_visible()
    expect(anon.get_by_text(name)).to_have_count(0)
    alice.close()
    other.close()


def test_log_out_kills_the_old_cookie(browser: Browser, base_url: str) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    name = unique_name("bob")
    sign_up(page, base_url, name)
    stolen = session_cookie(ctx)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(url_re(base_url, "/login"))
    assert not [c for c in ctx.cookies() if c["name"] == "chatapp_session"]

    # Replaying the old cookie in a fresh browser signs nobody in.
    thief = browser.new_context()
    thief.add_cookies([stolen])  # type: ignore[list-item]
    tp = thief.new_page()
    tp.goto(f"{base_url}/")
    tp.wait_for_url(url_re(base_url, "/login"))

    # Logging in again works, by email this time.
    log_in(page, base_url, f"{name}@example.com")
    expect(page.get_by_test_id("header-display-name")).to_have_text(name)
    ctx.close()
    thief.close()


def test_bad_sign_up_input_shows_field_errors(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/signup")
    page.get_by_label("Username", exact=True).fill("x")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#field-username-error")).to_contain_text("3–32 characters")
    expect(page.locator("#field-email-error")).to_contain_text("valid email")
    expect(page.locator("#field-password-error")).to_contain_text("at least 8")
    expect(page.get_by_label("Username", exact=True)).to_have_attribute("aria-invalid", "true")
    assert url_re(base_url, "/signup").match(page.url)


def test_duplicate_username_and_wrong_password(browser: Browser, base_url: str) -> None:
    ctx = browser.new_context()
    page = ctx.new_page()
    name = unique_name("carol")
    sign_up(page, base_url, name)
    other = browser.new_context().new_page()
    other.goto(f"{base_url}/signup")
    other.get_by_label("Username", exact=True).fill(name.upper())
    other.get_by_label("Email").fill(f"x{name}@example.com")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign up").click()
    expect(other.locator("#field-username-error")).to_contain_text("taken")

    other.goto(f"{base_url}/login")
    other.get_by_label("Username or email").fill(name)
    other.get_by_label("Password").fill("wrong password!")
    other.get_by_role("button", name="Log in").click()
    expect(other.get_by_role("alert")).to_contain_text("Wrong username/email or password")
    assert url_re(base_url, "/login").match(other.url)
    ctx.close()


def test_log_out_of_all_devices(browser: Browser, base_url: str) -> None:
    name = unique_name("dave")
    first = browser.new_context()
    p1 = first.new_page()
    sign_up(p1, base_url, name)
    p1_profile = first.new_page()  # the same browser, another tab, on a page without live data
    p1_profile.goto(f"{base_url}/profile")
    expect(p1_profile.get_by_label("Display name")).to_have_value(name)
    second = browser.new_context()
    p2 = second.new_page()
    log_in(p2, base_url, name)

    p2.goto(f"{base_url}/settings")
    p2.get_by_role("button", name="Log out of all devices").click()
    p2.wait_for_url(url_re(base_url, "/login"))
    # The first device's tab, open and idle on the chat page, goes to /login by itself
    # (issue 11 finding 2: it used to keep receiving messages until reloaded).
    p1.wait_for_url(url_re(base_url, "/login"), timeout=10_000)
    p1_profile.wait_for_url(url_re(base_url, "/login"), timeout=10_000)
    first.close()
    second.close()


def test_a_password_change_signs_out_the_other_devices_open_tabs(
    browser: Browser, base_url: str
) -> None:
    name = unique_name("erin")
    laptop = browser.new_context().new_page()
    sign_up(laptop, base_url, name)
    phone = browser.new_context().new_page()
    log_in(phone, base_url, name)
    expect(phone.get_by_test_id("header-display-name")).to_have_text(name)

    laptop.goto(f"{base_url}/settings")
    laptop.get_by_label("Current password").fill(PASSWORD)
    laptop.get_by_label("New password").fill(PASSWORD + "-new")
    laptop.get_by_role("button", name="Change password").click()
    expect(laptop.get_by_text("Password changed.")).to_be_visible()
    # The phone's open tab leaves without a reload; the laptop stays signed in.
    phone.wait_for_url(url_re(base_url, "/login"), timeout=10_000)
    laptop.goto(f"{base_url}/")
    expect(laptop.get_by_test_id("header-display-name")).to_have_text(name)
    laptop.context.close()
    phone.context.close()


def test_phone_width_login_page(browser: Browser, base_url: str) -> None:
    ctx = browser.new_context(viewport={"width": 360, "height": 740})
    page = ctx.new_page()
    page.goto(f"{base_url}/login")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    ctx.close()
