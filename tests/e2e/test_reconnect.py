"""A dropped connection (here: the server restarts) comes back on its own and fetches what
it missed from the database: no gaps, no duplicates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import AppServer
from tests.e2e.helpers import bubbles, open_chat_with, send, sign_up, unique_name

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_server(e2e_db_url: str, chromium_path: str) -> Iterator[AppServer]:
    server = AppServer(e2e_db_url, log_name="restart", private_web=True)
    server.start()
    yield server
    server.stop()
    server.remove_web_dir()


def test_reconnect_after_server_restart(browser: Browser, own_server: AppServer) -> None:
    from chatapp.db import make_engine, session_scope
    from chatapp.services import accounts, conversations, messages

    a_name, b_name = unique_name("rae"), unique_name("rob")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, own_server.url, a_name)
    sign_up(b, own_server.url, b_name)
    open_chat_with(a, b_name)
    send(a, "before the restart")
    expect(bubbles(a)).to_have_count(1)
    b_ctx.close()

    own_server.stop()
    # While A's tab is cut off, B's messages are stored (as another process would store them).
    engine = make_engine(own_server.database_url)
    with session_scope(engine) as db:
        me = accounts.authenticate(session=db, login=b_name, password="correct horse battery")
        other = accounts.authenticate(session=db, login=a_name, password="correct horse battery")
        conv = conversations.open_direct(session=db, user_id=me.id, other_user_id=other.id)
        for i in range(3):
            messages.send_message(
                session=db,
                sender_id=me.id,
                conversation_id=conv,
                body=f"missed {i}",
                client_id=f"missed-message-{i:04d}",
            )
    engine.dispose()
    own_server.start()

    # A tab reconnects
    expect(bubbles(a)).to_have_count(4, timeout=60_000)
    texts = bubbles(a).all_inner_texts()
    assert "before the restart" in texts[0]
    for i, text in enumerate(texts[1:]):
        assert f"missed {i}" in text
    # And it still works: a new message goes out.
    send(a, "after the restart")
    expect(bubbles(a)).to_have_count(5)
    expect(bubbles(a).last.locator(".bubble")).to_have_attribute("data-status", "sent")
    a_ctx.close()
