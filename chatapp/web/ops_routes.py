"""/healthz and /metrics, for load balancers, orchestrators and Prometheus.

Both are plain GETs without cookies; requests without an ``Origin`` (every probe and scraper)
pass the guard (web/guard.py). Neither says anything about any user:

* /healthz: 200 ``{"status": "ok", "checks": {...}}`` when the database and (if configured)
  Redis answer, else 503 naming the check that failed and only the class of its error
  (observability/health.py).
* /metrics: Prometheus text (observability/metrics.py): totals and histograms, no per-user
  labels. METRICS_ENABLED=false turns it into a 404; behind a public proxy, route /metrics only
  from the monitoring network (the proxy's job: the app cannot tell a proxied request from a
  scraper on the same network).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatapp.observability import health, metrics, shutdown
from chatapp.settings import get_settings

_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    result = await health.check()
    if shutdown.draining():  # SIGTERM: take this worker out of the rotation while it drains
        result.ok = False
        result.checks["shutdown"] = "draining"
    return JSONResponse(result.body(), status_code=200 if result.ok else 503, headers=_NO_STORE)


async def metrics_text(request: Request) -> Response:
    if not get_settings().metrics_enabled:
        return Response("Not found.", status_code=404, media_type="text/plain")
    body, content_type = await run_in_threadpool(metrics.render)  # reads files with workers
    return Response(body, media_type=content_type, headers=_NO_STORE)


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics_text, methods=["GET"]),
]
