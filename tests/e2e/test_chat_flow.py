"""Direct messages end to end: two users in two browser contexts, plus a second tab."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.helpers import bubbles, composer, open_chat_with, send, sign_up, unique_name

pytestmark = pytest.mark.e2e


def test_two_users_chat_live(browser: Browser, base_url: str) -> None:
    a_name, b_name, c_name = unique_name("ann"), unique_name("ben"), unique_name("cid")
    tag = secrets.token_hex(3)
    a_ctx, b_ctx, c_ctx = browser.new_context(), browser.new_context(), browser.new_context()
    a = a_ctx.new_page()
    b = b_ctx.new_page()
    c = c_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    sign_up(c, base_url, c_name)  # a third user, online all along

    # A opens the conversation with B and sends with Enter.
    open_chat_with(a, b_name)
    first = f"Hello Ben 👋 {tag}"
    send(a, first)
    expect(bubbles(a).last).to_contain_text(first)
    expect(bubbles(a).last.locator(".bubble")).to_have_attribute("data-status", "sent")
    expect(composer(a)).to_have_value("")

    # B sees the conversation appear in the sidebar, with preview and unread badge, live.
    row = b.get_by_test_id("conversation-row").filter(has_text=a_name)
    expect(row).to_contain_text(first)
    expect(row.locator(".unread-badge")).to_have_text("1")

    # A's second tab (same browser, same cookie) opens the conversation too.
    a2 = a_ctx.new_page()
    a2.goto(f"{base_url}/")
    a2.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    expect(bubbles(a2)).to_have_count(1)

    # B opens it: the badge clears, the message is there; B replies (Shift+Enter = new line).
    row.click()
    expect(bubbles(b)).to_have_count(1)
    expect(bubbles(b).first).to_contain_text(first)
    expect(row.locator(".unread-badge")).to_have_count(0)
    box = composer(b)
    box.type("Hi Ann!")
    box.press("Shift+Enter")
    box.type(f"second line {tag}")
    expect(box).to_have_value(f"Hi Ann!\nsecond line {tag}")
    b.get_by_role("button", name="Send").click()
    expect(bubbles(b)).to_have_count(2)

    # The sender's view and A's second tab update without reload.
    expect(bubbles(a)).to_have_count(2)
    expect(bubbles(a).last).to_contain_text(f"second line {tag}")
    expect(bubbles(a2)).to_have_count(2)
    expect(bubbles(a2).last).to_contain_text("Hi Ann!")

    # A third message from A's second tab reaches A's first tab and B.
    send(a2, f"from tab two {tag}")
    for page in (a, a2, b):
        expect(bubbles(page)).to_have_count(3)

    # Both reload: the whole history, in order, once each.
    for page in (a, b):
        page.reload()
        expect(bubbles(page)).to_have_count(3)
        texts = bubbles(page).all_inner_texts()
        assert first in texts[0]
        assert "Hi Ann!" in texts[1]
        assert f"from tab two {tag}" in texts[2]

    # The third user, online all along, saw nothing of it. Rather than wait and see: A then
    # writes to C, and a tab gets its events in order, so once that message is shown anything
    # of the conversation above that reached C's tab has been shown too.
    open_chat_with(a, c_name)
    send(a, "hello Cid")
    c_rows = c.get_by_test_id("conversation-row")
    for reload in (False, True):  # live, then from the database
        if reload:
            c.reload()
        expect(c_rows.filter(has_text=a_name)).to_contain_text("hello Cid")
        expect(c_rows).to_have_count(1)
        expect(c_rows.filter(has_text=b_name)).to_have_count(0)
        expect(c.get_by_text(tag)).to_have_count(0)
    for ctx in (a_ctx, b_ctx, c_ctx):
        ctx.close()


def test_badge_counts_and_presence(browser: Browser, base_url: str) -> None:
    a_name, b_name = unique_name("amy"), unique_name("bob")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    for i in range(3):
        send(a, f"ping {i}")
    expect(bubbles(a)).to_have_count(3)
    row = b.get_by_test_id("conversation-row").filter(has_text=a_name)
    expect(row.locator(".unread-badge")).to_have_text("3")
    expect(row).to_contain_text("ping 2")
    # B is online: A's header says so.
    expect(a.locator(".conv-header")).to_contain_text("online")
    # Opening clears the badge; a message arriving while it is open does not raise it.
    row.click()
    expect(row.locator(".unread-badge")).to_have_count(0)
    send(a, "while open")
    expect(bubbles(b)).to_have_count(4)
    expect(row.locator(".unread-badge")).to_have_count(0)
    # B reloads: still read.
    b.reload()
    expect(b.get_by_test_id("conversation-row").filter(has_text=a_name)).to_be_visible()
    expect(
        b.get_by_test_id("conversation-row").filter(has_text=a_name).locator(".unread-badge")
    ).to_have_count(0)
    a_ctx.close()
    b_ctx.close()


def test_too_long_message_is_refused_and_kept(browser: Browser, base_url: str) -> None:
    a_name, b_name = unique_name("al"), unique_name("bea")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    long_text = "x" * 4001
    composer(a).fill(long_text)
    composer(a).press("Enter")
    expect(a.get_by_role("alert")).to_contain_text("4,000")
    expect(composer(a)).to_have_value(long_text)
    expect(bubbles(a)).to_have_count(0)
    a_ctx.close()
    b_ctx.close()


def test_phone_layout_back_button(browser: Browser, base_url: str) -> None:
    a_name, b_name = unique_name("pia"), unique_name("pat")
    b_ctx = browser.new_context()
    sign_up(b_ctx.new_page(), base_url, b_name)
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    a = ctx.new_page()
    sign_up(a, base_url, a_name)
    # Sidebar alone first.
    expect(a.get_by_label("Search people")).to_be_visible()
    expect(composer(a)).to_have_count(0)
    open_chat_with(a, b_name)
    # The conversation replaces the sidebar, with a back button.
    expect(composer(a)).to_be_visible()
    expect(a.get_by_label("Search people")).not_to_be_visible()
    send(a, "from my phone")
    expect(bubbles(a)).to_have_count(1)
    assert a.evaluate("document.documentElement.scrollWidth") <= 375
    a.get_by_role("button", name="Back to conversations").click()
    expect(a.get_by_label("Search people")).to_be_visible()
    expect(a.get_by_test_id("conversation-row").filter(has_text=b_name)).to_be_visible()
    ctx.close()
    b_ctx.close()
