"""Index hints for the queries MariaDB's optimizer gets wrong.

Every read of a window of one conversation's messages ("the newest N before id X", "N after
id X", "up to N unread after the read marker") is a range on the (conversation_id, id) index.
MariaDB 10.11 often picks something else: `ref` on conversation_id alone, or a range on the
primary key across every conversation. Both then step through every message on the far side of
the id bound: a page in the middle of a 3,000-message conversation read ~1,050 index entries
instead of 51 (tests/services/test_chat_services.py:
test_message_windows_read_only_their_rows_wherever_they_are). The hint is rendered only for
MySQL/MariaDB; SQLite's planner takes the index by itself.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.sql.selectable import HasHints

from chatapp.models import Message

S = TypeVar("S", bound=HasHints)

_MESSAGES_BY_CONVERSATION = "FORCE INDEX (ix_messages_conversation_id_id)"


def messages_by_conversation(stmt: S) -> S:
    """``stmt`` reading ``messages`` through the (conversation_id, id) index."""
    table = Message.__table__  # type: ignore[attr-defined]
    for dialect in ("mysql", "mariadb"):
        stmt = stmt.with_hint(table, _MESSAGES_BY_CONVERSATION, dialect_name=dialect)
    return stmt
