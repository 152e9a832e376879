"""What happens to a message after it is sent, end to end with two people in two browsers:
edit, delete, reply (and the quote jumping to an original that is not loaded), reactions, and a
tab that was offline during an edit and a deletion showing both once it is back."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session, select

from bench.db import make_user
from chatapp.db import make_engine
from chatapp.models import User
from chatapp.services import conversations, lifecycle, messages
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import bubbles, open_chat_with, send, sign_up, unique_name

pytestmark = pytest.mark.e2e


def bubble(page: Page, text: str):  # type: ignore[no-untyped-def]
    return bubbles(page).filter(has_text=text).last


def act(page: Page, text: str, action: str) -> None:
    """Hover a bubble and press one of its action buttons (Reply, React, Edit, Delete)."""
    b = bubble(page, text)
    b.hover()
    b.get_by_role("button", name=action, exact=True).click()


def test_edit_delete_reply_react(browser: Browser, base_url: str) -> None:
    tag = secrets.token_hex(3)
    a_name, b_name = unique_name("eda"), unique_name("edb")
    a = browser.new_context().new_page()
    b_ctx = browser.new_context()
    b = b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    send(a, f"first draft {tag}")
    send(a, f"a typo {tag}")
    open_chat_with(b, a_name)
    expect(bubbles(b)).to_have_count(2)

    # Edit: the new text and "edited", live for the other person.
    act(a, f"first draft {tag}", "Edit")
    box = a.get_by_role("textbox", name="Edit message")
    box.fill(f"final text {tag}")
    box.press("Enter")
    expect(bubble(a, f"final text {tag}")).to_contain_text("edited")
    expect(bubble(b, f"final text {tag}")).to_contain_text("edited")
    expect(b.get_by_text(f"first draft {tag}")).to_have_count(0)

    # Delete (confirmed): "This message was deleted" for both, the preview too.
    act(a, f"a typo {tag}", "Delete")
    a.get_by_role("button", name="Delete for everyone").click()
    for page in (a, b):
        expect(bubbles(page).nth(1)).to_contain_text("This message was deleted")
        expect(page.get_by_text(f"a typo {tag}")).to_have_count(0)
    row = b.get_by_test_id("conversation-row").filter(has_text=a_name)
    expect(row).to_contain_text("This message was deleted")

    # React: counts for both, toggled off again by a second press.
    act(b, f"final text {tag}", "React")
    b.get_by_role("button", name="👍", exact=True).click()
    for page in (a, b):
        expect(bubble(page, f"final text {tag}").locator(".chip").first).to_have_text("👍 1")
    act(a, f"final text {tag}", "React")
    a.get_by_role("button", name="👍", exact=True).click()
    expect(bubble(b, f"final text {tag}").locator(".chip").first).to_have_text("👍 2")
    bubble(a, f"final text {tag}").get_by_role("button", name="👍 2").click()
    expect(bubble(b, f"final text {tag}").locator(".chip").first).to_have_text("👍 1")

    # Reply: the quote travels with the message; clicked, it goes to the original.
    act(b, f"final text {tag}", "Reply")
    expect(b.get_by_text("Replying to")).to_be_visible()
    send(b, f"answer {tag}")
    for page in (a, b):
        expect(bubble(page, f"answer {tag}").locator(".quote")).to_contain_text(f"final text {tag}")
    bubble(a, f"answer {tag}").locator(".quote").click()
    expect(a.locator(".msg-row.highlight")).to_contain_text(f"final text {tag}")
    # A edits the quoted message, then deletes it: both tabs' quotes follow live, and the
    # deleted text is gone from the quote too.
    original = bubbles(a).filter(has_text=f"final text {tag}").first  # (the reply quotes it)
    original.hover()
    original.get_by_role("button", name="Edit", exact=True).click()
    box = a.get_by_role("textbox", name="Edit message")
    box.fill(f"final text, fixed {tag}")
    box.press("Enter")
    for page in (a, b):
        expect(bubble(page, f"answer {tag}").locator(".quote")).to_contain_text(
            f"final text, fixed {tag}"
        )
    original = bubbles(a).filter(has_text=f"final text, fixed {tag}").first
    original.hover()
    original.get_by_role("button", name="Delete", exact=True).click()
    a.get_by_role("button", name="Delete for everyone").click()
    for page in (a, b):
        quote = bubble(page, f"answer {tag}").locator(".quote")
        expect(quote).to_contain_text("This message was deleted")
        expect(quote).not_to_contain_text("final text")

    # Someone else's message has no Edit and, in a direct conversation, no Delete.
    other = bubble(a, f"answer {tag}")
    other.hover()
    expect(other.get_by_role("button", name="Edit", exact=True)).to_have_count(0)
    expect(other.get_by_role("button", name="Delete", exact=True)).to_have_count(0)

    # B goes offline; A edits and deletes meanwhile; B comes back and shows both, no reload.
    send(a, f"will change {tag}")
    send(a, f"will go {tag}")
    expect(bubbles(b)).to_have_count(5)
    b_ctx.set_offline(True)
    act(a, f"will change {tag}", "Edit")
    box = a.get_by_role("textbox", name="Edit message")
    box.fill(f"changed while away {tag}")
    box.press("Enter")
    expect(bubble(a, f"changed while away {tag}")).to_contain_text("edited")
    act(a, f"will go {tag}", "Delete")
    a.get_by_role("button", name="Delete for everyone").click()
    expect(bubbles(a).last).to_contain_text("This message was deleted")
    b_ctx.set_offline(False)
    expect(bubble(b, f"changed while away {tag}")).to_contain_text("edited", timeout=30_000)
    expect(bubbles(b).last).to_contain_text("This message was deleted")
    expect(b.get_by_text(f"will go {tag}")).to_have_count(0)


def test_a_quote_loads_older_history_to_reach_its_original(
    browser: Browser, base_url: str, app_server: AppServer
) -> None:
    """The quoted message is older than the loaded page: clicking the quote loads older pages
    until it is there, then scrolls to it and highlights it."""
    tag = secrets.token_hex(3)
    a_name, b_name = unique_name("qa"), unique_name("qb")
    b = browser.new_context().new_page()
    a_user = make_user(engine := make_engine(app_server.database_url), a_name)
    sign_up(b, base_url, b_name)
    with Session(engine) as s:
        b_id = s.exec(select(User.id).where(User.username == b_name)).one()
        conv = conversations.open_direct(session=s, user_id=a_user.id, other_user_id=b_id)
        s.commit()

    def say(text: str, reply_to: int | None = None) -> int:
        return messages.send_message(
            engine=engine,
            sender_id=a_user.id,
            conversation_id=conv,
            body=text,
            client_id=secrets.token_urlsafe(12),
            reply_to_id=reply_to,
        ).message.id

    original = say(f"the original {tag}")
    for i in range(120):  # more than the first page (50) and one older page (100)
        say(f"filler {i} {tag}")
    say(f"the reply {tag}", reply_to=original)
    engine.dispose()
    open_chat_with(b, a_name)
    expect(bubble(b, f"the reply {tag}")).to_be_visible()
    # Not loaded yet (only the reply's quote shows its text).
    expect(b.locator(".bubble-body").filter(has_text=f"the original {tag}")).to_have_count(0)
    quote = bubble(b, f"the reply {tag}").locator(".quote")
    expect(quote).to_contain_text(f"the original {tag}")
    quote.click()
    expect(b.locator(".msg-row.highlight")).to_contain_text(f"the original {tag}")
    expect(b.locator(".msg-row.highlight")).to_be_in_viewport()


def test_seen_and_typing(browser: Browser, base_url: str) -> None:
    """Read receipts ("Seen" when the other person reads; none with the setting off) and
    "… is typing" (shown while the other types, gone after they stop or when the message
    arrives)."""
    tag = secrets.token_hex(3)
    a_name, b_name = unique_name("sa"), unique_name("sb")
    a = browser.new_context().new_page()
    b = browser.new_context().new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    send(a, f"are you there {tag}")
    expect(a.get_by_test_id("seen")).to_have_count(0)  # not read yet

    # B opens the conversation: A's message shows Seen, live.
    b.get_by_test_id("conversation-row").filter(has_text=a_name).click()
    expect(bubbles(b)).to_have_count(1)
    expect(bubble(a, f"are you there {tag}").get_by_test_id("seen")).to_have_text("Seen")

    # B types: A's header says so; B stops: it goes away by itself.
    status = a.get_by_test_id("header-status")
    b.get_by_role("textbox", name="Message").press_sequentially("hel", delay=50)
    expect(status).to_contain_text(f"{b_name} is typing")
    expect(status).not_to_contain_text("typing", timeout=12_000)

    # B types again and sends: the hint goes when the message arrives.
    b.get_by_role("textbox", name="Message").press_sequentially("lo", delay=50)
    expect(status).to_contain_text("is typing")
    b.get_by_role("textbox", name="Message").press("Enter")
    expect(bubbles(a)).to_have_count(2)
    expect(status).not_to_contain_text("typing")

    # B turns read receipts off: A's next message is read but shows no Seen (and B sees none).
    b.goto(f"{base_url}/settings")
    switch = b.get_by_role("switch", name="Send read receipts")
    expect(switch).to_be_checked()
    switch.click()
    expect(switch).not_to_be_checked()
    b.go_back()
    expect(bubbles(b)).to_have_count(2)
    send(a, f"second question {tag}")
    expect(bubbles(b)).to_have_count(3)
    b.reload()
    expect(bubbles(b)).to_have_count(3)
    # A's first message still shows the Seen it had; the new one does not get it.
    expect(bubble(a, f"second question {tag}").get_by_test_id("seen")).to_have_count(0)
    a.reload()
    expect(bubbles(a)).to_have_count(3)
    expect(a.get_by_test_id("seen")).to_have_count(0)  # B's receipts are off: none at all


def test_back_online_the_view_catches_up_without_a_reload(
    browser: Browser, base_url: str, app_server: AppServer
) -> None:
    """A tab that loaded older history goes offline; meanwhile a message deep in that history
    is edited, a newer one deleted and a new one sent. Back online it shows all three, and the
    older history it had loaded is still there (it asked what changed, it did not reload)."""
    tag = secrets.token_hex(3)
    a_name, b_name = unique_name("ca"), unique_name("cb")
    b_ctx = browser.new_context()
    b = b_ctx.new_page()
    engine = make_engine(app_server.database_url)
    a_user = make_user(engine, a_name)
    sign_up(b, base_url, b_name)
    with Session(engine) as s:
        b_id = s.exec(select(User.id).where(User.username == b_name)).one()
        conv = conversations.open_direct(session=s, user_id=a_user.id, other_user_id=b_id)
        s.commit()
    ids = [
        messages.send_message(
            engine=engine,
            sender_id=a_user.id,
            conversation_id=conv,
            body=f"old {i} {tag}",
            client_id=secrets.token_urlsafe(12),
        ).message.id
        for i in range(80)
    ]
    open_chat_with(b, a_name)
    expect(bubbles(b)).to_have_count(50)
    b.get_by_role("button", name="Load older messages").click()
    expect(bubbles(b)).to_have_count(80)

    b_ctx.set_offline(True)
    with Session(engine) as s:
        lifecycle.edit_message(session=s, user_id=a_user.id, message_id=ids[3], body=f"new 3 {tag}")
        lifecycle.delete_message(session=s, user_id=a_user.id, message_id=ids[70])
        s.commit()
    messages.send_message(
        engine=engine,
        sender_id=a_user.id,
        conversation_id=conv,
        body=f"while away {tag}",
        client_id=secrets.token_urlsafe(12),
    )
    engine.dispose()
    b_ctx.set_offline(False)

    expect(bubble(b, f"while away {tag}")).to_be_visible(timeout=30_000)
    expect(bubbles(b)).to_have_count(81)  # the older page is still loaded: no reload
    expect(bubble(b, f"new 3 {tag}")).to_contain_text("edited")
    expect(b.get_by_text(f"old 3 {tag}", exact=True)).to_have_count(0)
    expect(bubbles(b).nth(70)).to_contain_text("This message was deleted")
