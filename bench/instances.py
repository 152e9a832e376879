"""Throwaway databases and private MariaDB / Redis servers, shared by the benchmark and the tests.

- :class:`DatabaseServer` + :class:`ThrowawayDatabase`: ``CREATE DATABASE <prefix>_<pid>_<hex>``
  (utf8mb4) on a MariaDB/MySQL server, optionally migrated to head, dropped at the end. The test
  suite's fixtures, the load benchmark and the fault runner all make their databases this way.
- :class:`OwnMariaDB` / :class:`OwnRedis`: servers on their own ports and data directories, for
  fault runs that stop, kill and restart them (never the shared ones on 3306 / 6379).

Nothing here reads chatapp's settings at import time (the tests set the environment first).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DEFAULT_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, up: bool, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} in {timeout}s")


# Throwaway databases ------------------------------------------------------------------------------
class DatabaseServer:
    """A MariaDB/MySQL server reached as root (``mysql+pymysql://root@host:port``)."""

    def __init__(self, server_url: str = DEFAULT_SERVER_URL) -> None:
        self.server_url = server_url
        self.engine = sa.create_engine(server_url + "/?charset=utf8mb4", pool_pre_ping=True)

    def reachable(self) -> str | None:
        """None if the server answers, else the first line of the error."""
        try:
            with self.engine.connect() as c:
                c.execute(sa.text("SELECT 1"))
        except Exception as exc:
            return str(exc).splitlines()[0]
        return None

    def create_database(self, prefix: str = "chatapp_test") -> str:
        """A new, empty database named ``<prefix>_<pid>_<hex>``; returns its name."""
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        self.create_named(name)
        return name

    def create_named(self, name: str) -> None:
        with self.engine.connect() as c:
            c.execute(
                sa.text(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )

    def drop_database(self, name: str) -> None:
        with self.engine.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))

    def url(self, name: str) -> str:
        return f"{self.server_url}/{name}?charset=utf8mb4"

    def throwaway(self, prefix: str = "chatapp_test", *, migrate: bool = True) -> ThrowawayDatabase:
        return ThrowawayDatabase(self, prefix, migrate=migrate)

    def dispose(self) -> None:
        self.engine.dispose()


class ThrowawayDatabase:
    """A fresh database (migrated to head unless ``migrate=False``) with an engine on it;
    :meth:`drop` (or leaving the ``with`` block) drops it."""

    def __init__(self, server: DatabaseServer, prefix: str, *, migrate: bool = True) -> None:
        self.server = server
        self.name = server.create_database(prefix)
        self.url = server.url(self.name)
        try:
            if migrate:
                from chatapp.db import upgrade

                upgrade(self.url)
            from chatapp.db import make_engine

            self.engine: sa.Engine = make_engine(self.url)
        except BaseException:
            server.drop_database(self.name)
            raise

    def drop(self) -> None:
        self.engine.dispose()
        self.server.drop_database(self.name)

    def __enter__(self) -> ThrowawayDatabase:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.drop()


# Private servers ----------------------------------------------------------------------------------
class OwnMariaDB:
    """`mariadbd` on its own port and data directory (root, no password, over TCP)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chatapp-mariadb-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                shutil.which("mariadb-install-db") or "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )

    @staticmethod
    def available() -> str | None:
        """None if this machine can run a private MariaDB, else why not."""
        for tool in ("mariadb-install-db",):
            if shutil.which(tool) is None:
                return f"{tool} not found"
        if not Path("/usr/sbin/mariadbd").exists():
            return "/usr/sbin/mariadbd not found"
        return None

    @property
    def server_url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.server_url}/{database}?charset=utf8mb4"

    def server(self) -> DatabaseServer:
        return DatabaseServer(self.server_url)

    def start(self) -> None:
        log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "/usr/sbin/mariadbd",
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.dir / 'sock'}",
                f"--pid-file={self.dir / 'pid'}",
                "--user=root",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
                "--max-connections=500",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, up=True)

    def stop(self) -> None:
        """A clean shutdown (the database goes away; clients see refused connections)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        wait_port(self.port, up=False)

    def create_database(self, name: str) -> None:
        server = self.server()
        try:
            server.create_named(name)
        finally:
            server.dispose()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    """`redis-server` on its own port, keeping nothing on disk (a restart comes back empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("redis-server") else "redis-server not found"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ},
        )
        wait_port(self.port, up=True)
        redis.Redis(port=self.port).ping()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        wait_port(self.port, up=False)

    def close(self) -> None:
        self.kill()
