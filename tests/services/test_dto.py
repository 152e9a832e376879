"""services/dto.py: what leaves the service layer about a user is what the row holds, field by
field, and never the password hash. (MessageOut.of is tested through the services that build
pages, changes and sends: tests/services/test_chat_services.py, test_lifecycle.py.)"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from chatapp.models import User
from chatapp.services.dto import PersonOut, UserOut


def _row() -> User:
    return User(
        id=41,
        username="dana",
        email="dana@example.com",
        display_name="Dana D",
        password_hash="$2b$12$secret",
        avatar_ref="a" * 24,
        bio="about me",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        last_seen_at=datetime(2026, 11, 27, 8, 9, 10, tzinfo=UTC),
    )


def test_a_user_and_a_person_carry_every_field_of_the_row_but_the_password_hash() -> None:
    row = _row()
    for out in (UserOut.of(row), PersonOut.of(row)):
        fields = [f.name for f in dataclasses.fields(out)]
        assert "password_hash" not in fields
        assert {name: getattr(out, name) for name in fields} == {
            name: getattr(row, name) for name in fields
        }
        assert all(getattr(out, name) not in (None, "", 0) for name in fields)
