"""Plain HTTP routes mounted next to Reflex (``rx.App(api_transformer=...)``).

Reflex cookies are readable by page scripts, so the session cookie is set and cleared here,
HttpOnly, by ordinary HTTP responses. The websocket handler never sees the token itself: it
hands the browser a one-time ticket, and the browser redeems it here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatapp.db import session_scope
from chatapp.services import accounts
from chatapp.settings import get_settings
from chatapp.web.guard import same_origin

MAX_BODY = 4096


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def redeem_ticket(request: Request, body: bytes) -> Response:
    """POST {"ticket": ...} -> Set-Cookie with the session JWT (HttpOnly, SameSite=Lax)."""
    try:
        ticket = str(json.loads(body or b"{}").get("ticket", ""))
    except (ValueError, AttributeError):
        ticket = ""
    with session_scope() as db:
        issued = accounts.activate_session(session=db, ticket=ticket)
    if issued is None:
        return _no_store(JSONResponse({"ok": False, "error": "Log-in expired, try again."}, 400))
    s = get_settings()
    resp = JSONResponse({"ok": True})
    resp.set_cookie(
        s.session_cookie_name,
        issued.token,
        max_age=s.session_lifetime_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=s.is_production,
    )
    return _no_store(resp)


def logout(request: Request, body: bytes) -> Response:
    """Revoke the session the cookie names (if any) and clear the cookie."""
    s = get_settings()
    token = request.cookies.get(s.session_cookie_name, "")
    if token:
        with session_scope() as db:
            current = accounts.resolve_session(session=db, token=token)
            if current:
                accounts.revoke_session(session=db, session_id=current.session_id)
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(
        s.session_cookie_name, path="/", httponly=True, samesite="lax", secure=s.is_production
    )
    return _no_store(resp)


def cross_site_refusal(request: Request, *, body_type: str | None) -> Response | None:
    """None when the request may change state; else the refusal (log-in CSRF, finding 5).

    It must come from a page of this app (``Origin``, else ``Sec-Fetch-Site: same-origin``),
    and a body must have the declared type: ``application/json`` cannot be sent cross-site
    without a CORS preflight (which is refused), unlike the ``text/plain`` of a form or a
    no-cors fetch. ``body_type`` is a full type or a prefix ending in "/" (``image/``).
    """
    if not same_origin(request.scope):
        return _no_store(JSONResponse({"ok": False, "error": "Cross-site request refused."}, 403))
    if body_type is not None:
        declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not (
            declared.startswith(body_type) if body_type.endswith("/") else declared == body_type
        ):
            return _no_store(
                JSONResponse({"ok": False, "error": f"Send {body_type} content."}, 415)
            )
    return None


async def _read_body_then(
    handler: Callable[[Request, bytes], Response], request: Request, *, body_type: str | None
) -> Response:
    refusal = cross_site_refusal(request, body_type=body_type)
    if refusal is not None:
        return refusal
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return JSONResponse({"ok": False, "error": "Request too large."}, 413)
    # Database work never runs on the event loop.
    return await run_in_threadpool(handler, request, body)


async def _redeem(request: Request) -> Response:
    return await _read_body_then(redeem_ticket, request, body_type="application/json")


async def _logout(request: Request) -> Response:
    return await _read_body_then(logout, request, body_type=None)


def build_routes_app() -> Starlette:
    from chatapp.web import media_routes, ops_routes, pwa_routes

    return Starlette(
        routes=[
            Route("/auth/session", _redeem, methods=["POST"]),
            Route("/auth/logout", _logout, methods=["POST"]),
            *media_routes.routes,
            *ops_routes.routes,
            *pwa_routes.routes,
        ]
    )
