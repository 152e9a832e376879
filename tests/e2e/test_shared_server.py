"""The session's shared app server comes back for the next test if something stopped it.

In CI runs in random order (2026-11-28) the shared server received a SIGTERM mid-session (from
tests/deploy/test_serve.py, found later and fixed: it signalled every child of pytest's
process). Since the server drains on SIGTERM (chatapp/observability/shutdown.py), its process
lives on for a while after it stopped listening, and the tests right after it were refused a
connection (two crafted-event tests failed this way in CI)."""

from __future__ import annotations

import os
import signal
import time
import urllib.request

import pytest

from tests.e2e.conftest import AppServer, ensure_up, probe

pytestmark = pytest.mark.e2e


def test_a_shared_server_told_to_stop_is_up_again_for_the_next_test(
    app_server: AppServer,
) -> None:
    assert app_server.proc is not None
    port = app_server.port
    os.killpg(app_server.proc.pid, signal.SIGTERM)  # as it came in CI: from outside
    # The moment the CI failures met: no longer listening, its process still draining.
    deadline = time.monotonic() + 10
    while probe(app_server) == "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert probe(app_server) == "refused"
    assert app_server.proc.poll() is None  # (still draining: what the old check missed)
    ensure_up(app_server)  # what the autouse fixture does before each test
    assert app_server.port == port  # (the build carries its port)
    with urllib.request.urlopen(app_server.url + "/ping", timeout=5) as r:  # noqa: S310
        assert r.status == 200
