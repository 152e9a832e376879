"""The embedded default (SQLite) runs the same message services: the send path's statements
go straight to the driver (services/rawsql.py), so they are checked on both databases.

The tests are the MariaDB ones from test_chat_services.py, run here against a migrated SQLite
file through a local ``db`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp import db as chat_db
from tests.conftest import session_then_empty
from tests.services.test_chat_services import (  # noqa: F401  (collected here, on SQLite)
    test_client_id_reused_in_another_conversation_is_refused,
    test_client_ids_are_unique_per_sender_not_globally,
    test_image_messages_carry_the_image_size,
    test_image_size_is_zero_once_the_message_or_the_image_is_gone,
    test_leading_and_trailing_whitespace_is_trimmed_in_storage,
    test_messages_after,
    test_outsiders_can_neither_send_nor_read,
    test_page_tells_who_sent_the_message_before_it_and_when,
    test_pages_cover_every_message_exactly_once,
    test_search_people_escapes_like_wildcards,
    test_search_people_needs_two_characters,
    test_search_people_returns_at_most_20_ordered_by_username,
    test_send_is_idempotent_per_client_id,
    test_send_message_alone_claims_the_senders_image,
    test_send_message_alone_commits_on_its_own_and_is_idempotent,
    test_send_message_alone_refusals_change_nothing,
    test_send_stores_message_and_updates_markers,
    test_sidebar_orders_by_latest_activity_with_previews,
    test_unread_counts_and_mark_read,
)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "chat.db"
    url = f"sqlite:///{path}"
    chat_db.upgrade(url)
    engine = chat_db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(sqlite_engine: sa.Engine) -> Iterator[Session]:
    yield from session_then_empty(sqlite_engine)


def test_sent_message_time_reads_back_as_stored(db: Session) -> None:
    """SQLite keeps datetimes as text: the raw path must write SQLAlchemy's format."""
    from chatapp.services import accounts
    from chatapp.services import conversations as convs
    from chatapp.services import messages as msgs

    a = accounts.sign_up(session=db, username="ann", email="ann@example.com", password="pw-123456")
    b = accounts.sign_up(session=db, username="ben", email="ben@example.com", password="pw-123456")
    conv = convs.open_direct(session=db, user_id=a.id, other_user_id=b.id)
    sent = msgs.send_message(
        session=db, sender_id=a.id, conversation_id=conv, body="hi", client_id="cid-00000001"
    )
    db.commit()
    page = msgs.list_messages(session=db, user_id=b.id, conversation_id=conv)
    assert [m.id for m in page.items] == [sent.message.id]
    got = page.items[0].created_at.replace(tzinfo=None)
    assert got == sent.message.created_at.replace(tzinfo=None)
