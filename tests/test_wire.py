"""chatapp/wire.py: the records a tab shows, built in one place."""

from __future__ import annotations

import pytest

from chatapp.wire import initials, preview


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Bob Chen", "BC"),
        ("alice", "AL"),
        ("Saturday climb 🧗", "SC"),  # an emoji is not a letter (a group name)
        ("🧗 Saturday", "SA"),
        ("🧗", "?"),
        ("", "?"),
        ("anna_lena.berg", "AB"),
        ("Élodie Dupont", "ÉD"),
        ("x", "X"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert initials(name) == expected


def test_previews_name_the_writer_in_a_group_and_show_system_lines_as_they_are() -> None:
    assert preview("hi  there", mine=True) == "You: hi there"
    assert preview("hi", mine=False) == "hi"
    assert preview("hi", mine=False, who="Bob") == "Bob: hi"
    assert preview("", mine=False, has_image=True, who="Bob") == "Bob: 📷 Photo"
    assert preview("Ann added Bob", mine=False, who="Ann", system=True) == "Ann added Bob"
    assert preview("Ann added Bob", mine=True, system=True) == "Ann added Bob"
    long = preview("x" * 200, mine=False, who="Bob")
    assert long.startswith("Bob: ") and long.endswith("…") and len(long) == len("Bob: ") + 80
