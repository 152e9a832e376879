"""Garbage-collector settings for a long-running server process.

Measured with ``python -m bench --gc-log`` (bench/RESULTS.md): with CPython's defaults a full
(generation-2) collection in a worker walks every object the process holds -- Reflex's compiled
app, SQLAlchemy, pydantic and every module, ~1 M objects before a single tab connects -- and
stopped the event loop for ~120 ms with 100 tabs connected, which alone put p99 delivery above
100 ms; at 300 messages/s the collector ran 17 times a second.

1. ``gc.freeze()`` once start-up is over moves everything allocated so far into the permanent
   generation, which collections skip. Those objects live as long as the process anyway.
2. A larger generation-0 threshold: in-flight messages (dicts, frames, futures) are garbage
   within milliseconds; with the default 700 they survive into older generations before they
   die and make full collections more frequent. (CPython 3.13 raised its default to 2,000.)
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

GEN0_THRESHOLD = 20_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 10

_done = False


def tune_after_startup() -> None:
    """Call once per process when the app is loaded and about to serve (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
    log.info(
        "gc: %d start-up objects frozen; thresholds %s", gc.get_freeze_count(), gc.get_threshold()
    )
