"""/healthz, for load balancers and orchestrators.

A plain GET without cookies; requests without an ``Origin`` (every probe) pass the guard
(web/guard.py). It says nothing about any user: 200 ``{"status": "ok", "checks": {...}}`` when
the database and (if configured) Redis answer, else 503 naming the check that failed and only
the class of its error (observability/health.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatapp.observability import health

_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    result = await health.check()
    return JSONResponse(result.body(), status_code=200 if result.ok else 503, headers=_NO_STORE)


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
]
