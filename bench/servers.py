"""The three targets' servers: chatapp (as the e2e tests run it) and the two relays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.procs import VENV_BIN, Server, base_env, free_port

NODE_DIR = Path(__file__).resolve().parent / "node_relay"
INSTRUMENT = Path(__file__).resolve().parent / "instrument"


def chatapp(
    *,
    database_url: str,
    jwt_secret: str,
    workers: int = 1,
    redis_url: str = "",
    backend_only: bool = False,
    name: str = "chatapp",
    gc_log: str = "",
    extra_env: dict[str, str] | None = None,
) -> Server:
    """`python -m chatapp.serve` as scripts/run.sh runs it (or `reflex run --backend-only`, the
    same backend without the frontend: used for a second process)."""
    port = free_port()
    if backend_only:
        cmd = [sys.executable, "-m", "reflex", "run", "--env", "prod", "--backend-only"]
        cmd += ["--backend-port", str(port), "--backend-host", "127.0.0.1"]
    else:
        cmd = [sys.executable, "-m", "chatapp.serve", "--port", str(port), "--host", "127.0.0.1"]
    env = base_env(
        DATABASE_URL=database_url,
        JWT_SECRET=jwt_secret,
        REFLEX_USE_NPM="1",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_TELEMETRY_ENABLED="false",
        WORKERS=str(workers),  # chatapp settings: the server Reflex runs, and its workers
        # Load-tool users send faster than people do (3 messages/s each for 100 users at
        # 300/s): the per-user message limit (SECURITY.md) is lifted for capacity runs.
        SEND_BURST="1000000",
        SENDS_PER_MINUTE="1000000",
    )
    if gc_log:
        # bench/instrument/sitecustomize.py logs every collection of the server's workers.
        env["PYTHONPATH"] = f"{INSTRUMENT}:{env.get('PYTHONPATH', '')}".rstrip(":")
        env["BENCH_GC_LOG"] = gc_log
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    env.update(extra_env or {})
    return Server(name, cmd, env, port)


def python_relay(server: str = "uvicorn") -> Server:
    """The python-socketio relay on the same ASGI server chatapp runs on (uvicorn by default,
    as chatapp's SERVER setting; granian with ``--relay-server granian``)."""
    port = free_port()
    if server == "granian":
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--log-level", "warning", "bench.relay_py:app"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "bench.relay_py:app", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--log-level", "warning"]
    return Server(f"py-relay-{server}", cmd, base_env(), port)


def ensure_node_modules() -> None:
    """`npm ci` from the committed lockfile, once (node_modules is git-ignored)."""
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        [str(VENV_BIN / "npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        env=base_env(),
        check=True,
    )


def node_relay() -> Server:
    ensure_node_modules()
    port = free_port()
    cmd = [str(VENV_BIN / "node"), str(NODE_DIR / "server.js"), str(port)]
    return Server("node-relay", cmd, base_env(), port)
