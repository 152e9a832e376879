"""python -m chatapp.db as containers run it: --wait for a database that is still starting,
--check for pods that wait for their migration job (chatapp/db.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from chatapp import db as chat_db


def test_wait_gives_up_with_the_last_error_when_the_database_never_answers() -> None:
    t0 = time.monotonic()
    with pytest.raises(sa.exc.OperationalError):
        chat_db.wait_for_database(0, "mysql+pymysql://nobody:x@127.0.0.1:9/none")
    assert time.monotonic() - t0 < 5


def test_wait_returns_once_the_database_answers(tmp_path: Path) -> None:
    chat_db.wait_for_database(5, f"sqlite:///{tmp_path / 'up.db'}")


def test_check_tells_whether_the_schema_is_this_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    ok, current, head = chat_db.is_migrated(url)
    assert (ok, current) == (False, None) and head
    chat_db.upgrade(url)
    assert chat_db.is_migrated(url) == (True, head, head)
    # A revision this code does not know: a newer version's job migrated (a rolling update,
    # or this version rolled back to): the schema only grew, the pod may start.
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_newer'"))
    engine.dispose()
    assert chat_db.is_migrated(url) == (True, "ffff_newer", head)
    # A known older revision: not yet.
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    assert chat_db.is_migrated(url)[0] is False


def test_main_check_exits_1_until_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'main.db'}"
    monkeypatch.setattr(chat_db, "get_settings", lambda: type("S", (), {"database_url": url})())
    assert chat_db.main(["--check"]) == 1
    assert chat_db.main(["--wait", "5"]) == 0
    assert chat_db.main(["--check"]) == 0
    assert "newest" in capsys.readouterr().out
