"""Issue 10's fault scenarios, counted (`python -m bench faults`, bench/faults.py): tabs that
reconnect and re-send like the browser and the person in front of it, a bounded number of
messages at a fixed rate, a fault mid-traffic, then every message must be stored once and shown
to its recipient (live or by catch-up): 0 lost, 0 duplicated.

Every loss fails the test, as does a duplicate or a message stored but left "Sending…" for its
sender (the app defects these runs found, D1-D6 in bench/RESULTS.md "FAULTS", are fixed and
have their own tests in test_defects.py). The counts are printed either way.
"""

from __future__ import annotations

import asyncio

import pytest

from bench import faults
from bench.instances import OwnMariaDB

pytestmark = [pytest.mark.faults, pytest.mark.mysql]


def _check(res: faults.FaultResult, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n{faults.HEADER}\n{faults.RULE}\n{faults.row(res)}")
        print(res.line())
        if res.lost_kinds:
            print(f"lost, by cause: {res.lost_kinds}")
        for line in res.lost_cids[:3]:
            print(f"  {line}")
    assert res.sent > 0
    assert res.duplicated == 0, (res.twice_cids, res.stored_twice)
    assert res.stuck_sending == 0, "stored, but the sender's bubble never showed it as sent"
    assert res.tabs_offline == 0, "a tab gave up reconnecting"
    assert res.lost == 0, f"lost messages, by cause: {res.lost_kinds}"


@pytest.mark.parametrize(
    "name",
    [s.name for s in faults.SCENARIOS if not s.redis],
)
def test_single_process(
    name: str, own_mariadb: OwnMariaDB, jwt_secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    res = asyncio.run(faults.run_scenario(faults.BY_NAME[name], own_mariadb, jwt_secret))
    _check(res, capsys)


@pytest.mark.redis
@pytest.mark.parametrize("name", [s.name for s in faults.SCENARIOS if s.redis])
def test_two_processes_on_redis(
    name: str,
    own_mariadb: OwnMariaDB,
    redis_available: None,
    jwt_secret: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    res = asyncio.run(faults.run_scenario(faults.BY_NAME[name], own_mariadb, jwt_secret))
    _check(res, capsys)
