"""Reflex configuration. Values come from chatapp.settings, the one reader of the environment."""

import os
import tempfile

import reflex as rx

from chatapp.settings import get_settings

_settings = get_settings()

# Tell Reflex which production server to run and with how many workers (Reflex and its servers
# read these variables themselves). A value the operator set wins; a value this file derived in
# a parent process (named in CHATAPP_DERIVED_ENV, which children inherit) is derived again from
# this process's own settings: a child started with WORKERS=2 by a process that had one worker
# must not keep "--workers 1".
_DERIVED = "CHATAPP_DERIVED_ENV"
_inherited = set(filter(None, os.environ.get(_DERIVED, "").split(",")))
_derived: set[str] = set()


def _derive(key: str, value: str | None) -> None:
    """Set ``key`` to ``value`` (None: leave it unset) unless the operator set it."""
    if key in os.environ and key not in _inherited:
        return
    if value is None:
        os.environ.pop(key, None)
        return
    os.environ[key] = value
    _derived.add(key)


_derive("REFLEX_USE_GRANIAN", "true" if _settings.server == "granian" else "false")
_derive("GRANIAN_WORKERS", str(_settings.worker_count))
_gunicorn = f"--workers {_settings.worker_count}"
if _settings.worker_count > 1:
    _gunicorn += " -c python:chatapp.observability.gunicorn_conf"  # metrics of exited workers
_derive("GUNICORN_CMD_ARGS", _gunicorn)
# Several workers: each keeps its metrics in files here and /metrics adds them up
# (chatapp/observability/metrics.py). A fresh, empty folder per server start unless one is
# given; the workers inherit the variable, which prometheus_client reads when it is first
# imported (after this file: chatapp.observability is imported by the app, not here). The
# processes of one server (the CLI, gunicorn's master, its workers) keep the first one's folder.
_derive(
    "PROMETHEUS_MULTIPROC_DIR",
    (_settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="chatapp-metrics-"))
    if _settings.worker_count > 1
    else None,
)
# A tab's events and the messages pushed to it are always handled by the process holding
# its websocket (realtime/ delivers to local tabs only), so that process may keep the tab's
# Redis lock and state between events (Reflex's opportunistic lock) instead of a lock, a
# read and a write in Redis for every event; another process that needs the tab (after a
# reconnect) breaks the lease. Measured: 2 workers went from collapsing at 200 messages/s
# to p99 54 ms at 300/s (bench/RESULTS.md).
_derive("REFLEX_OPLOCK_ENABLED", "true" if _settings.redis_url else None)
os.environ[_DERIVED] = ",".join(sorted(_derived))

# Origins allowed to call the backend (CORS) and open its websocket. Empty ALLOWED_ORIGINS
# means only the origin the app is served from, which chatapp/web/guard.py enforces for every
# request; Reflex's own default, "*", would reflect any origin with credentials. In
# development, `reflex run` without --env prod serves the frontend from its own port.
_cors = list(_settings.allowed_origin_list)
if not _settings.is_production:
    _cors += ["http://localhost:3000", "http://127.0.0.1:3000"]

config = rx.Config(
    app_name="chatapp",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Without Redis, state lives in this process's memory (faster than the default disk
    # manager; identity is re-derived from the session cookie on every page load anyway).
    # With REDIS_URL, Reflex keeps state in Redis so several workers/processes can serve it.
    state_manager_mode="redis" if _settings.redis_url else "memory",
    redis_url=_settings.redis_url or None,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="indigo", radius="large")
        )
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
    cors_allowed_origins=_cors,
)
