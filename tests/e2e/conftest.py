"""End-to-end fixtures: the real app (production build, one port) on a throwaway MariaDB
database, and Debian's Chromium driven by Playwright. Two browser contexts are two users."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.instances import DatabaseServer
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The browser tests sign up dozens of people from one address (127.0.0.1) within minutes,
# which is exactly what the per-address limits stop; test servers lift those two limits.
# The limits themselves are tested on `strict_server`, which runs with the defaults.
RELAXED_LIMITS = {
    "AUTH_ATTEMPTS_PER_MINUTE": "1000",
    "SIGNUPS_PER_ADDRESS_PER_HOUR": "1000",
    "SENDS_PER_MINUTE": "100000",
    "SEND_BURST": "100000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """`python -m chatapp.serve` (production, one port) in a subprocess, as scripts/run.sh
    runs it; or Reflex's backend alone for protocol tests."""

    def __init__(
        self,
        database_url: str,
        *,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        log_name: str = "app",
        private_web: bool = True,
        backend_only: bool = False,
        relaxed_limits: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        # The browser tests sign up dozens of people from one address within minutes: the
        # per-address limits are lifted unless a test is about them (strict_server).
        self.extra_env = {**(RELAXED_LIMITS if relaxed_limits else {}), **(extra_env or {})}
        self.log_path = ROOT / "test-artifacts" / f"{log_name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Backend only: the websocket and the HTTP routes, no frontend build (protocol tests).
        self.backend_only = backend_only
        # The built frontend carries its backend's port (Reflex bakes it into the bundle), so
        # a second server building into the shared .web would send the first server's pages
        # to its own websocket: a cross-origin connection the app refuses. Servers other than
        # the session's main one build into their own copy (node_modules hard-linked).
        self.web_dir: Path | None = (
            ROOT / "test-artifacts" / f"web-{log_name}-{self.port}" if private_web else None
        )

    def _prepare_web_dir(self) -> None:
        if self.web_dir is None:
            return
        shared = ROOT / ".web"
        if self.web_dir.exists():
            return  # a restart: keep its build (same port, same asset names)
        self.web_dir.parent.mkdir(exist_ok=True)
        if not (shared / "node_modules").is_dir():
            return  # nothing to copy yet: Reflex initialises the directory itself
        shutil.copytree(
            shared,
            self.web_dir,
            symlinks=True,
            ignore=shutil.ignore_patterns("node_modules", "build"),
        )
        subprocess.run(
            ["cp", "-al", str(shared / "node_modules"), str(self.web_dir / "node_modules")],
            check=True,
        )

    @property
    def media_dir(self) -> Path:
        """Where this server keeps local media (MEDIA_DIR, else the project's media/)."""
        return Path(
            self.extra_env.get("MEDIA_DIR") or os.environ.get("MEDIA_DIR") or ROOT / "media"
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REFLEX_USE_NPM="1",
            REFLEX_CHECK_LATEST_VERSION="false",
            REFLEX_TELEMETRY_ENABLED="false",
            WORKERS="1",
            PYTHONUNBUFFERED="1",
            BCRYPT_ROUNDS="12",
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
        env.pop("PYTEST_CURRENT_TEST", None)
        if self.web_dir is not None:
            env["REFLEX_WEB_WORKDIR"] = str(self.web_dir)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 600) -> None:
        self.log_path.parent.mkdir(exist_ok=True)
        self._prepare_web_dir()
        log = self.log_path.open("wb")
        subprocess.run(
            [sys.executable, "-m", "chatapp.db"],
            cwd=ROOT,
            env=self.env(),
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if self.backend_only:
            cmd = ["-m", "reflex", "run", "--env", "prod", "--backend-only"]
            cmd += ["--backend-port", str(self.port), "--backend-host", "127.0.0.1"]
        else:
            cmd = ["-m", "chatapp.serve", "--port", str(self.port), "--host", "127.0.0.1"]
        self.proc = subprocess.Popen(
            [sys.executable, *cmd],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"app exited early, see {self.log_path}:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                page = "/ping" if self.backend_only else "/login"
                with urllib.request.urlopen(self.url + page, timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        with urllib.request.urlopen(self.url + "/ping", timeout=2) as p:  # noqa: S310
                            if p.status == 200:
                                return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app did not come up in {timeout}s, see {self.log_path}")

    def kill(self) -> None:
        """kill -9 the whole server (gunicorn and its workers): a crash, no goodbye."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def remove_web_dir(self) -> None:
        if self.web_dir is not None:
            shutil.rmtree(self.web_dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_web_dirs() -> Iterator[None]:
    yield
    for path in (ROOT / "test-artifacts").glob("web-*"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    need(
        Path(CHROMIUM).exists() or bool(shutil.which("chromium")),
        f"Chromium not found at {CHROMIUM}",
    )
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium_path: str) -> dict[str, Any]:
    # pytest-playwright's fixture: use Debian's Chromium, never a downloaded browser.
    return {"executable_path": chromium_path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def e2e_db_url(mysql_server: DatabaseServer) -> Iterator[str]:
    with mysql_server.throwaway("chatapp_e2e", migrate=False) as made:  # the app migrates
        yield made.url


@pytest.fixture(scope="session")
def app_server(e2e_db_url: str, chromium_path: str) -> Iterator[AppServer]:
    server = AppServer(e2e_db_url, private_web=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def strict_server(e2e_db_url: str) -> Iterator[AppServer]:
    """The backend with every default limit and production bcrypt cost, for the abuse tests
    (protocol clients from 127.0.0.x addresses; no frontend build needed). Except the message
    limit: the log-in flood tests' signed-in user sends 20 messages a second to measure
    latency (the message limit has its own server, in test_abuse_limits.py)."""
    server = AppServer(
        e2e_db_url,
        log_name="strict",
        backend_only=True,
        relaxed_limits=False,
        extra_env={"SEND_BURST": "1000000", "SENDS_PER_MINUTE": "1000000"},
    )
    server.start()
    yield server
    server.stop()
    server.remove_web_dir()


@pytest.fixture(scope="session")
def base_url(app_server: AppServer) -> str:
    # pytest-playwright reads this for page.goto("/...").
    return app_server.url


def probe(server: AppServer) -> str:
    """ "ok" (/ping answers), "refused" (nothing listens: stopped, or draining after a
    SIGTERM) or "slow" (it listens but did not answer in 5 s: a loaded machine)."""
    try:
        with urllib.request.urlopen(server.url + "/ping", timeout=5) as r:  # noqa: S310
            return "ok" if r.status == 200 else "slow"
    except urllib.error.URLError as exc:
        return "refused" if isinstance(exc.reason, ConnectionRefusedError) else "slow"
    except ConnectionRefusedError:
        return "refused"
    except (OSError, http.client.HTTPException):
        return "slow"


def ensure_up(server: AppServer, *, slow_wait: float = 45) -> None:
    """Start the shared server again if it stopped (same port, same build), and log why.

    In CI runs in random order (2026-11-28) it received a SIGTERM from outside mid-session
    (gunicorn logged "Handling signal: term"), and every browser test after it was refused a
    connection. The sender, found later: tests/deploy/test_serve.py ran serve._pass_on in
    pytest's own process, which signals every child of that process (fixed; its test there).
    A server told to stop drains first: it stops listening at once but its process lives on for
    a while, so "refused" counts as stopped, not only "exited". One that only answers slowly is
    waited for."""
    if server.proc is None:
        return
    deadline = time.monotonic() + slow_wait
    while server.proc.poll() is None:
        state = probe(server)
        if state == "ok":
            return
        if state == "refused" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    processes = subprocess.run(
        ["ps", "-eo", "pid,ppid,pgid,etimes,args"], capture_output=True, text=True, check=False
    ).stdout
    with contextlib.suppress(ProcessLookupError):  # what is left of it (a draining worker)
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    kept = server.log_path.with_suffix(f".exited-{server.proc.returncode}.log")
    kept.write_text(
        server.log_path.read_text(errors="replace") + "\n--- processes then:\n" + processes
    )  # (start() writes the log afresh)
    print(f"app server stopped ({server.proc.returncode}), see {kept}; starting it again")
    server.start()


@pytest.fixture(autouse=True)
def _app_server_up(request: pytest.FixtureRequest) -> None:
    """The session's shared app server is up for every test that uses it (ensure_up)."""
    if "app_server" not in request.fixturenames and "base_url" not in request.fixturenames:
        return
    ensure_up(request.getfixturevalue("app_server"))


@pytest.fixture(autouse=True)
def no_csp_violations(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Every browser test doubles as a check that the app works under its Content Security
    Policy: Chromium logs each violation to the console, and any one fails the test."""
    seen: list[str] = []
    names = request.fixturenames
    if "browser" not in names and "page" not in names:
        yield seen
        return
    browser = request.getfixturevalue("browser")
    original = browser.new_context

    def new_context(*args: Any, **kwargs: Any) -> Any:
        context = original(*args, **kwargs)
        context.on(
            "console",
            lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        return context

    browser.new_context = new_context
    try:
        yield seen
    finally:
        del browser.new_context
    assert not seen, "Content-Security-Policy violations:\n" + "\n".join(seen)
