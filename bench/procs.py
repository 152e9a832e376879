"""Server subprocesses: start, wait until they answer, stop, and measure their CPU and RSS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTEST_CURRENT_TEST", None)  # (started from a test: Reflex must not see pytest)
    env.update(extra)
    return env


@dataclass
class Usage:
    cpu_s: float  # user + system seconds of the whole process tree
    rss: int  # bytes, summed over the tree


class Server:
    """A server subprocess (its own process group) with a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        OUT.mkdir(exist_ok=True)
        self.log_path = OUT / f"{name}-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.external_pid: int | None = None  # a server this benchmark did not start

    def start(self, ready_path: str = "/ping", timeout: float = 600) -> None:
        log = self.log_path.open("ab")  # a restarted server appends to the same log
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} exited early ({self.log_path}):\n{tail}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up in {timeout}s, see {self.log_path}")

    def kill(self) -> None:
        """kill -9 the whole server (its process group): a crash, no goodbye."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._wait_port_free()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._wait_port_free()

    def _wait_port_free(self, timeout: float = 30) -> None:
        """Until nothing listens on the port: the master can exit before its workers, and a
        restart must not take a dying worker's answer for its own."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                return
            time.sleep(0.1)

    def processes(self) -> list[psutil.Process]:
        pid = self.proc.pid if self.proc is not None else self.external_pid
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def usage(self) -> Usage:
        cpu, rss = 0.0, 0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                t = p.cpu_times()
                cpu += t.user + t.system
                rss += p.memory_info().rss
        return Usage(cpu_s=cpu, rss=rss)

    def connection_owners(self) -> dict[int, int]:
        """Client port -> pid of the process (granian worker) holding that connection."""
        out: dict[int, int] = {}
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                for c in p.net_connections(kind="tcp"):
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port:
                        out[c.raddr.port] = p.pid
        return out

    def worker_pids(self) -> list[int]:
        """Python processes of the tree that serve requests (the leaves: granian workers)."""
        procs = self.processes()
        leaves = [p for p in procs if not p.children()]
        return [p.pid for p in leaves if _serves(p)]


def _serves(p: psutil.Process) -> bool:
    """A server process: python, granian, or gunicorn's worker renamed by setproctitle (when
    that package is installed, gunicorn calls itself "gunicorn: worker [...]")."""
    name = p.name().lower()
    return "python" in name or "granian" in name or "gunicorn" in name


def total_usage(servers: list[Server]) -> Usage:
    parts = [s.usage() for s in servers]
    return Usage(cpu_s=sum(u.cpu_s for u in parts), rss=sum(u.rss for u in parts))


def self_cpu() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def mariadb_cpu() -> float | None:
    """CPU seconds of the local MariaDB server (shared with other users of this machine)."""
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in {"mariadbd", "mysqld"}:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                return float(t.user + t.system)
    return None


def attach(url: str) -> Server:
    """A running server, found by the process listening on the URL's port (for CPU and RSS:
    the top-most ancestor that is still a reflex/granian process, and its whole tree)."""
    port = urlsplit(url).port or 80
    srv = Server("chatapp-external", [], {}, port)
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            proc = psutil.Process(conn.pid)
            for parent in proc.parents():
                cmd = " ".join(parent.cmdline())
                if "reflex" not in cmd and "granian" not in cmd:
                    break
                proc = parent
            srv.external_pid = proc.pid
            break
    return srv
