"""Issue 10's fault scenarios, counted (`python -m bench faults`, bench/faults.py): tabs that
reconnect and re-send like the browser and the person in front of it, a bounded number of
messages at a fixed rate, a fault mid-traffic, then every message must be stored once and shown
to its recipient (live or by catch-up): 0 lost, 0 duplicated.

A loss whose every message has a cause listed in KNOWN (app defects found by these runs, see
bench/RESULTS.md "FAULTS") is reported as XFAIL naming the cause; any other loss, a duplicate,
or a message stored but left "Sending…" for its sender fails. The counts are printed either way.
"""

from __future__ import annotations

import asyncio

import pytest

from bench import faults
from bench.instances import OwnMariaDB

pytestmark = [pytest.mark.faults, pytest.mark.mysql]

# Causes of loss that are app defects (chatapp/, not the test): see bench/RESULTS.md "FAULTS".
KNOWN = {
    faults.IN_FLIGHT: "D1: a send the server had received but not answered when the connection "
    "closed (kill -9, or the server closing the transport to rebuild the tab) is gone: it was "
    "never in the outbox, and the composer was already cleared",
    faults.STRANDED: "D2: after a reconnect, a queued event that reaches the server before the "
    "page's on_load rebuilds the view in _ensure_view, which never schedules flush_outbox; "
    "load then sees the connection as handled, so the outbox is not re-sent",
    faults.RAISED: "D3: while Redis is unreachable Reflex's state manager raises before the "
    "send handler runs: a generic error toast, no bubble, no Retry",
}


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
    unknown = {k: n for k, n in res.lost_kinds.items() if k not in KNOWN}
    assert not unknown, f"lost messages, unexplained by known defects: {unknown}"
    if res.lost:
        pytest.xfail(
            f"{res.lost} lost to known app defects: "
            + "; ".join(f"{n} × {KNOWN[k]}" for k, n in res.lost_kinds.items())
        )


# Seen once in a full run on a loaded machine (load average ~6): one message of the 10 s
# database outage stored but never shown to its recipient, neither live nor by catch-up. Not
# reproduced alone; under investigation (issue 10), so it may fail without failing the run.
_FLAKY = {
    "db10": pytest.mark.xfail(
        strict=False, reason="once: 1 message stored, never shown to its recipient (issue 10)"
    )
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(s.name, marks=[_FLAKY[s.name]] if s.name in _FLAKY else [])
        for s in faults.SCENARIOS
        if not s.redis
    ],
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
