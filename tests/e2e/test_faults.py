"""What a person sees when things break (issue "Nothing lost under faults"), in Chromium, with
the app's own MariaDB and Redis (private instances: these tests stop, kill and restart them).

1. Messages typed while the server is down are sent when it is back (not lost to a redirect).
2. A database outage: the send fails visibly with Retry, and Retry works once it is back; a
   session re-check during the outage does not break the tab.
3. Redis restarts empty: open tabs recover by themselves and keep receiving.
4. A message in flight when the server dies is stored exactly once after the restart.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from chatapp.db import make_engine
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import bubbles, composer, open_chat_with, send, sign_up, unique_name
from tests.support.services import OwnMariaDB, OwnRedis

pytestmark = pytest.mark.e2e
BACK = 120_000  # ms: a restart (no rebuild) and the browser's reconnect back-off


@pytest.fixture(scope="module")
def own_db(chromium_path: str) -> Iterator[tuple[OwnMariaDB, str]]:
    db = OwnMariaDB()
    db.start()
    name = f"chatapp_faults_{secrets.token_hex(3)}"
    db.create_database(name)
    yield db, db.url(name)
    db.close()


@pytest.fixture(scope="module")
def server(own_db: tuple[OwnMariaDB, str]) -> Iterator[AppServer]:
    _, url = own_db
    srv = AppServer(url, log_name="faults", extra_env={"SESSION_RECHECK_SECONDS": "1"})
    srv.start()
    yield srv
    srv.stop()


def _count(url: str, body: str) -> int:
    engine = make_engine(url)
    with engine.connect() as c:
        n = c.execute(sa.text("SELECT COUNT(*) FROM messages WHERE body = :b"), {"b": body})
        out = int(n.scalar() or 0)
    engine.dispose()
    return out


def _pair(browser: Browser, base: str) -> tuple[Page, Page, str, str]:
    a_name, b_name = unique_name("fa"), unique_name("fb")
    a, b = browser.new_context().new_page(), browser.new_context().new_page()
    sign_up(a, base, a_name)
    sign_up(b, base, b_name)
    open_chat_with(a, b_name)
    return a, b, a_name, b_name


def _status(page: Page, text: str) -> object:
    return bubbles(page).filter(has_text=text).locator(".bubble")


def test_typed_while_the_server_is_down_is_sent_when_it_is_back(
    browser: Browser, server: AppServer
) -> None:
    a, b, a_name, b_name = _pair(browser, server.url)
    c_name = unique_name("fc")
    c = browser.new_context().new_page()
    sign_up(c, server.url, c_name)
    open_chat_with(a, c_name)
    send(a, "hello c")
    a.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    expect(a.locator(".conv-header")).to_contain_text(b_name)
    send(a, "before the crash")
    expect(_status(a, "before the crash")).to_have_attribute("data-status", "sent")
    scripts = a.evaluate("[...document.scripts].map(s => s.src).filter(Boolean).sort()")
    a.evaluate("window.__same_page = true")
    server.kill()
    tag = secrets.token_hex(3)
    for i in (1, 2):
        send(a, f"typed while down {i} {tag}")
    server.start()
    # Right away the person opens another conversation and comes back: a route change on the
    # restarted server (same asset names: no reload, nothing queued is dropped), and the two
    # messages still go to the person they were typed to.
    a.get_by_test_id("conversation-row").filter(has_text=c_name).click()
    expect(a.locator(".conv-header")).to_contain_text(c_name, timeout=BACK)
    a.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    for i in (1, 2):
        expect(_status(a, f"typed while down {i} {tag}")).to_have_attribute(
            "data-status", "sent", timeout=BACK
        )
    assert a.evaluate("window.__same_page === true"), "the tab reloaded"
    assert a.evaluate("[...document.scripts].map(s => s.src).filter(Boolean).sort()") == scripts
    assert "/login" not in a.url
    for i in (1, 2):
        assert _count(server.database_url, f"typed while down {i} {tag}") == 1
    b.goto(server.url + "/")
    b.get_by_test_id("conversation-row").filter(has_text=a_name).click()
    expect(bubbles(b)).to_have_count(3)
    for page in (a, b, c):
        page.context.close()


def test_in_flight_when_the_server_dies_is_stored_once(
    browser: Browser, server: AppServer, own_db: tuple[OwnMariaDB, str]
) -> None:
    a, b, _, _ = _pair(browser, server.url)
    text = f"in flight {secrets.token_hex(3)}"
    # Hold the send in the database, so the server dies while it is in flight.
    engine = make_engine(server.database_url)
    lock = engine.connect()
    lock.execute(sa.text("LOCK TABLES messages WRITE"))
    try:
        send(a, text)
        expect(_status(a, text)).to_have_attribute("data-status", "pending")
        server.kill()
    finally:
        lock.execute(sa.text("UNLOCK TABLES"))
        lock.close()
        engine.dispose()
    assert _count(server.database_url, text) == 0
    server.start()
    expect(_status(a, text)).to_have_attribute("data-status", "sent", timeout=BACK)
    expect(bubbles(a).filter(has_text=text)).to_have_count(1)
    assert _count(server.database_url, text) == 1
    a.context.close()
    b.context.close()


def test_sent_to_a_server_that_froze_and_died_is_stored_once_it_is_back(
    browser: Browser, server: AppServer
) -> None:
    """D1: the server received the send but never answered (frozen, then killed): no bubble
    came back, the composer was already cleared. The browser kept the message when Send was
    pressed, so once the server is back it is sent again and shown sent, once."""
    a, b, a_name, _ = _pair(browser, server.url)
    text = f"into the void {secrets.token_hex(3)}"
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGSTOP)
    try:
        send(a, text)
        expect(composer(a)).to_have_value("")
        a.wait_for_timeout(300)  # (the event is on the wire; the server never answers)
    finally:
        server.kill()  # (SIGKILL ends a stopped process too)
    assert _count(server.database_url, text) == 0
    server.start()
    expect(_status(a, text)).to_have_attribute("data-status", "sent", timeout=BACK)
    expect(bubbles(a).filter(has_text=text)).to_have_count(1)
    assert _count(server.database_url, text) == 1
    b.goto(server.url + "/")
    b.get_by_test_id("conversation-row").filter(has_text=a_name).click()
    expect(bubbles(b).filter(has_text=text)).to_have_count(1)
    a.context.close()
    b.context.close()


def test_database_outage_fails_visibly_and_retry_works(
    browser: Browser, server: AppServer, own_db: tuple[OwnMariaDB, str]
) -> None:
    db, _ = own_db
    a, b, _, _ = _pair(browser, server.url)
    send(a, "before the outage")
    expect(_status(a, "before the outage")).to_have_attribute("data-status", "sent")
    db.stop()
    try:
        a.wait_for_timeout(1500)  # past SESSION_RECHECK_SECONDS: the re-check meets the outage
        text = f"during the outage {secrets.token_hex(3)}"
        send(a, text)
        failed = _status(a, text)
        expect(failed).to_have_attribute("data-status", "failed", timeout=30_000)
        expect(failed).to_contain_text("Can't reach")
        expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    finally:
        db.start()
    failed.get_by_role("button", name="Retry").click()
    expect(_status(a, text)).to_have_attribute("data-status", "sent", timeout=30_000)
    assert _count(server.database_url, text) == 1
    assert "/login" not in a.url
    a.context.close()
    b.context.close()


def test_tabs_recover_after_redis_restarts_empty(
    browser: Browser, own_db: tuple[OwnMariaDB, str]
) -> None:
    _, url = own_db
    rds = OwnRedis()
    rds.start()
    env = {"REDIS_URL": rds.url}
    one = AppServer(url, extra_env=env, log_name="faults-redis-one")
    two = AppServer(url, extra_env=env, log_name="faults-redis-two")
    one.start()
    two.start()
    try:
        a, _, a_name, b_name = _pair(browser, one.url)
        b = browser.new_context().new_page()
        b.goto(two.url + "/login")
        from tests.e2e.helpers import log_in

        log_in(b, two.url, b_name)
        b.get_by_test_id("conversation-row").filter(has_text=a_name).click()
        send(a, "before redis restarts")
        expect(bubbles(b).filter(has_text="before redis restarts")).to_have_count(1)

        rds.kill()
        rds.start()  # empty: every tab's state is gone

        tag = secrets.token_hex(3)
        send(b, f"after the restart {tag}")
        expect(bubbles(a).filter(has_text=f"after the restart {tag}")).to_have_count(
            1, timeout=60_000
        )
        send(a, f"and back {tag}")
        expect(bubbles(b).filter(has_text=f"and back {tag}")).to_have_count(1, timeout=60_000)
        expect(_status(a, f"and back {tag}")).to_have_attribute("data-status", "sent")
        a.context.close()
        b.context.close()
    finally:
        two.stop()
        one.stop()
        rds.close()
