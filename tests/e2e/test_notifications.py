"""Notifications and the installable app, in Chromium (issue 14), two people in two contexts:

- the tab title counts unread messages up and down ("(2) chatapp"), the favicon shows a dot;
- a message in another conversation shows a toast that opens it;
- with permission granted and "Desktop notifications" on, a message to a hidden tab shows a
  notification (read back from the service worker's registration), one per conversation, none
  while the tab is visible or the conversation is muted, without the text when that is off;
- the service worker shows a push delivered through the DevTools protocol;
- the manifest is valid and Chromium finds the app installable; with the network off, the
  offline page shows instead of the browser's error.

Headless Chromium reports every page as visible (no window is ever hidden), so "the tab is
hidden" is the page's document.hidden set for the test. Headless Chromium also refuses push
subscriptions (no push service), so subscribing itself is covered by the service tests against a
push-service stand-in (tests/services/test_push.py); here the switch reports that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.helpers import open_chat_with, send, sign_up, unique_name

pytestmark = pytest.mark.e2e

NOTIFICATIONS_JS = (
    "navigator.serviceWorker.ready.then(r => r.getNotifications())"
    ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag,"
    " url: n.data && n.data.url})))"
)
CLOSE_ALL_JS = (
    "navigator.serviceWorker.ready.then(r => r.getNotifications())"
    ".then(ns => ns.forEach(n => n.close()))"
)
HIDE_JS = (
    "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
    "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
)


def _two(browser: Browser, base_url: str, *, notify: bool = False) -> tuple[Page, Page, str, str]:
    a_name, b_name = unique_name("ann"), unique_name("ben")
    a = browser.new_context().new_page()
    ctx = browser.new_context()
    if notify:
        ctx.grant_permissions(["notifications"], origin=base_url)
    b = ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    return a, b, a_name, b_name


def _home(page: Page, base_url: str) -> None:
    """Load / and wait until its view is built (no conversation open): a message sent before
    that would still count as read in the conversation the tab showed before."""
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", name="Your messages")).to_be_visible()


def _favicon(page: Page) -> Any:
    return page.locator('head link[rel="icon"]')


def _notifications(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(NOTIFICATIONS_JS)  # type: ignore[no-any-return]


def _wait_notifications(page: Page, n: int, timeout_ms: int = 20_000) -> list[dict[str, Any]]:
    for _ in range(timeout_ms // 250):
        found = _notifications(page)
        if len(found) >= n:
            return found
        page.wait_for_timeout(250)
    return _notifications(page)


def test_title_and_favicon_count_unread_and_a_toast_opens_the_conversation(
    browser: Browser, base_url: str
) -> None:
    a, b, _a_name, b_name = _two(browser, base_url)
    expect(b).to_have_title("chatapp")
    expect(_favicon(b)).to_have_attribute("href", "/favicon.ico")
    open_chat_with(a, b_name)
    send(a, "first")
    expect(b).to_have_title("(1) chatapp")
    send(a, "second")
    expect(b).to_have_title("(2) chatapp")
    expect(_favicon(b)).to_have_attribute("href", "/favicon-unread.png")
    # The toast of a message in a conversation that is not open: sender and preview.
    toast = b.get_by_test_id("toast")
    expect(toast).to_contain_text("second")
    toast.get_by_role("link").click()
    b.wait_for_url(re.compile(re.escape(base_url) + r"/c/\d+/?$"))
    expect(b.get_by_test_id("message")).to_have_count(2)
    expect(b).to_have_title("chatapp")  # read: the count goes down
    expect(_favicon(b)).to_have_attribute("href", "/favicon.ico")
    expect(toast).to_have_count(0)
    # A message in the open conversation, while looking at it: no toast, no count.
    send(a, "third")
    expect(b.get_by_test_id("message")).to_have_count(3)
    expect(b).to_have_title("chatapp")
    expect(toast).to_have_count(0)


def test_a_hidden_tab_shows_a_notification_per_conversation_unless_muted(
    browser: Browser, base_url: str
) -> None:
    a, b, a_name, b_name = _two(browser, base_url, notify=True)
    # The switch asks for permission on its click (granted by the context here).
    b.goto(f"{base_url}/settings")
    switch = b.get_by_role("switch", name="Desktop notifications")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(b.get_by_text("Notifications are on")).to_be_visible()
    _home(b, base_url)
    open_chat_with(a, b_name)

    # Visible tab: the page itself shows it, no notification.
    send(a, "while you look")
    expect(b).to_have_title("(1) chatapp")
    b.wait_for_timeout(1500)
    assert _notifications(b) == []

    # Hidden: a notification with sender, count and preview; a second one replaces it.
    b.evaluate(HIDE_JS)
    send(a, "are you there?")
    expect(b).to_have_title("(2) chatapp")
    send(a, "hello?")
    expect(b).to_have_title("(3) chatapp")
    b.wait_for_timeout(1000)
    found = _wait_notifications(b, 1)
    assert len(found) == 1, found  # one per conversation (same tag)
    (note,) = found
    assert note["title"] == f"{a_name} (3 new messages)"
    assert note["body"] == "hello?"
    assert re.fullmatch(r"conv-\d+", note["tag"])
    assert note["url"] == "/c/" + note["tag"].removeprefix("conv-")

    # "Show message text in notifications" off: who, not what.
    b.evaluate(CLOSE_ALL_JS)
    b.goto(f"{base_url}/settings")
    text_switch = b.get_by_role("switch", name="Show message text in notifications")
    text_switch.click()
    expect(text_switch).to_have_attribute("aria-checked", "false")
    _home(b, base_url)
    expect(b).to_have_title("(3) chatapp")
    b.evaluate(HIDE_JS)
    send(a, "the secret plan")
    expect(b).to_have_title("(4) chatapp")
    (note,) = _wait_notifications(b, 1)
    assert note["body"] == "New message" and "secret" not in note["title"]

    # Muted (from the conversation's header): no notification, a grey badge, not in the title.
    b.evaluate(CLOSE_ALL_JS)
    b.get_by_test_id("conversation-row").first.click()
    expect(b).to_have_title("chatapp")
    b.get_by_role("button", name="Mute").click()
    b.get_by_role("menuitem", name="8 hours").click()
    expect(b.get_by_role("button", name="Muted")).to_be_visible()
    _home(b, base_url)
    b.evaluate(HIDE_JS)
    send(a, "muted now")
    row = b.get_by_test_id("conversation-row").first
    expect(row).to_contain_text("muted now")
    badge = row.locator(".unread-badge")
    expect(badge).to_have_text("1")
    expect(badge).to_have_attribute("data-accent-color", "gray")
    expect(b).to_have_title("chatapp")
    expect(b.get_by_test_id("toast")).to_have_count(0)
    b.wait_for_timeout(1500)
    assert _notifications(b) == []


def _registration_id(page: Page, cdp: Any) -> str:
    regs: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: regs.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(80):
        live = [r for r in regs if not r["isDeleted"]]
        if live:
            return str(live[-1]["registrationId"])
        page.wait_for_timeout(250)
    raise AssertionError("no service worker registration")


def test_the_service_worker_shows_a_pushed_message(browser: Browser, base_url: str) -> None:
    ctx = browser.new_context()
    ctx.grant_permissions(["notifications"], origin=base_url)
    page = ctx.new_page()
    sign_up(page, base_url, unique_name("sw"))
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.scriptURL)").endswith(
        "/sw.js"
    )
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)") == base_url + "/"
    cdp = ctx.new_cdp_session(page)
    payload = {"title": "Ann (2 new messages)", "body": "see you", "tag": "conv-7", "url": "/c/7"}
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": base_url,
            "registrationId": _registration_id(page, cdp),
            "data": json.dumps(payload),
        },
    )
    assert _wait_notifications(page, 1) == [payload]


def test_installable_and_an_offline_page(
    browser_type: BrowserType,
    browser_type_launch_args: dict[str, Any],
    app_server: AppServer,
    tmp_path: Path,
) -> None:
    """A persistent profile: Chromium never offers to install from an incognito one (which is
    what a new browser context is). The app on a server of its own, which the test stops: the
    network is really gone for the page and its service worker alike (Playwright's offline
    emulation did not always reach the worker, which then loaded the app)."""
    srv = AppServer(app_server.database_url, log_name="pwa")
    srv.start()
    base_url = srv.url
    ctx: BrowserContext = browser_type.launch_persistent_context(
        str(tmp_path / "profile"), **browser_type_launch_args
    )
    violations: list[str] = []
    ctx.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
    try:
        page = ctx.new_page()
        sign_up(page, base_url, unique_name("pwa"))
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        # Active is not yet in charge: it claims the page as it activates (sw.js), and until
        # then Chromium reports "no matching service worker" (seen under load).
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
        cdp = ctx.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"] == f"{base_url}/manifest.webmanifest"
        assert manifest["errors"] == []
        parsed = manifest["manifest"]  # as Chromium understood it
        assert parsed["display"] == "kStandalone"
        assert parsed["startUrl"] == base_url + "/"
        sizes = {(i["sizes"], i.get("purpose", "")) for i in json.loads(manifest["data"])["icons"]}
        assert ("192x192", "any") in sizes and ("512x512", "maskable") in sizes
        # Chromium checks installability off the page's own work: ask until it has an answer
        # with no errors, or give up after 30 s and show the last one.
        errors: list[Any] = []
        for _ in range(60):
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors:
                break
            page.wait_for_timeout(500)
        assert errors == []
        # The server is gone: the offline page instead of the browser's error.
        srv.stop()
        page.goto(f"{base_url}/")
        expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
        expect(page.get_by_role("link", name="Try again")).to_have_attribute("href", "/")
        srv.start()
        page.goto(f"{base_url}/")
        expect(page.get_by_label("Search people")).to_be_visible()
    finally:
        ctx.close()
        srv.stop()
        srv.remove_web_dir()
    assert violations == []
