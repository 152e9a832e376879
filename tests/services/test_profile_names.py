"""Display names cannot carry bidirectional overrides or invisible characters (issue 11,
finding 9): "\u202egnp.exe" shows as "exe.png", a zero-width space makes "alice" and
"al\u200bice" look the same, a name of only invisible characters looks empty."""

from __future__ import annotations

import pytest

from chatapp.services.profiles import clean_name, validate_profile

SPOOFS = [
    ("Alice\u202e\u2066evil\u2069", "Aliceevil"),  # right-to-left override, isolates
    ("al\u200bice", "alice"),  # zero-width space
    ("\ufeffbob\u2060", "bob"),  # byte-order mark, word joiner
    ("ca\u200erol\u200f", "carol"),  # left-to-right / right-to-left marks
    ("da\u00adve", "dave"),  # soft hyphen
    ("e\u034fve", "eve"),  # combining grapheme joiner
    ("  frank \u2028 smith ", "frank smith"),  # line separator, spaces collapsed
    ("gr\u061cace", "grace"),  # Arabic letter mark
    ("he\U000e0041idi", "heidi"),  # tag characters
]


@pytest.mark.parametrize(("raw", "clean"), SPOOFS)
def test_controls_and_invisibles_are_stripped(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean
    name, _, errors = validate_profile(raw, "")
    assert (name, errors) == (clean, {})


@pytest.mark.parametrize(
    "blank", ["\u200b\u200b", "\u202e", "\u3164", "\u2800\u2800", "\u115f", " \ufeff "]
)
def test_a_name_of_nothing_visible_is_refused(blank: str) -> None:
    _, _, errors = validate_profile(blank, "")
    assert "display_name" in errors


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Müller",
        "李小龍",
        "محمد علي",  # right-to-left script itself is fine
        "می\u200cخواهم",  # zero-width non-joiner between Persian letters is spelling
        "Family 👨\u200d👩\u200d👧",  # zero-width joiner inside an emoji sequence
        "Chef 🧑🏽\u200d🍳",
        "Ⓐnna ❤️",
    ],
)
def test_real_names_are_kept(name: str) -> None:
    assert clean_name(name) == name
