"""Every Prometheus metric of the app, and the text /metrics serves.

The objects are module globals so the code paths that count (services, realtime hub, state)
only do ``X.inc()`` / ``X.observe(v)``: a lock and an add, or with several workers a write to a
memory-mapped file. No per-user, per-conversation or per-tab labels, so the series stay few and
say nothing about anyone.

Several workers (WORKERS > 1): prometheus_client keeps each process's values in files under
``PROMETHEUS_MULTIPROC_DIR`` when that variable is set before it is imported; rxconfig.py sets it
(a fresh empty folder per server start) and :func:`render` then adds up every process's files.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

# Seconds: from publish on the bus to the tab's state updated (and its delta sent).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Bytes: avatars and chat images (services/images.py caps an upload at 10 MB).
_SIZE_BUCKETS = (10e3, 50e3, 100e3, 250e3, 500e3, 1e6, 2.5e6, 5e6, 10e6)

MESSAGES_STORED = Counter(
    "chatapp_messages_stored", "Messages stored (a re-send of a stored message is not counted)"
)
DELIVERIES = Counter("chatapp_deliveries", "Bus events applied to a tab's state on this server")
DELIVERY_FAILURES = Counter("chatapp_delivery_failures", "Bus events a tab could not be given")
DELIVERY_LATENCY = Histogram(
    "chatapp_delivery_latency_seconds",
    "From publish on the bus to the receiving tab's state update",
    buckets=LATENCY_BUCKETS,
)
CONNECTED_TABS = Gauge(
    "chatapp_connected_tabs",
    "Signed-in tabs with a live connection (summed over live worker processes)",
    multiprocess_mode="livesum",
)
HANDLER_LATENCY = Histogram(
    "chatapp_event_handler_seconds",
    "Time an event handler ran, from its tab's state locked to its update sent (background "
    "handlers: their whole run); label: the handler's qualified name",
    ["handler"],
    buckets=LATENCY_BUCKETS,
)
UPLOAD_BYTES = Histogram(
    "chatapp_upload_bytes", "Sizes of received image uploads", buckets=_SIZE_BUCKETS
)
FAILED_LOGINS = Counter("chatapp_failed_logins", "Log-ins refused for a wrong login or password")


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes its values to PROMETHEUS_MULTIPROC_DIR (it decided so at
    import, from the environment)."""
    return values.ValueClass is not values.MutexValue


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of every worker process (multiprocess)."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def delivered(published_at: float | None) -> None:
    """One bus event shown in one tab; ``published_at`` is the publisher's time.time()."""
    DELIVERIES.inc()
    if published_at:
        DELIVERY_LATENCY.observe(max(0.0, time.time() - published_at))
