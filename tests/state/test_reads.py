"""Read markers collected for batching survive a failed flush (the database was away)."""

from __future__ import annotations

from typing import Any

import pytest

from chatapp.services.errors import Unavailable
from chatapp.state import reads


async def test_a_failed_flush_keeps_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[list[tuple[int, int, int]]] = []
    fail = {"next": True}

    async def fake_db_call(fn: Any, /, **kwargs: Any) -> None:
        if fail["next"]:
            fail["next"] = False
            raise Unavailable()
        written.append(sorted(kwargs["marks"]))

    monkeypatch.setattr(reads, "db_call", fake_db_call)
    marks = reads.ReadMarks()
    marks.add(1, 10, 100, "tab-a")
    marks.add(2, 10, 90, "tab-b")
    with pytest.raises(Unavailable):
        await marks.flush()
    marks.add(1, 10, 105, "tab-a")  # a newer mark meanwhile wins over the kept one
    await marks.flush()
    assert written == [[(1, 10, 105), (2, 10, 90)]]
