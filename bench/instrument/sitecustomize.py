"""Loaded by the server under test only with ``python -m bench --gc-log`` (PYTHONPATH points
here): appends one line per garbage collection to $BENCH_GC_LOG, so long collector pauses can
be lined up against latency spikes. Never imported by chatapp itself."""

import gc
import os
import time

_path = os.environ.get("BENCH_GC_LOG")
if _path:
    _start: dict[str, float] = {}
    _log_file: str = _path

    def _log(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _start["t"] = time.perf_counter()
            return
        ms = (time.perf_counter() - _start.get("t", time.perf_counter())) * 1000
        with open(_log_file, "a") as f:
            f.write(
                f"{time.time():.3f} {os.getpid()} {info['generation']} {ms:.2f} "
                f"{info.get('collected', 0)}\n"
            )

    gc.callbacks.append(_log)
