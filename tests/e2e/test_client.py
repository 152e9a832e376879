"""The pure-Python client as a person uses it: a URL per conversation (Back on a phone, reload,
members only), drafts per conversation, staying at the bottom when an image arrives, people found
by search with live presence, and the empty states a new account sees."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from chatapp.db import make_engine
from chatapp.services import accounts
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import (
    PASSWORD,
    bubbles,
    composer,
    log_in,
    open_chat_with,
    send,
    sign_up,
    unique_name,
)
from tests.support.images import png

pytestmark = pytest.mark.e2e
AT_BOTTOM_JS = "Math.abs(document.getElementById('message-scroller').scrollTop)"


def _stored_user(app_server: AppServer, prefix: str) -> str:
    """An account that exists but has never been online (made straight in the database)."""
    name = unique_name(prefix)
    engine = make_engine(app_server.database_url)
    with Session(engine) as s:
        accounts.sign_up(session=s, username=name, email=f"{name}@example.com", password=PASSWORD)
        s.commit()
    engine.dispose()
    return name


def test_url_per_conversation_back_reload_and_members_only(browser: Browser, base_url: str) -> None:
    a_name, b_name, c_name = unique_name("ua"), unique_name("ub"), unique_name("uc")
    b_ctx, c_ctx = browser.new_context(), browser.new_context()
    sign_up(b_ctx.new_page(), base_url, b_name)
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, has_touch=True)
    a = ctx.new_page()
    sign_up(a, base_url, a_name)
    open_chat_with(a, b_name)
    a.wait_for_url(re.compile(r"/c/\d+/?$"))
    conv_url = a.url
    send(a, "hello from the phone")
    expect(bubbles(a)).to_have_count(1)

    # The phone's Back button returns to the list, not out of the app; Forward comes back.
    a.go_back()
    expect(a.get_by_label("Search people")).to_be_visible()
    expect(composer(a)).to_have_count(0)
    a.go_forward()
    expect(composer(a)).to_be_visible()
    expect(bubbles(a)).to_have_count(1)

    # Reloading (or opening the link) shows the same conversation.
    a.reload()
    expect(a.locator(".conv-header")).to_contain_text(b_name)
    expect(bubbles(a).first).to_contain_text("hello from the phone")

    # Someone else following the link sees nothing of it.
    c = c_ctx.new_page()
    sign_up(c, base_url, c_name)
    c.goto(conv_url)
    expect(c.get_by_role("alert")).to_contain_text("not in this conversation")
    expect(c.get_by_text("hello from the phone")).to_have_count(0)
    expect(composer(c)).to_have_count(0)
    for context in (ctx, b_ctx, c_ctx):
        context.close()


def test_drafts_are_kept_per_conversation(browser: Browser, base_url: str) -> None:
    a_name, b_name, c_name = unique_name("da"), unique_name("db"), unique_name("dc")
    ctxs = [browser.new_context() for _ in range(3)]
    a, b, c = (x.new_page() for x in ctxs)
    sign_up(b, base_url, b_name)
    sign_up(c, base_url, c_name)
    sign_up(a, base_url, a_name)
    open_chat_with(a, c_name)
    send(a, "hi c")
    open_chat_with(a, b_name)
    composer(a).fill("half a thought for b")
    # Another conversation: its own (empty) box, not b's text.
    a.get_by_test_id("conversation-row").filter(has_text=c_name).click()
    expect(a.locator(".conv-header")).to_contain_text(c_name)
    expect(composer(a)).to_have_value("")
    expect(composer(a)).to_be_focused()
    composer(a).fill("and one for c")
    a.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    expect(composer(a)).to_have_value("half a thought for b")
    # Kept across a reload of the tab, too.
    a.wait_for_timeout(400)  # (the draft is saved 250 ms after the last keystroke)
    a.reload()
    expect(composer(a)).to_have_value("half a thought for b")
    a.get_by_test_id("conversation-row").filter(has_text=c_name).click()
    expect(composer(a)).to_have_value("and one for c")
    # Sending clears the draft for good.
    composer(a).press("Enter")
    expect(bubbles(a)).to_have_count(2)
    a.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    a.get_by_test_id("conversation-row").filter(has_text=c_name).click()
    expect(composer(a)).to_have_value("")
    for x in ctxs:
        x.close()


def _attach(page: Page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach image").click()
    chooser.value.set_files(str(path))


def test_view_stays_at_the_bottom_when_an_image_arrives(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    photo = tmp_path / "tall.png"
    photo.write_bytes(png(300, 900))
    a_name, b_name = unique_name("ia"), unique_name("ib")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    for i in range(15):
        send(a, f"filler {i} " + "words " * 12)
    expect(bubbles(a)).to_have_count(15)
    b.get_by_test_id("conversation-row").filter(has_text=a_name).click()
    expect(bubbles(b)).to_have_count(15)

    _attach(a, photo)
    expect(a.locator(".attach-preview")).to_contain_text("Ready to send")
    send(a, f"the caption {secrets.token_hex(2)}")
    for page in (a, b):
        img = page.locator(".bubble-img")
        expect(img).to_have_js_property("complete", True)
        expect(bubbles(page).last).to_contain_text("the caption")
        expect(bubbles(page).last.get_by_text("the caption")).to_be_in_viewport()
        assert page.evaluate(AT_BOTTOM_JS) < 5
    # Reopening a conversation whose last message is an image starts at the bottom too.
    b.reload()
    expect(b.locator(".bubble-img")).to_have_js_property("complete", True)
    expect(bubbles(b).last.get_by_text("the caption")).to_be_in_viewport()
    assert b.evaluate(AT_BOTTOM_JS) < 5
    a_ctx.close()
    b_ctx.close()


def test_search_finds_new_people_with_live_presence(
    browser: Browser, base_url: str, app_server: AppServer
) -> None:
    stranger = _stored_user(app_server, "sx")
    me = unique_name("sm")
    ctx, other = browser.new_context(), browser.new_context()
    a = ctx.new_page()
    sign_up(a, base_url, me)
    # A new account: a welcome, the search field focused, nobody listed.
    expect(a.get_by_text("Welcome to chatapp!")).to_be_visible()
    expect(a.get_by_label("Search people")).to_be_focused()
    expect(a.get_by_test_id("person-row")).to_have_count(0)

    search = a.get_by_label("Search people")
    search.fill(stranger[:1])
    expect(a.get_by_text("Type at least 2 letters")).to_be_visible()
    search.fill(stranger[:6])
    row = a.get_by_test_id("person-row").filter(has_text=f"@{stranger}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("offline")
    # They come online: the search result says so without a reload.
    log_in(other.new_page(), base_url, stranger)
    expect(row).to_contain_text("online", timeout=15_000)
    expect(row).not_to_contain_text("offline")
    row.click()
    expect(a.locator(".conv-header")).to_contain_text(stranger)
    ctx.close()
    other.close()


def test_scroll_up_loads_older_keeps_place_and_new_messages_pill(
    browser: Browser, base_url: str, app_server: AppServer
) -> None:
    from chatapp.services import conversations, messages

    a_name, b_name = unique_name("pa"), unique_name("pb")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    engine = make_engine(app_server.database_url)
    with Session(engine) as s:
        ua = accounts.authenticate(session=s, login=a_name, password=PASSWORD)
        ub = accounts.authenticate(session=s, login=b_name, password=PASSWORD)
        conv = conversations.open_direct(session=s, user_id=ua.id, other_user_id=ub.id)
        for i in range(120):
            messages.send_message(
                session=s,
                sender_id=ub.id if i % 2 else ua.id,
                conversation_id=conv,
                body=f"history line {i:03d}",
                client_id=f"hist-{i:04d}-{secrets.token_hex(3)}",
            )
        s.commit()
    engine.dispose()
    a.goto(f"{base_url}/c/{conv}")
    expect(bubbles(a)).to_have_count(50)
    expect(bubbles(a).last).to_contain_text("history line 119")
    # Scroll to the top: older messages come in above, the reader stays where they were.
    anchor = a.get_by_text("history line 070", exact=True)
    a.evaluate(
        "(() => { const e = document.getElementById('message-scroller');"
        " e.scrollTop = -e.scrollHeight; })()"
    )
    box = anchor.bounding_box()
    expect(bubbles(a)).to_have_count(120)
    expect(a.get_by_text("This is the beginning of your conversation")).to_have_count(1)
    after = anchor.bounding_box()
    assert box is not None and after is not None
    assert abs(after["y"] - box["y"]) < 40, (box, after)
    texts = bubbles(a).all_inner_texts()
    assert "history line 000" in texts[0] and "history line 119" in texts[-1]
    # Scrolled up, a new message does not yank the view: a pill says it is there.
    a.mouse.wheel(0, -500)
    a.wait_for_timeout(400)
    b.goto(f"{base_url}/c/{conv}")
    send(b, "are you there?")
    pill = a.get_by_role("button", name="New messages")
    expect(pill).to_be_visible()
    expect(bubbles(a).get_by_text("are you there?")).not_to_be_in_viewport()
    pill.click()
    expect(bubbles(a).get_by_text("are you there?")).to_be_in_viewport()
    expect(pill).to_have_count(0)
    a_ctx.close()
    b_ctx.close()
