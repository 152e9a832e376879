"""chatapp/serve.py as a container runs it: the frontend is built into the image for the
address browsers use (--api-url), served without building (--no-build), and the orchestrator's
SIGTERM reaches the server process (the container's PID 1 is this process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chatapp import serve

ROOT = Path(__file__).resolve().parents[2]


def test_no_build_refuses_to_start_without_a_build(tmp_path: Path) -> None:
    env = {**os.environ, "REFLEX_WEB_WORKDIR": str(tmp_path / "web")}
    run = subprocess.run(
        [sys.executable, "-m", "chatapp.serve", "--no-build", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "no frontend build" in run.stderr


def test_the_stamp_follows_the_address_written_into_the_bundle() -> None:
    a = serve.build_stamp("http://localhost:8000")
    assert a == serve.build_stamp("http://localhost:8000")
    assert a != serve.build_stamp("http://localhost:8080")


def test_sigterm_is_passed_on_to_the_server_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in serve._children()
        serve._pass_on(signal.SIGTERM, None)
        assert child.wait(10) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 5
    while child.pid in serve._children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.pid not in serve._children()
