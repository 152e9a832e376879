"""gunicorn settings module (``-c python:chatapp.observability.gunicorn_conf``), given by
rxconfig.py when several workers run: a worker that exits has its live gauges (connected
tabs) removed from PROMETHEUS_MULTIPROC_DIR, so a restarted worker's tabs are not counted
twice."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
