"""Serve chatapp in production on one port; build the frontend only when it changed.

``python -m chatapp.serve --port 8000 [--host 0.0.0.0] [--build-only]``

Why not ``reflex run --env prod``: it deletes and rebuilds the frontend at every start
(reflex/utils/build.py ``build()``), with new asset names, so a tab left open across a restart
gets a 404 on its next route change and reloads, dropping what it had queued; and a container
would spend a minute building at every start. Here the build is made by ``reflex export`` once
and kept while its inputs are unchanged (app source, assets, frontend lockfile, Reflex version,
served port: the port is written into the bundle), recorded in a stamp file next to it. The
server is Reflex's own production backend with the built frontend mounted, exactly what
``reflex run --env prod --single-port`` starts after its build.
"""

from __future__ import annotations

import argparse
import hashlib
import os
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


def build_stamp(port: int) -> str:
    h = hashlib.sha256(f"reflex {version('reflex')} port {port}\n".encode())
    for name in INPUTS:
        base = ROOT / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_build(port: int) -> bool:
    """Build the frontend if its inputs changed. True if it built."""
    stamp = build_stamp(port)
    built = web_dir() / "build" / "client" / "index.html"
    stamp_file = web_dir() / "build" / ".chatapp-build"
    if built.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return False
    env = {**os.environ, "REFLEX_API_URL": f"http://localhost:{port}"}
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
    reflex_exec.run_backend_prod(host, port, constants.LogLevel.INFO, True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatapp.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a server: all interfaces)
    parser.add_argument("--build-only", action="store_true", help="build if needed, then stop")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    built = ensure_build(args.port)
    print(f"frontend {'built' if built else 'unchanged, not rebuilt'}", flush=True)
    if not args.build_only:
        serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
