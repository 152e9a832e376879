"""Scale-out: two backend processes sharing MariaDB and Redis. A user on one process and a
user on the other chat live; Reflex state lives in Redis and our fan-out crosses processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, expect

from tests.conftest import need
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import bubbles, open_chat_with, send, sign_up, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(scope="module")
def two_servers(e2e_db_url: str, chromium_path: str) -> Iterator[tuple[AppServer, AppServer]]:
    try:
        r = redis.Redis.from_url(REDIS_URL)
        r.ping()
    except redis.RedisError as exc:
        need(False, f"Redis not reachable at {REDIS_URL}: {exc}")
    r.flushdb()
    env = {"REDIS_URL": REDIS_URL}
    one = AppServer(e2e_db_url, extra_env=env, log_name="redis-one", private_web=True)
    two = AppServer(e2e_db_url, extra_env=env, log_name="redis-two", private_web=True)
    one.start()
    try:
        two.start()
    except Exception:
        one.stop()
        raise
    yield one, two
    two.stop()
    one.stop()
    one.remove_web_dir()
    two.remove_web_dir()
    r.flushdb()


def test_messages_cross_processes(
    browser: Browser, two_servers: tuple[AppServer, AppServer]
) -> None:
    one, two = two_servers
    a_name, b_name = unique_name("ana"), unique_name("bo")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, one.url, a_name)  # A is served by process one
    sign_up(b, two.url, b_name)  # B by process two

    open_chat_with(a, b_name)
    send(a, "across processes")
    row = b.get_by_test_id("conversation-row").filter(has_text=a_name)
    expect(row.locator(".unread-badge")).to_have_text("1")
    row.click()
    expect(bubbles(b)).to_have_count(1)
    send(b, "and back")
    expect(bubbles(a)).to_have_count(2)
    expect(bubbles(a).last).to_contain_text("and back")

    # A second tab of A on the *other* process gets B's next message too.
    a2 = a_ctx.new_page()
    a2.goto(f"{two.url}/")
    a2.get_by_test_id("conversation-row").filter(has_text=b_name).click()
    expect(bubbles(a2)).to_have_count(2)
    send(b, "third")
    for page in (a, a2):
        expect(bubbles(page)).to_have_count(3)
    # Presence is shared through Redis: B (on process two) shows as online to A.
    expect(a.locator(".conv-header")).to_contain_text("online")
    a_ctx.close()
    b_ctx.close()
