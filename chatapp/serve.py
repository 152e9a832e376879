"""Serve chatapp in production on one port; build the frontend only when it changed.

``python -m chatapp.serve --port 8000 [--host 0.0.0.0] [--api-url URL] [--build-only | --no-build]``

Why not ``reflex run --env prod``: it deletes and rebuilds the frontend at every start
(reflex/utils/build.py ``build()``), with new asset names, so a tab left open across a restart
gets a 404 on its next route change and reloads, dropping what it had queued; and a container
would spend a minute building at every start. Here the build is made by ``reflex export`` once
and kept while its inputs are unchanged (app source, assets, frontend lockfile, Reflex version,
the address the browser reaches the backend at, which is written into the bundle), recorded in
a stamp file next to it. The server is Reflex's own production backend with the built frontend
mounted, exactly what ``reflex run --env prod --single-port`` starts after its build.

That address (``--api-url``) is ``http://localhost:<port>`` by default. Behind a proxy on
another port (the compose stack: the app on 8000, the proxy on 8080) give the proxy's: over
plain http the browser keeps the bundle's port (it swaps in the page's host name only); over
https it uses the page's host and port whatever the bundle says. A container image builds once
(``--build-only``) and serves that build (``--no-build``: no Node.js needed at run time).

The server (gunicorn or granian) runs as a child process: a SIGTERM given to this process is
passed on to it, and this process exits when it has finished draining. In a
container this process is PID 1, which the kernel gives no default signal actions.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("chatapp", "assets", "rxconfig.py", "reflex.lock", "requirements.txt")


def web_dir() -> Path:
    """Reflex's frontend folder (REFLEX_WEB_WORKDIR, default .web): servers on different ports
    need their own, since the port is written into the bundle."""
    from reflex.utils.prerequisites import get_web_dir

    web = Path(get_web_dir())
    return web if web.is_absolute() else ROOT / web


def build_stamp(api_url: str) -> str:
    h = hashlib.sha256(f"reflex {version('reflex')} api {api_url}\n".encode())
    for name in INPUTS:
        base = ROOT / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def built_index() -> Path:
    return web_dir() / "build" / "client" / "index.html"


def ensure_build(api_url: str) -> bool:
    """Build the frontend if its inputs changed. True if it built."""
    stamp = build_stamp(api_url)
    stamp_file = web_dir() / "build" / ".chatapp-build"
    if built_index().exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False
    env = {**os.environ, "REFLEX_API_URL": api_url}
    subprocess.run(
        [sys.executable, "-m", "reflex", "export", "--env", "prod", "--frontend-only", "--no-zip"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    stamp_file.write_text(stamp)
    return True


def serve(host: str, port: int) -> None:
    from reflex import constants
    from reflex.config import environment, get_config
    from reflex.utils import exec as reflex_exec

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    config = get_config()
    config._set_persistent(frontend_port=port, backend_port=port, backend_host=host)
    signal.signal(signal.SIGTERM, _pass_on)
    reflex_exec.run_backend_prod(host, port, constants.LogLevel.INFO, True)


def _pass_on(signum: int, frame: object) -> None:
    """Give the signal to the server process (Reflex started it as our child and waits for it);
    it stops accepting, drains and exits, and then so do we."""
    for pid in _children():
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _children() -> list[int]:
    """Our direct child processes (from /proc: Linux, as the servers Reflex runs here)."""
    me, out = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            out.append(int(stat.parent.name))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatapp.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a server: all interfaces)
    parser.add_argument(
        "--api-url",
        help="where browsers reach the backend, written into the frontend bundle "
        "(default: http://localhost:PORT)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--build-only", action="store_true", help="build if needed, then stop")
    mode.add_argument(
        "--no-build", action="store_true", help="serve the existing build (a container image's)"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.no_build:
        if not built_index().exists():
            parser.error(f"--no-build: no frontend build in {web_dir() / 'build'}")
        print("frontend: serving the existing build", flush=True)
    else:
        built = ensure_build(args.api_url or f"http://localhost:{args.port}")
        print(f"frontend {'built' if built else 'unchanged, not rebuilt'}", flush=True)
    if not args.build_only:
        serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
