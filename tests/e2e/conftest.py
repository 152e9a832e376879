"""End-to-end fixtures: the real app (production build, one port) on a throwaway MariaDB
database, and Debian's Chromium driven by Playwright. Two browser contexts are two users."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MySQLServer, need

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """`python -m chatapp.serve` (production, one port) in a subprocess, as scripts/run.sh
    runs it."""

    def __init__(
        self,
        database_url: str,
        *,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        log_name: str = "app",
        own_web_dir: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.extra_env = extra_env or {}
        self.log_path = ROOT / "test-artifacts" / f"{log_name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # The port is written into the frontend bundle: a server on another port than the
        # session's needs its own build folder, or it would re-point the others' pages.
        self.web_dir = ROOT / (f".web-test-{self.port}" if own_web_dir else ".web")

    def _prepare_web_dir(self) -> None:
        base = ROOT / ".web"
        if self.web_dir == base or self.web_dir.exists():
            return
        if (base / "node_modules").is_dir():
            # A copy of the sources (Reflex rewrites them in place) and hard links to the
            # installed packages (instant, no extra space; nothing writes into them).
            shutil.copytree(
                base, self.web_dir, ignore=shutil.ignore_patterns("node_modules", "build")
            )
            subprocess.run(
                ["cp", "-al", str(base / "node_modules"), str(self.web_dir / "node_modules")],
                check=True,
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
            REFLEX_WEB_WORKDIR=str(self.web_dir),
        )
        env.pop("PYTEST_CURRENT_TEST", None)
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
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatapp.serve",
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
            ],
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
                with urllib.request.urlopen(self.url + "/login", timeout=2) as r:  # noqa: S310
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


@pytest.fixture(scope="session", autouse=True)
def _remove_test_web_dirs() -> Iterator[None]:
    yield
    for path in ROOT.glob(".web-test-*"):
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
def e2e_db_url(mysql_server: MySQLServer) -> Iterator[str]:
    name = mysql_server.create_database("chatapp_e2e")
    try:
        yield mysql_server.url(name)
    finally:
        mysql_server.drop_database(name)


@pytest.fixture(scope="session")
def app_server(e2e_db_url: str, chromium_path: str) -> Iterator[AppServer]:
    server = AppServer(e2e_db_url, own_web_dir=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(app_server: AppServer) -> str:
    # pytest-playwright reads this for page.goto("/...").
    return app_server.url
