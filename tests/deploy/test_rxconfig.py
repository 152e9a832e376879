"""rxconfig.py turns the settings into the variables Reflex and its servers read (workers,
server, Reflex's lease on Redis, the metrics folder). A process that loaded it passes those on
to every process it starts; a child started with other settings (WORKERS=2 where the parent
had one worker: the test harness, a supervisor) must get its own values, not the parent's
derived ones, while a value the operator set by hand still wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "GUNICORN_CMD_ARGS",
    "GRANIAN_WORKERS",
    "REFLEX_USE_GRANIAN",
    "REFLEX_OPLOCK_ENABLED",
    "PROMETHEUS_MULTIPROC_DIR",
)
SHOW = "import json, os, rxconfig; print(json.dumps(dict(os.environ)))"


def _env_after_rxconfig(env: dict[str, str]) -> dict[str, str]:
    """The environment a process has after importing rxconfig under ``env``."""
    run = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    after: dict[str, str] = json.loads(run.stdout.strip().splitlines()[-1])
    return after


def _base() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS and k != "CHATAPP_DERIVED_ENV"}
    for k in ("WORKERS", "REDIS_URL", "SERVER"):
        env.pop(k, None)
    return env


def test_a_child_with_two_workers_does_not_inherit_its_parents_one() -> None:
    parent = _env_after_rxconfig({**_base(), "WORKERS": "1"})
    assert parent["GUNICORN_CMD_ARGS"] == "--workers 1"
    assert "PROMETHEUS_MULTIPROC_DIR" not in parent
    child = _env_after_rxconfig({**parent, "WORKERS": "2", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert child["GUNICORN_CMD_ARGS"].startswith("--workers 2 ")
    assert child["GRANIAN_WORKERS"] == "2"
    assert child["REFLEX_OPLOCK_ENABLED"] == "true"
    assert Path(child["PROMETHEUS_MULTIPROC_DIR"]).is_dir()
    # ... and its own child with one worker and no Redis drops what no longer applies.
    grandchild = _env_after_rxconfig({**child, "WORKERS": "1", "REDIS_URL": ""})
    assert grandchild["GUNICORN_CMD_ARGS"] == "--workers 1"
    assert "REFLEX_OPLOCK_ENABLED" not in grandchild
    assert "PROMETHEUS_MULTIPROC_DIR" not in grandchild


def test_the_chain_of_one_server_keeps_one_metrics_folder() -> None:
    """`reflex run` loads rxconfig, then its gunicorn master does again: both must agree on the
    folder, or the master's exit hook would clean another folder than the workers write."""
    cli = _env_after_rxconfig({**_base(), "WORKERS": "2", "REDIS_URL": "redis://127.0.0.1:1/0"})
    master = _env_after_rxconfig(cli)
    assert master["PROMETHEUS_MULTIPROC_DIR"] == cli["PROMETHEUS_MULTIPROC_DIR"]
    assert master["GUNICORN_CMD_ARGS"] == cli["GUNICORN_CMD_ARGS"]


def test_a_value_set_by_hand_still_wins() -> None:
    env = _env_after_rxconfig({**_base(), "WORKERS": "2", "GUNICORN_CMD_ARGS": "--workers 3"})
    assert env["GUNICORN_CMD_ARGS"] == "--workers 3"
    again = _env_after_rxconfig({**env, "WORKERS": "1"})
    assert again["GUNICORN_CMD_ARGS"] == "--workers 3"
