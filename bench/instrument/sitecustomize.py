"""Loaded by the server under test only with ``python -m bench --gc-log`` (PYTHONPATH points
here): appends one line per garbage collection to $BENCH_GC_LOG, so long collector pauses can
be lined up against latency spikes. Never imported by chatapp itself.

With ``--gc-freeze`` the benchmark also sends FREEZE_SIGNAL once the app is up and before any
tab connects: the process then runs ``gc.collect(); gc.freeze()``, moving everything allocated
at start-up (Reflex's compiled app, SQLAlchemy, ...) out of the collector's reach -- an
experiment for what ``gc.freeze()`` at the end of start-up would buy chatapp.
"""

import gc
import os
import signal
import time

FREEZE_SIGNAL = signal.SIGRTMIN + 3

_path = os.environ.get("BENCH_GC_LOG")
if _path:
    _start: dict[str, float] = {}

    _log_file: str = _path

    def _write(line: str) -> None:
        with open(_log_file, "a") as f:
            f.write(f"{time.time():.3f} {os.getpid()} {line}\n")

    def _log(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _start["t"] = time.perf_counter()
            return
        ms = (time.perf_counter() - _start.get("t", time.perf_counter())) * 1000
        _write(f"{info['generation']} {ms:.2f} {info.get('collected', 0)}")

    def _freeze(signum: int, frame: object) -> None:
        gc.collect()
        gc.freeze()
        _write(f"freeze 0 {gc.get_freeze_count()}")

    gc.callbacks.append(_log)
    signal.signal(FREEZE_SIGNAL, _freeze)
