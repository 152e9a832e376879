"""bench/stack.py (the container check) reads the one-time ticket out of the sign-up's answer
as the page's script receives it."""

from __future__ import annotations

import json

import pytest

from bench.stack import TICKET_RE
from chatapp.state.session import redeem_ticket_script


@pytest.mark.parametrize(
    "ticket",
    [
        "qmPKG7nLx2Yb0aW9cZ1Vd3Ue4Tf5Sg6Rh7Qi8Pj9Ok",
        # token_urlsafe's alphabet includes "-" and "_": one ticket in 64 starts with "-",
        # which the check cut off (CI, 2026-11-28: "Log-in expired" for a ticket it misread).
        "-Henjz_rzx2Yb0aW9cZ1Vd3Ue4Tf5Sg6Rh7Qi8Pj9O",
        "_Henjz_rzx2Yb0aW9cZ1Vd3Ue4Tf5Sg6Rh7Qi8Pj9O",
        "Henjz_rzx2Yb0aW9cZ1Vd3Ue4Tf5Sg6Rh7Qi8Pj9O-",
    ],
)
def test_the_ticket_is_read_whole(ticket: str) -> None:
    event = {"name": "_call_script", "payload": {"javascript_code": redeem_ticket_script(ticket)}}
    found = TICKET_RE.search(json.dumps(event))
    assert found is not None and found.group(1) == ticket
