"""A worker that got SIGTERM drains (observability/shutdown.py): from the signal on it takes no
new websocket (the server's own shutdown only tells the connections it has at that moment; a
websocket upgraded a moment later on a request already under way was never told, held the
worker until gunicorn killed it 30 s later and kept its tab there: the containers test's
"tabs back within 10 s" failed at 30 s), and /healthz answers 503 so that a proxy or an
orchestrator stops sending it anything."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatapp.observability import shutdown
from chatapp.settings import Settings
from chatapp.web import guard, ops_routes


@pytest.fixture(autouse=True)
def _not_draining() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


def _ws_client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    s = Settings(jwt_secret="s" * 48)  # type: ignore[call-arg]
    monkeypatch.setattr(guard, "get_settings", lambda: s)

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        await ws.close()

    app = Starlette(routes=[WebSocketRoute("/_event/", echo)])
    return TestClient(guard.Guard(app), base_url="http://chat.test")


def test_a_draining_worker_refuses_new_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _ws_client(monkeypatch)
    with client.websocket_connect("/_event/") as ws:  # before: served
        assert ws.receive_text() == "hello"
    shutdown.begin()
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/_event/"):
        pass
    assert refused.value.code == 1012  # "service restart": the client reconnects elsewhere


async def test_healthz_is_503_while_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fine(**_: Any) -> Any:
        return ops_routes.health.Health(ok=True, checks={"database": "ok"})

    monkeypatch.setattr(ops_routes.health, "check", fine)
    ok = await ops_routes.healthz(None)  # type: ignore[arg-type]
    assert ok.status_code == 200
    shutdown.begin()
    draining = await ops_routes.healthz(None)  # type: ignore[arg-type]
    assert draining.status_code == 503
    assert b'"shutdown":"draining"' in bytes(draining.body)


def test_sigterm_starts_the_drain_and_still_reaches_the_servers_handler() -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda sig, _frame: seen.append(sig))
    try:
        shutdown.install()
        assert not shutdown.draining()
        os.kill(os.getpid(), signal.SIGTERM)
        assert shutdown.draining()
        assert seen == [signal.SIGTERM]  # the server still shuts down as it would
    finally:
        signal.signal(signal.SIGTERM, before)
