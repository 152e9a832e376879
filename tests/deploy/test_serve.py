"""chatapp/serve.py as a container runs it: the frontend is built into the image for the
address browsers use (--api-url), served without building (--no-build), and the orchestrator's
SIGTERM reaches the server process (the container's PID 1 is this process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


PASS_ON = """
import signal, subprocess, sys
from chatapp import serve
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
assert child.pid in serve._children()
serve._pass_on(signal.SIGTERM, None)
print(child.wait(10), child.pid in serve._children())
"""


def test_sigterm_is_passed_on_to_the_server_child() -> None:
    """In a process of its own, as serve.py runs in a container: `_pass_on` signals every
    child of the process it runs in, and pytest's has others (the test below)."""
    run = subprocess.run(
        [sys.executable, "-c", PASS_ON], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(-signal.SIGTERM), "False"]


BYSTANDER = """
import signal, sys
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(1))
print("ready", flush=True)
sys.stdin.readline()  # (a signal that came before the line: its handler has run by now)
print("TERM" if got else "none", flush=True)
"""


def test_the_sigterm_check_leaves_the_test_runs_other_processes_alone() -> None:
    """`_pass_on` signals every child of the process it runs in. Run in pytest's own process,
    the check above also stopped the session's other children: the private MariaDB of the fault
    tests (test_defects.py then refused connections, CI 2026-11-28, seed 843120055) and the
    shared browser-test server (the "SIGTERM from outside" of earlier runs)."""
    bystander = subprocess.Popen(
        [sys.executable, "-c", BYSTANDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert bystander.stdout is not None and bystander.stdout.readline() == "ready\n"
        test_sigterm_is_passed_on_to_the_server_child()
        out, _ = bystander.communicate("go\n", timeout=10)
        assert out.split() == ["none"]
    finally:
        bystander.kill()
        bystander.wait()
